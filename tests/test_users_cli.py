"""`trackdelivery users ...` and `serve` as an administrator runs them: clear output, one-sentence errors."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import pytest

from trackdelivery import users
from trackdelivery.store.sqlite import Store

USERDOMAINS = """\
shop-example.com: shop
www.shop-example.com: shop
shop-example.net: shop
cafe-example.org: cafe
bakery-example.net: bakery
resell-example.com: resell
*: nobody
this line is broken
"""
TRUEUSEROWNERS = """\
shop: root
cafe: resell
bakery: resell
resell: resell
"""


def _user(db_path: Path, name: str) -> users.User | None:
    with Store(db_path) as store:
        return users.get_user(store.db, name)


def test_add_prints_a_generated_password_once_and_it_logs_in(cli, db_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = cli("users", "add", "alice", "--role", "admin").stdout
    assert "Added admin alice." in out
    password = re.search(r"Password \(shown only now\): (\S+)", out).group(1)  # type: ignore[union-attr]
    with Store(db_path) as store:
        assert users.authenticate(store.db, "alice", password) is not None
        assert password not in store.db.execute("SELECT password_hash FROM users").fetchone()[0]


def test_add_account_with_domains_and_owner_and_stdin_password(cli, db_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("users", "add", "resell", "--role", "reseller", "--no-password")
    out = cli("users", "add", "shop", "--role", "account", "--domain", "Shop-Example.com", "--domain",
              "@shop-example.net", "--owner", "resell", "--password-stdin", input="a long secret\n").stdout
    assert "Added account shop owning shop-example.com, shop-example.net." in out
    assert "Password" not in out
    shop = _user(db_path, "shop")
    assert shop is not None and shop.owner == "resell" and shop.domains == ("shop-example.com", "shop-example.net")
    with Store(db_path) as store:
        assert users.authenticate(store.db, "shop", "a long secret") is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("users", "add", "bob", "--role", "mailbox"), "A mailbox user's name is its email address"),
        (("users", "add", "x", "--role", "account", "--owner", "ghost"), "There is no reseller user 'ghost'"),
        (("users", "add", "x", "--role", "admin", "--domain", "a.example"), "Only account and reseller users own"),
        (("users", "add", "bad name", "--role", "admin"), "'bad name' is not a usable user name"),
        (("users", "remove", "ghost"), "There is no user named 'ghost'"),
        (("users", "passwd", "ghost"), "There is no user named 'ghost'"),
        (("users", "token", "ghost"), "There is no user named 'ghost'"),
        (("users", "import-cpanel", "--userdomains", "/nonexistent/userdomains"), "No userdomains file at"),
    ],
)
def test_errors_are_one_sentence_without_traceback(cli, args: tuple[str, ...], message: str) -> None:  # type: ignore[no-untyped-def]
    result = cli(*args, expect=1)
    assert result.output.startswith("Error: " + message) and result.output.count("\n") == 1


def test_unknown_role_is_a_usage_error(cli) -> None:  # type: ignore[no-untyped-def]
    assert "Invalid value for '--role'" in cli("users", "add", "x", "--role", "king", expect=2).output


def test_short_password_is_refused(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("users", "add", "alice", "--role", "admin", "--password-stdin", input="short\n", expect=1)
    assert "at least 8 characters" in result.output


def test_duplicate_user_is_refused(cli) -> None:  # type: ignore[no-untyped-def]
    cli("users", "add", "alice", "--role", "admin")
    assert "already exists" in cli("users", "add", "ALICE", "--role", "admin", expect=1).output


def test_remove_deletes_the_user_and_its_tokens(cli, db_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("users", "add", "alice", "--role", "admin")
    cli("users", "token", "alice")
    assert "Removed alice." in cli("users", "remove", "alice").stdout
    with Store(db_path) as store:
        assert store.db.execute("SELECT count(*) FROM api_tokens").fetchone()[0] == 0
    assert _user(db_path, "alice") is None


def test_token_is_printed_once_and_works_until_revoked(cli, db_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("users", "add", "alice", "--role", "admin", "--no-password")
    result = cli("users", "token", "alice", "--label", "monitoring")
    token = result.stdout.strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    with Store(db_path) as store:
        assert users.user_for_token(store.db, token).name == "alice"  # type: ignore[union-attr]
    assert "Revoked 1 token(s) of alice." in cli("users", "revoke", "alice", "--label", "monitoring").stdout
    with Store(db_path) as store:
        assert users.user_for_token(store.db, token) is None


def test_passwd_sets_a_new_password(cli, db_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("users", "add", "alice", "--role", "admin")
    cli("users", "passwd", "alice", "--password-stdin", input="brand new password\n")
    with Store(db_path) as store:
        assert users.authenticate(store.db, "alice", "brand new password") is not None
    out = cli("users", "passwd", "alice").stdout
    assert "Password (shown only now):" in out


def test_list_shows_roles_owners_domains_and_tokens(cli) -> None:  # type: ignore[no-untyped-def]
    assert "No users yet" in cli("users", "list").stdout
    cli("users", "add", "resell", "--role", "reseller", "--no-password")
    cli("users", "add", "shop", "--role", "account", "--domain", "shop-example.com", "--owner", "resell")
    cli("users", "token", "shop")
    lines = cli("users", "list").stdout.splitlines()
    shop = next(line for line in lines if line.startswith("shop "))
    assert shop.split() == ["shop", "account", "resell", "yes", "1", "shop-example.com"]
    resell = next(line for line in lines if line.startswith("resell "))
    assert resell.split() == ["resell", "reseller", "-", "no", "0", "-"]


def _cpanel_files(tmp_path: Path, domains: str = USERDOMAINS, owners: str = TRUEUSEROWNERS) -> list[str]:
    (tmp_path / "userdomains").write_text(domains)
    (tmp_path / "trueuserowners").write_text(owners)
    return ["--userdomains", str(tmp_path / "userdomains"), "--trueuserowners", str(tmp_path / "trueuserowners")]


def test_import_cpanel_creates_accounts_with_domains_and_resellers(cli, db_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = cli("users", "import-cpanel", *_cpanel_files(tmp_path)).stdout
    assert "Created 4, updated 0, unchanged 0 user(s)." in out
    assert "1 line(s) were not 'left: right' pairs" in out
    shop = _user(db_path, "shop")
    assert shop is not None and shop.role == "account" and shop.owner is None and not shop.has_password
    assert shop.domains == ("shop-example.com", "shop-example.net", "www.shop-example.com")
    cafe = _user(db_path, "cafe")
    assert cafe is not None and cafe.owner == "resell" and cafe.domains == ("cafe-example.org",)
    resell = _user(db_path, "resell")
    assert resell is not None and resell.role == "reseller" and resell.domains == ("resell-example.com",)
    assert _user(db_path, "nobody") is None
    with Store(db_path) as store:
        scope = users.scope_for(store.db, resell)
    assert scope is not None and scope.domains == ("bakery-example.net", "cafe-example.org", "resell-example.com")


def test_import_cpanel_is_idempotent_and_keeps_passwords(cli, db_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    files = _cpanel_files(tmp_path)
    cli("users", "import-cpanel", *files)
    cli("users", "passwd", "shop", "--password-stdin", input="shop password\n")
    cli("users", "token", "shop")
    assert "Created 0, updated 0, unchanged 4 user(s)." in cli("users", "import-cpanel", *files).stdout
    moved = USERDOMAINS.replace("shop-example.net: shop", "shop-example.net: cafe").replace(
        "bakery-example.net: bakery\n", "")
    out = cli("users", "import-cpanel", *_cpanel_files(tmp_path, moved)).stdout
    assert "Created 0, updated 2, unchanged 1 user(s)." in out
    assert "No longer in cPanel (remove with 'trackdelivery users remove NAME'): bakery." in out
    assert _user(db_path, "cafe").domains == ("cafe-example.org", "shop-example.net")  # type: ignore[union-attr]
    with Store(db_path) as store:
        assert users.authenticate(store.db, "shop", "shop password") is not None
        assert users.token_counts(store.db)[users.get_user(store.db, "shop").id] == 1  # type: ignore[union-attr]


def test_import_cpanel_leaves_admins_alone(cli, db_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("users", "add", "shop", "--role", "admin")
    out = cli("users", "import-cpanel", *_cpanel_files(tmp_path)).stdout
    assert "Skipped (name taken by an admin or mailbox user, or unusable): shop." in out
    assert _user(db_path, "shop").role == "admin"  # type: ignore[union-attr]


def test_import_cpanel_without_trueuserowners_by_default(cli, db_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "userdomains").write_text("cafe-example.org: cafe\n")
    cli("users", "import-cpanel", "--userdomains", str(tmp_path / "userdomains"))
    assert _user(db_path, "cafe").domains == ("cafe-example.org",)  # type: ignore[union-attr]


def test_demo_admin_prints_a_one_time_password(cli, db_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = re.search(r"password (\S+) ", cli("users", "demo-admin").stdout).group(1)  # type: ignore[union-attr]
    second = re.search(r"password (\S+) ", cli("users", "demo-admin").stdout).group(1)  # type: ignore[union-attr]
    assert first != second
    with Store(db_path) as store:
        assert users.authenticate(store.db, "admin", first) is None
        assert users.authenticate(store.db, "admin", second).role == "admin"  # type: ignore[union-attr]


def test_serve_refuses_a_port_in_use(cli) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = cli("serve", "--port", str(port), expect=1)
    assert f"Port {port} on 127.0.0.1 is already in use" in result.output


def test_serve_follows_the_configured_logs_in_the_background(db_path: Path, tmp_path: Path) -> None:
    from conftest import write_log

    from trackdelivery.cli_web import start_following
    from trackdelivery.config import Config

    log = write_log(tmp_path / "exim_mainlog", [
        "2026-11-16 08:00:00 1tFolw-00000000001-FOLW <= a@shop-example.com H=h [192.0.2.1] P=esmtpsa S=1 "
        "for b@example.org",
        "2026-11-16 08:00:01 1tFolw-00000000001-FOLW => b@example.org R=dnslookup T=remote_smtp H=mx "
        '[203.0.113.1] C="250 OK"',
        "2026-11-16 08:00:01 1tFolw-00000000001-FOLW Completed",
    ])
    with Store(db_path):
        pass
    stop = start_following(str(db_path), Config(db=str(db_path), logs=[str(log)], retention_days=0))
    try:
        deadline = time.monotonic() + 20
        found = 0
        while time.monotonic() < deadline and not found:
            with Store(db_path) as store:
                found = store.db.execute("SELECT count(*) FROM events WHERE type = 'success'").fetchone()[0]
            time.sleep(0.1)
    finally:
        stop()
    assert found == 1


@pytest.mark.parametrize("command", [("serve",), ("users",), ("users", "add"), ("users", "remove"),
                                     ("users", "passwd"), ("users", "token"), ("users", "revoke"),
                                     ("users", "list"), ("users", "import-cpanel"), ("users", "demo-admin")])
def test_every_web_command_has_help(cli, command: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    out = cli(*command, "--help").stdout
    assert "Usage:" in out and len(out.splitlines()) > 4


# -- ownership set in the config file ([accounts], [resellers]) -------------------------------------

OWNERSHIP = """\
[accounts]
shop = ["shop-example.com", "Shop-Example.NET"]
cafe = ["cafe-example.org"]

