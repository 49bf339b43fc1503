"""``trackdelivery serve`` and ``trackdelivery users ...``: thin commands over web.create_app and users.py."""

from __future__ import annotations

import errno
import logging
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import users as userdb
from .users import ROLES, UserError

if TYPE_CHECKING:
    from .cli import Context
    from .config import Config
    from .store.sqlite import Store

log = logging.getLogger("trackdelivery.serve")

CPANEL_USERDOMAINS = "/etc/userdomains"
CPANEL_TRUEUSEROWNERS = "/etc/trueuserowners"
DEMO_ADMIN = "admin"


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise click.ClickException(f"Port {port} on {host} is already in use: choose another with --port.") from None
            if exc.errno == errno.EACCES:
                raise click.ClickException(f"Not allowed to listen on port {port}: use a port above 1023.") from None
            raise click.ClickException(f"Cannot listen on {host}:{port}: {exc.strerror}.") from None


def _follow_process(db_path: str, config: Config, stop: Any) -> None:
    """The follower's own process (it must not share the web server's interpreter lock)."""
    import signal

    from .follow import Follower
    from .store.sqlite import Store

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; serve stops us in order
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        with Store(db_path) as store:
            follower = Follower(store, config.logs, server=config.server or None,
                                retention_days=config.retention_days)
            follower.run(stop)
            follower.ingestor.finish()
    except Exception:  # the page keeps serving what is stored; the log says why following stopped
        log.exception("Following %s stopped", ", ".join(config.logs))


def start_following(db_path: str, config: Config) -> Callable[[], None]:
    """Follow the config's log files in a separate process; returns the function that stops it.

    A process, not a thread: ingesting at full speed would otherwise hold the interpreter lock that the
    web server needs to answer (measured: p95 latency of 20 clients fell several times over).
    """
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    process = context.Process(target=_follow_process, args=(db_path, config, stop),
                              name="trackdelivery-follow", daemon=True)
    process.start()

    def stop_following() -> None:
        stop.set()  # it commits what it has read, then exits
        process.join(timeout=60)
        if process.is_alive():
            process.terminate()

    return stop_following


@click.command(short_help="Serve the search page and the JSON API.")
@click.option("--host", metavar="ADDRESS",
              help="Address to listen on (default: the config's [listen] host, else 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), metavar="PORT",
              help="Port to listen on (default: the config's [listen] port, else 8080).")
@click.option("--follow/--no-follow", "follow_logs", default=True, show_default=True,
              help="Also follow the log files listed as logs = [...] in the config file.")
@click.pass_obj
def serve(obj: Context, host: str | None, port: int | None, follow_logs: bool) -> None:
    """Serve the search page and the JSON API (/api/v1, described at /api/docs).

    People log in with the users made by 'trackdelivery users add'; scripts send an API token
    ('trackdelivery users token NAME') as 'Authorization: Bearer TOKEN'. Listens on 127.0.0.1 by
    default: put a TLS reverse proxy in front of it to reach it from other machines (X-Forwarded-Proto
    and X-Forwarded-For are trusted from 127.0.0.1 only). Log files listed in the config file are
    followed at the same time, as 'trackdelivery follow' does.

    \b
    Examples:
      trackdelivery serve
      trackdelivery serve --host 0.0.0.0 --port 8443
    """
    import uvicorn

    from .web import create_app

    config = obj.config
    host = host or config.host
    port = port or config.port
    _check_port_free(host, port)
    with obj.open_store() as store:
        if not userdb.list_users(store.db):
            click.echo("No users yet: create one with 'trackdelivery users add NAME --role admin'.", err=True)
    app = create_app(obj.db_path, config)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"Serving {obj.db_path} on http://{shown}:{port}/ (Ctrl-C to stop).")
    stop_following = None
    if follow_logs and config.logs:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        click.echo(f"Following {', '.join(config.logs)}.")
        stop_following = start_following(obj.db_path, config)
    try:
        uvicorn.run(app, host=host, port=port, proxy_headers=True, forwarded_allow_ips="127.0.0.1",
                    log_level="warning", server_header=False)
    finally:
        if stop_following is not None:
            stop_following()


