"""Configuration: one TOML file (--config, TRACKDELIVERY_CONFIG, /etc/trackdelivery/config.toml), all optional."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

SYSTEM_CONFIG = Path("/etc/trackdelivery/config.toml")
TRACE_MTAS = ("auto", "exim", "postfix")  # which mail server the web page's address trace asks


class ConfigError(Exception):
    """A configuration file that cannot be used, explained for the user."""


def default_db_path() -> str:
    if os.geteuid() == 0:
        return "/var/lib/trackdelivery/trackdelivery.sqlite3"
    base = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return os.path.join(base, "trackdelivery", "trackdelivery.sqlite3")


@dataclass(slots=True)
class TraceSettings:
    """The ``[trace]`` table: how the web page asks the mail server where mail to an address would go."""

    enabled: bool = True
    mta: str = "auto"  # as `trackdelivery trace --mta`: "auto" (by config_file, else Exim, else Postfix)
    config_file: str = ""  # the MTA's configuration (exim -C FILE, postconf -c DIR); "" = the server's own
    timeout_seconds: int = 30


@dataclass(slots=True)
class Config:
    db: str = field(default_factory=default_db_path)
    logs: list[str] = field(default_factory=list)
    retention_days: int = 30
    host: str = "127.0.0.1"
    port: int = 8080
    server: str = ""  # name of this log source in the records; default: the host name
    path: str = ""  # where it was read from ("" = defaults)
    trace: TraceSettings = field(default_factory=TraceSettings)
    # Ownership, as `users import-cpanel` sets it: account → its domains; reseller → its accounts.
    accounts: dict[str, list[str]] = field(default_factory=dict)
    resellers: dict[str, list[str]] = field(default_factory=dict)


def load_config(path: str | None = None) -> Config:
    """Read the config file named, or the one the environment or /etc names; defaults when none exists."""
    chosen = path or os.environ.get("TRACKDELIVERY_CONFIG")
    if not chosen and SYSTEM_CONFIG.exists():
        chosen = str(SYSTEM_CONFIG)
    config = Config()
    if not chosen:
        return config
    try:
        with open(chosen, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError as exc:
        raise ConfigError(f"The config file {chosen} does not exist.") from exc
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"Cannot read the config file {chosen}: {exc}.") from exc
    config.path = chosen
    try:
        if "db" in data:
            config.db = str(data["db"])
        if "logs" in data:
            config.logs = [str(p) for p in data["logs"]]
        if "retention_days" in data:
            config.retention_days = int(data["retention_days"])
        listen = data.get("listen", {})
        config.host = str(listen.get("host", config.host))
        config.port = int(listen.get("port", config.port))
        if "server" in data:
            config.server = str(data["server"])
        config.trace = _trace_settings(data.get("trace", {}), chosen)
        config.accounts = _name_lists(data.get("accounts", {}), "accounts", "domains", chosen)
        config.resellers = _name_lists(data.get("resellers", {}), "resellers", "account names", chosen)
    except (TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"The config file {chosen} has a value of the wrong kind: {exc}.") from exc
    return config


def _trace_settings(table: dict[str, object], path: str) -> TraceSettings:
    settings = TraceSettings()
    enabled = table.get("enabled", settings.enabled)
    if not isinstance(enabled, bool):
        raise ConfigError(f"The config file {path}: [trace] enabled must be true or false.")
    settings.enabled = enabled
    settings.mta = str(table.get("mta", settings.mta))
    if settings.mta not in TRACE_MTAS:
        raise ConfigError(f"The config file {path}: [trace] mta must be one of {', '.join(TRACE_MTAS)}, "
                          f"not {settings.mta!r}.")
    settings.config_file = str(table.get("config_file", settings.config_file))
    timeout = table.get("timeout_seconds", settings.timeout_seconds)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout <= 600:
        raise ConfigError(f"The config file {path}: [trace] timeout_seconds must be a whole number from 1 to 600.")
    settings.timeout_seconds = timeout
    return settings


def _name_lists(table: object, name: str, what: str, path: str) -> dict[str, list[str]]:
    """``[accounts]`` / ``[resellers]``: each key a user name, each value a list of strings."""
    if not isinstance(table, dict):
        raise ConfigError(f"The config file {path}: [{name}] must be a table, e.g. shop = [\"shop.example\"].")
    lists: dict[str, list[str]] = {}
    for key, value in table.items():
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ConfigError(f"The config file {path}: [{name}] {key} must be a list of {what}, "
                              f"e.g. {key} = [\"example.com\"].")
        lists[str(key)] = value
    return lists