[resellers]
resell = ["cafe"]
"""


def test_config_accounts_become_users_and_own_the_mail_ingested(cli, db_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from conftest import write_log

    config = tmp_path / "config.toml"
    config.write_text(OWNERSHIP)
    log = write_log(tmp_path / "exim_mainlog", [
        "2026-11-16 10:00:00 1tX000-00000000001-AbCd <= ann@shop-example.net H=(a) [192.0.2.1] P=esmtpa "
        "S=100 for bob@cafe-example.org",
        "2026-11-16 10:00:01 1tX000-00000000001-AbCd => bob <bob@cafe-example.org> R=local T=local_delivery",
        "2026-11-16 10:00:01 1tX000-00000000001-AbCd Completed",
    ])
    result = cli("--config", str(config), "ingest", str(log))
    assert "Accounts from " in result.output and "created 3, updated 0" in result.output
    shop, cafe, resell = (_user(db_path, name) for name in ("shop", "cafe", "resell"))
    assert shop is not None and (shop.role, shop.domains, shop.owner) == (
        "account", ("shop-example.com", "shop-example.net"), None)
    assert cafe is not None and (cafe.role, cafe.domains, cafe.owner) == ("account", ("cafe-example.org",), "resell")
    assert resell is not None and resell.role == "reseller"
    found = cli("search", "--all", "--format", "json").stdout
    import json

    (event,) = json.loads(found)
    assert (event["user"], event["domain"], event["deliveryuser"], event["deliverydomain"]) == (
        "shop", "shop-example.net", "cafe", "cafe-example.org")
    # Changed in the config: only what differs changes, the password stays.
    cli("users", "passwd", "shop", "--password-stdin", input="a-long-enough-password\n")
    config.write_text(OWNERSHIP.replace(', "Shop-Example.NET"', ""))
    again = cli("--config", str(config), "users", "list")  # any command that opens the database to write
    shop = _user(db_path, "shop")
    assert shop is not None and shop.domains == ("shop-example.com",) and shop.has_password
    assert "created 0, updated 1" in again.output
    assert "Accounts from" not in cli("--config", str(config), "users", "list").output  # nothing differs now


@pytest.mark.parametrize(("text", "message"), [
    ('[accounts]\nshop = "shop-example.com"\n', "[accounts] shop must be a list of domains"),
    ("accounts = 3\n", "[accounts] must be a table"),
    ('[resellers]\nresell = [1, 2]\n', "[resellers] resell must be a list of account names"),
])
def test_config_ownership_of_the_wrong_shape_is_one_sentence(cli, tmp_path: Path, text: str, message: str) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "config.toml"
    config.write_text(text)
    result = cli("--config", str(config), "users", "list", expect=1)
    assert message in result.output and "Traceback" not in result.output