@click.group("users", short_help="Manage logins: users, roles, domains, API tokens.")
def users() -> None:
    """Manage who can log in and what they see: users, roles, domains, API tokens.

    \b
    Roles:
      admin     every message
      reseller  mail of the accounts it owns (--owner) and of its own domains
      account   mail sent by or to its domains (--domain, repeatable)
      mailbox   mail sent by or to its address (the user name is the address)

    \b
    Examples:
      trackdelivery users add alice --role admin
      trackdelivery users add shop --role account --domain shop-example.com --domain shop-example.net
      trackdelivery users add bob@shop-example.com --role mailbox
      trackdelivery users token shop --label monitoring
      trackdelivery users import-cpanel
    """


@contextmanager
def _store(obj: Context) -> Iterator[Store]:
    with obj.open_store() as store:
        try:
            yield store
        except UserError as exc:
            raise click.ClickException(str(exc)) from None


def _read_password_stdin() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise click.ClickException("No password on standard input: send it as the first line.")
    return password


def _password_options(func):  # type: ignore[no-untyped-def]
    func = click.option("--prompt", "prompt", is_flag=True, help="Type the password (asked twice, not shown).")(func)
    func = click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")(func)
    return func


def _choose_password(password_stdin: bool, prompt: bool) -> tuple[str, bool]:
    """The password and whether it was generated (and so must be shown once)."""
    if password_stdin and prompt:
        raise click.ClickException("Use only one of --password-stdin and --prompt.")
    if password_stdin:
        return _read_password_stdin(), False
    if prompt:
        return click.prompt("Password", hide_input=True, confirmation_prompt=True), False
    return userdb.generate_password(), True


@users.command("add", short_help="Add a user with a role (and domains, owner, password).")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the user may see (see 'users --help').")
@click.option("--domain", "domains", multiple=True, metavar="DOMAIN",
              help="A domain an account or reseller owns (repeat for more).")
@click.option("--owner", metavar="RESELLER", help="The reseller that owns this account.")
@_password_options
@click.option("--no-password", is_flag=True, help="No password: the user can use API tokens only (until passwd).")
@click.pass_obj
def users_add(obj: Context, name: str, role: str, domains: tuple[str, ...], owner: str | None,
              password_stdin: bool, prompt: bool, no_password: bool) -> None:
    """Add user NAME with a role; prints a generated password once unless you give one."""
    password: str | None = None
    generated = False
    if no_password:
        if password_stdin or prompt:
            raise click.ClickException("Use --no-password alone, without --password-stdin or --prompt.")
    else:
        password, generated = _choose_password(password_stdin, prompt)
    with _store(obj) as store:
        user = userdb.add_user(store.db, name, role, password=password, domains=domains, owner=owner)
    detail = f" owning {', '.join(user.domains)}" if user.domains else ""
    click.echo(f"Added {user.role} {user.name}{detail}.")
    if generated:
        click.echo(f"Password (shown only now): {password}")


@users.command("remove", short_help="Remove a user, its domains and API tokens.")
@click.argument("name")
@click.pass_obj
def users_remove(obj: Context, name: str) -> None:
    """Remove user NAME with its domains and API tokens; its logins end at once."""
    with _store(obj) as store:
        userdb.remove_user(store.db, name)
    click.echo(f"Removed {name}.")


@users.command("passwd", short_help="Set a new password; the user's old logins end.")
@click.argument("name")
@_password_options
@click.pass_obj
def users_passwd(obj: Context, name: str, password_stdin: bool, prompt: bool) -> None:
    """Set a new password for NAME (generated and shown once unless you give one); old logins end."""
    password, generated = _choose_password(password_stdin, prompt)
    with _store(obj) as store:
        userdb.set_password(store.db, name, password)
    click.echo(f"Password of {name} changed.")
    if generated:
        click.echo(f"Password (shown only now): {password}")


@users.command("token", short_help="Create an API token for a user (printed once).")
@click.argument("name")
@click.option("--label", default="", metavar="LABEL", help="What the token is for, e.g. 'monitoring'.")
@click.pass_obj
def users_token(obj: Context, name: str, label: str) -> None:
    """Create an API token for NAME and print it once (only its hash is kept).

    Scripts send it as 'Authorization: Bearer TOKEN' and see what NAME sees.
    """
    with _store(obj) as store:
        token = userdb.create_token(store.db, name, label)
    click.echo(token)
    click.echo(f"API token for {name}: shown only now, store it safely. Revoke with "
               f"'trackdelivery users revoke {name}'.", err=True)


@users.command("revoke", short_help="Revoke a user's API tokens.")
@click.argument("name")
@click.option("--label", default=None, metavar="LABEL", help="Only the tokens with this label (default: all).")
@click.pass_obj
def users_revoke(obj: Context, name: str, label: str | None) -> None:
    """Revoke NAME's API tokens (all of them, or those with --label)."""
    with _store(obj) as store:
        n = userdb.revoke_tokens(store.db, name, label)
    click.echo(f"Revoked {n} token(s) of {name}.")


@users.command("list", short_help="List users: role, owner, password, tokens, domains.")
@click.pass_obj
def users_list(obj: Context) -> None:
    """List users with their role, owner, domains, password and number of API tokens."""
    with _store(obj) as store:
        everyone = userdb.list_users(store.db)
        tokens = userdb.token_counts(store.db)
    if not everyone:
        click.echo("No users yet: add one with 'trackdelivery users add NAME --role admin'.")
        return
    click.echo(f"{'name':<32} {'role':<9} {'owner':<16} {'password':<8} {'tokens':<6} domains")
    for u in everyone:
        click.echo(f"{u.name:<32} {u.role:<9} {u.owner or '-':<16} {'yes' if u.has_password else 'no':<8} "
                   f"{tokens.get(u.id, 0):<6} {', '.join(u.domains) or '-'}")


def _read_file(path: str, what: str, required: bool) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        if required:
            raise click.ClickException(
                f"No {what} file at {path}: is this a cPanel server? Name the file with --{what}.") from None
        return ""
    except OSError as exc:
        raise click.ClickException(f"Cannot read {path}: {exc.strerror}.") from None


@users.command("import-cpanel", short_help="Create or update users from cPanel's account files.")
@click.option("--userdomains", metavar="FILE", default=None,
              help=f"cPanel's 'domain: user' list (default: {CPANEL_USERDOMAINS}).")
@click.option("--trueuserowners", metavar="FILE", default=None,
              help=f"cPanel's 'user: owner' list (default: {CPANEL_TRUEUSEROWNERS}).")
@click.pass_obj
def users_import_cpanel(obj: Context, userdomains: str | None, trueuserowners: str | None) -> None:
    """Create or update one account user per cPanel account, with its domains and its reseller.

    Accounts that own other accounts become resellers. Run it again whenever accounts change: it
    changes only what differs, and keeps passwords and tokens. Imported users have no password:
    give them one with 'trackdelivery users passwd NAME', or an API token.
    """
    domains_text = _read_file(userdomains or CPANEL_USERDOMAINS, "userdomains", required=True)
    owners_text = _read_file(trueuserowners or CPANEL_TRUEUSEROWNERS, "trueuserowners",
                             required=trueuserowners is not None)
    with _store(obj) as store:
        result = userdb.import_cpanel(store.db, domains_text, owners_text)
    click.echo(f"Created {len(result.created)}, updated {len(result.updated)}, "
               f"unchanged {result.unchanged} user(s).")
    if result.skipped:
        click.echo(f"Skipped (name taken by an admin or mailbox user, or unusable): {', '.join(result.skipped)}.")
    if result.bad_lines:
        click.echo(f"{result.bad_lines} line(s) were not 'left: right' pairs and were ignored.")
    if result.not_listed:
        click.echo("No longer in cPanel (remove with 'trackdelivery users remove NAME'): "
                   + ", ".join(result.not_listed) + ".")


@users.command("demo-admin", short_help="Create or reset the admin 'admin' with a new password.")
@click.pass_obj
def users_demo_admin(obj: Context) -> None:
    """Create (or reset) the admin user 'admin' with a new random password, printed once (for 'make demo')."""
    password = userdb.generate_password()
    with _store(obj) as store:
        existing = userdb.get_user(store.db, DEMO_ADMIN)
        if existing is None:
            userdb.add_user(store.db, DEMO_ADMIN, userdb.ADMIN, password=password)
        elif existing.role != userdb.ADMIN:
            raise UserError(f"A {existing.role} user named {DEMO_ADMIN!r} exists; remove it first.")
        else:
            userdb.set_password(store.db, DEMO_ADMIN, password)
    click.echo(f"Log in as {DEMO_ADMIN} with password {password} (shown only now; "
               f"made {time.strftime('%Y-%m-%d %H:%M')}).")
