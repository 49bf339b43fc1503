"""The ``trackdelivery`` command line: a thin shell that parses options and calls one library function each."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import click

from . import __version__
from .config import Config, ConfigError, load_config
from .export import EXPORT_FORMATS, iter_export
from .record import BLOCKED_TYPES, EVENT_TYPES, DeliveryEvent
from .search import MATCH_MODES, SearchError, SearchFilter, iter_events
from .source import SourceError
from .store.sqlite import Store, StoreError
from .story import message_story, stats

FORMATS = ("table", "json", "ndjson", "csv")
TABLE_COLUMNS = (("actionunixtime", "Time", 19), ("type", "Result", 10), ("email", "From", 28),
                 ("recipient", "Recipient", 28), ("msgid", "Message ID", 23), ("message", "Details", 0))


def _fail(message: str) -> None:
    raise click.ClickException(message)


def parse_time(value: str | None, option: str) -> int | None:
    """ISO date, ISO date-time or epoch seconds → epoch seconds (local time when no zone is given)."""
    if value is None or value == "":
        return None
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        _fail(f"{option} {value!r} is not a date: use 2026-11-01, '2026-11-01 13:00' or epoch seconds.")
    return int(parsed.timestamp())


def _format_time(epoch: int | None) -> str:
    if epoch is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


class Context:
    def __init__(self, db_path: str | None, config_path: str | None) -> None:
        self._db_path = db_path
        self._config_path = config_path
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            try:
                self._config = load_config(self._config_path)
            except ConfigError as exc:
                _fail(str(exc))
        return self._config  # type: ignore[return-value]

    @property
    def db_path(self) -> str:
        return self._db_path or self.config.db

    def open_store(self, readonly: bool = False) -> Store:
        try:
            store = Store(self.db_path, readonly=readonly)
        except StoreError as exc:
            _fail(str(exc))
            raise AssertionError("unreachable") from None
        if not readonly and (self.config.accounts or self.config.resellers):
            self._sync_accounts(store)
        return store

    def _sync_accounts(self, store: Store) -> None:
        """The config's [accounts] and [resellers] made true in the users table (only what differs)."""
        from . import users

        result = users.sync_accounts(store.db, *users.accounts_from_config(self.config.accounts,
                                                                          self.config.resellers))
        if result.created or result.updated:
            click.echo(f"Accounts from {self.config.path}: created {len(result.created)}, "
                       f"updated {len(result.updated)}.", err=True)
        if result.skipped:
            click.echo(f"Accounts from {self.config.path} skipped (name taken by an admin or mailbox user, or "
                       f"unusable): {', '.join(result.skipped)}.", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="trackdelivery")
@click.option("--db", "db_path", envvar="TRACKDELIVERY_DB", metavar="PATH",
              help="SQLite database file (default: TRACKDELIVERY_DB, else the config file's db, "
                   "else /var/lib/trackdelivery/trackdelivery.sqlite3 for root).")
@click.option("--config", "config_path", metavar="FILE",
              help="TOML config file (default: TRACKDELIVERY_CONFIG, else /etc/trackdelivery/config.toml).")
@click.pass_context
def main(ctx: click.Context, db_path: str | None, config_path: str | None) -> None:
    """Did my email arrive, and if not, why?

    trackdelivery reads Exim mail logs into a database of delivery events (delivered, deferred,
    bounced, rejected, filtered, in progress) that you can search, explain and export.

    \b
    Examples:
      trackdelivery ingest /var/log/exim_mainlog /var/log/exim_mainlog-*.gz
      trackdelivery search --recipient bob@example.com
      trackdelivery search --blocked --since 2026-11-01 --format csv > failed.csv
      trackdelivery show 1smkL5-00000000e65-24eQ
      trackdelivery stats --format json
    """
    ctx.obj = Context(db_path, config_path)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--server", metavar="NAME", help="Name of this log source in the records (default: host name).")
@click.option("--progress/--no-progress", default=None, help="Show a progress bar (default: on a terminal).")
@click.option("--bulk", type=click.Choice(["auto", "yes", "no"]), default="auto", show_default=True,
              help="Build the search indexes once at the end instead of row by row: faster for big loads, "
                   "but searches are slow until it ends. auto: when the ingest at least doubles the database.")
@click.pass_obj
def ingest(obj: Context, files: tuple[str, ...], server: str | None, progress: bool | None, bulk: str) -> None:
    """Read Exim or Postfix log FILES (plain, .gz, .bz2, .xz) into the database.

    Rotated sets are read oldest first. Reading the same file again adds nothing: each file's
    position is saved with its events, so a rotated or compressed copy continues where it stopped.
    """
    import os

    from .ingest import ingest_files  # here: the parsers and correlators are for ingesting only

    missing = [f for f in files if not os.path.exists(f)]
    if missing:
        _fail(f"No such log file: {missing[0]}. Check the path (e.g. /var/log/exim_mainlog).")
    show_progress = sys.stderr.isatty() if progress is None else progress
    bulk_choice = {"auto": None, "yes": True, "no": False}[bulk]
    total = sum(os.path.getsize(f) for f in files)
    with obj.open_store() as store:
        started = time.perf_counter()
        if show_progress:
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

            with Progress(TextColumn("[bold]ingest[/] {task.description}"), BarColumn(), DownloadColumn(),
                          TimeRemainingColumn(), transient=True) as bar:
                task = bar.add_task("", total=total)
                summary = ingest_files(
                    store, list(files), server=server or obj.config.server or None,
                    progress=lambda n: bar.advance(task, n),
                    on_file=lambda path, size: bar.update(task, description=os.path.basename(path)),
                    on_indexing=lambda: bar.update(task, description="building the search indexes"),
                    bulk=bulk_choice,
                )
        else:
            summary = ingest_files(store, list(files), server=server or obj.config.server or None, bulk=bulk_choice)
        elapsed = time.perf_counter() - started
    by_type = ", ".join(f"{t} {summary.events[t]}" for t in EVENT_TYPES if summary.events.get(t))
    rate = summary.lines / elapsed if elapsed > 0 else 0
    click.echo(
        f"Read {summary.lines} lines from {summary.files} file(s) in {elapsed:.1f}s ({rate:,.0f} lines/s); "
        f"{summary.unparsed} not understood."
    )
    click.echo(f"New events: {by_type or 'none'}.")
    if summary.oversize:
        click.echo(f"{summary.oversize} line(s) longer than 256 KiB were cut for reading.")
    if summary.held_partial:
        click.echo("The last line of a file has no newline yet; it will be read when it is complete.")
    for error in summary.errors:
        click.echo(f"Error: {error}", err=True)
    if summary.errors:
        sys.exit(1)


@main.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--server", metavar="NAME", help="Name of this log source in the records (default: host name).")
@click.option("--poll", type=click.FloatRange(min=0.05), default=0.2, show_default=True, metavar="SECONDS",
              help="How often to look for new lines.")
@click.pass_obj
def follow(obj: Context, files: tuple[str, ...], server: str | None, poll: float) -> None:
    """Follow live log FILES (default: the config's logs) and store new events as they are written.

    Survives rotation by rename, copytruncate and delete + recreate, and compression of the rotated
    file; on start it first finishes what was written while it was not running. Stop it with Ctrl-C
    or SIGTERM: what was read is committed, and the next start continues from there.
    """
    import logging
    import signal
    import threading

    from .follow import Follower

    paths = list(files) or obj.config.logs
    if not paths:
        _fail("Name the log files to follow, e.g. 'trackdelivery follow /var/log/exim_mainlog', "
              "or list them as logs = [...] in the config file.")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with obj.open_store() as store:
        follower = Follower(store, paths, server=server or obj.config.server or None,
                            retention_days=obj.config.retention_days)
        click.echo(f"Following {', '.join(paths)} into {obj.db_path} (Ctrl-C to stop).", err=True)
        follower.run(stop, poll_seconds=poll)
        summary = follower.ingestor.finish()
    click.echo(f"Stopped after {summary.lines} lines ({summary.unparsed} not understood).", err=True)


@main.command()
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
@click.pass_obj
def status(obj: Context, fmt: str) -> None:
    """Show the files read so far: how far, how far behind, and how many lines were not understood."""
    import os

    with obj.open_store(readonly=True) as store:
        rows = []
        for cp in store.checkpoints():
            # The size only says how far behind we are while the path is still the file we read.
            try:
                st = os.stat(cp.path)
                size: int | None = st.st_size if (st.st_dev, st.st_ino) == (cp.device, cp.inode) else None
            except OSError:
                size = None
            rows.append({
                "path": cp.path, "offset": cp.offset, "size": size,
                "lag_bytes": (size - cp.offset) if size is not None else None,
                "lines": cp.lines, "unparsed": cp.unparsed, "repeated": cp.duplicates,
                "updated": store.db.execute("SELECT updated FROM files WHERE id = ?", (cp.id,)).fetchone()[0],
            })
        totals = stats(store.db)
        indexes_missing = store.indexes_deferred()
    if fmt == "json":
        click.echo(json.dumps({"files": rows, "stats": totals, "search_indexes": not indexes_missing}))
        return
    if not rows:
        click.echo("No log files read yet: run 'trackdelivery ingest FILE' or 'trackdelivery follow FILE'.")
    for r in rows:
        lag = "rotated away" if r["lag_bytes"] is None else f"{r['lag_bytes']} bytes behind"
        click.echo(f"{r['path']}: {r['lines']} lines, offset {r['offset']}, {lag}, "
                   f"{r['unparsed']} not understood, updated {_format_time(r['updated'])}")
    click.echo(f"Events: {sum(totals['events'].values())}; messages: {totals['messages']}.")
    if indexes_missing:
        click.echo("Search indexes: not built yet (a bulk ingest is running, or was stopped): searches are slow "
                   "until it ends; if none is running, 'trackdelivery ingest', 'follow' or 'serve' builds them.")


def _search_options(func: Any) -> Any:
    options = [
        click.option("--recipient", metavar="ADDR", help="Recipient address (as sent, or the final mailbox)."),
        click.option("--sender", metavar="ADDR", help="Sender: envelope From address or authenticated user."),
        click.option("--email", metavar="ADDR", help="Envelope sender (From Address) only."),
        click.option("--domain", metavar="DOMAIN", help="Mail from or to this domain."),
        click.option("--msgid", metavar="ID", help="Message (queue) id; also finds its bounces."),
        click.option("--host", metavar="HOST", help="Remote host or sending host name."),
        click.option("--ip", metavar="IP", help="Remote or sending IP address."),
        click.option("--text", metavar="TEXT", help="Text in the result, subject or addresses (contains)."),
        click.option("--match", type=click.Choice(MATCH_MODES), default="exact", show_default=True,
                     help="How address filters match."),
        click.option("--type", "types", metavar="TYPES",
                     help="Comma-separated event types: " + ",".join(EVENT_TYPES) + "."),
        click.option("--all", "all_types", is_flag=True, help="Every event type (the default)."),
        click.option("--blocked", is_flag=True, help="Only failures and rejections."),
        click.option("--since", metavar="WHEN", help="From this time: 2026-11-01, '2026-11-01 13:00' or epoch."),
        click.option("--until", metavar="WHEN", help="Up to this time (same forms as --since)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _types(types: str | None, all_types: bool, blocked: bool) -> tuple[str, ...]:
    if blocked and (types or all_types):
        _fail("Use only one of --type, --all and --blocked.")
    if blocked:
        return BLOCKED_TYPES
    if types and not all_types:
        chosen = tuple(t.strip() for t in types.split(",") if t.strip())
        unknown = [t for t in chosen if t not in EVENT_TYPES]
        if unknown:
            _fail(f"Unknown event type {unknown[0]!r}: use {', '.join(EVENT_TYPES)}.")
        return chosen
    return EVENT_TYPES


def write_events(events: Iterable[DeliveryEvent], fmt: str, out: Any) -> int:
    """Write events in ``fmt`` to ``out`` as they stream; returns how many were written."""
    if fmt not in EXPORT_FORMATS:
        return _write_table(events, out)
    counted = _Counted(events)
    for piece in iter_export(counted, fmt):
        out.write(piece)
    return counted.n


class _Counted:
    def __init__(self, events: Iterable[DeliveryEvent]) -> None:
        self.events, self.n = events, 0

    def __iter__(self) -> Iterator[DeliveryEvent]:
        for e in self.events:
            self.n += 1
            yield e


def _write_table(events: Iterable[DeliveryEvent], out: Any) -> int:
    header = "  ".join(name.ljust(width) if width else name for _, name, width in TABLE_COLUMNS)
    out.write(header + "\n")
    n = 0
    for e in events:
        cells = []
        for field_name, _, width in TABLE_COLUMNS:
            value = getattr(e, field_name)
            text = _format_time(value) if field_name == "actionunixtime" else ("" if value is None else str(value))
            text = text.replace("\n", " ").replace("\t", " ")
            if field_name == "message" and e.reason_text:
                text = f"{e.reason_text}: {text}"
            if width:
                text = (text[: width - 1] + "…") if len(text) > width else text.ljust(width)
            cells.append(text)
        out.write("  ".join(cells).rstrip() + "\n")
        n += 1
    if n == 0:
        out.write("No matching events.\n")
    return n


@main.command()
@_search_options
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True, help="Rows (0 = all).")
@click.option("--offset", type=click.IntRange(min=0), default=0, help="Skip this many rows (paging).")
@click.option("--sort", default="actionunixtime", show_default=True, metavar="FIELD", help="Record field to sort by.")
@click.option("--asc", is_flag=True, help="Oldest (smallest) first instead of newest first.")
@click.pass_obj
def search(obj: Context, fmt: str, limit: int, offset: int, sort: str, asc: bool, **kw: Any) -> None:
    """Find delivery events, newest first.

    \b
    Examples:
      trackdelivery search --recipient bob@example.com
      trackdelivery search --sender @example.com --match contains --type defer,failure
      trackdelivery search --blocked --since 2026-11-01 --format csv > failed.csv
      trackdelivery search --all --format ndjson --limit 0
    """
    f = SearchFilter(
        recipient=kw["recipient"], sender=kw["sender"], email=kw["email"], domain=kw["domain"],
        msgid=kw["msgid"], host=kw["host"], ip=kw["ip"], text=kw["text"], match=kw["match"],
        types=_types(kw["types"], kw["all_types"], kw["blocked"]),
        since=parse_time(kw["since"], "--since"), until=parse_time(kw["until"], "--until"),
        sort=sort, ascending=asc, limit=limit, offset=offset,
    )
    with obj.open_store(readonly=True) as store:
        try:
            events: Iterator[DeliveryEvent] = iter_events(store.db, f)
            first = next(events, None)
        except SearchError as exc:
            _fail(str(exc))
        stream = _chain(first, events)
        write_events(stream, fmt, sys.stdout)


def _chain(first: DeliveryEvent | None, rest: Iterator[DeliveryEvent]) -> Iterator[DeliveryEvent]:
    if first is None:
        return
    yield first
    yield from rest


@main.command()
@click.argument("msgid")
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
@click.pass_obj
def show(obj: Context, msgid: str, fmt: str) -> None:
    """Show the whole story of one message: every event, why, linked bounces, and the raw log lines."""
    with obj.open_store(readonly=True) as store:
        story = message_story(store.db, msgid)
    if story is None:
        _fail(f"No message {msgid} in the database. Search for it with 'trackdelivery search --text {msgid}'.")
    assert story is not None
    if fmt == "json":
        click.echo(json.dumps(story.to_dict(), ensure_ascii=False, indent=2))
        return
    first = story.events[0]
    click.echo(f"Message {story.msgid}")
    click.echo(f"  From:     {first.email or '<> (bounce)'}" + (f"  (authenticated as {first.sender})" if first.sender else ""))
    if first.senderhost or first.senderip:
        click.echo(f"  Sent by:  {first.senderhost} [{first.senderip}]")
    if first.subject:
        click.echo(f"  Subject:  {first.subject}")
    if first.sendunixtime:
        click.echo(f"  Received: {_format_time(first.sendunixtime)}")
    if first.size is not None:
        click.echo(f"  Size:     {first.size} bytes" + (f", spam score {first.spamscore}" if first.spamscore is not None else ""))
    click.echo("")
    click.echo("Events:")
    for i, e in enumerate(story.events):
        where = f" via {e.host} [{e.ip}]" if e.host or e.ip else ""
        click.echo(f"  {_format_time(e.actionunixtime)}  {e.type:<10} {e.recipient}{where}")
        if e.message:
            click.echo(f"      {e.message}")
        if i in story.explanations and story.explanations[i].reason:
            x = story.explanations[i]
            click.echo(f"      Why: {x.reason_text}. {x.advice}")
    if story.linked:
        click.echo("")
        click.echo("Linked messages (bounce or original): " + ", ".join(story.linked))
    click.echo("")
    click.echo("Log lines:")
    for line in story.raw_lines:
        click.echo(f"  {line}")


@main.command("stats")
@click.option("--since", metavar="WHEN", help="From this time.")
@click.option("--until", metavar="WHEN", help="Up to this time.")
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
@click.pass_obj
def stats_command(obj: Context, since: str | None, until: str | None, fmt: str) -> None:
    """Count messages, events by type, lines read and lines not understood."""
    with obj.open_store(readonly=True) as store:
        result = stats(store.db, parse_time(since, "--since"), parse_time(until, "--until"))
    if fmt == "json":
        click.echo(json.dumps(result))
        return
    click.echo(f"Messages received: {result['messages']}")
    for t in EVENT_TYPES:
        click.echo(f"  {t:<11} {result['events'][t]}")
    click.echo(f"Log lines read:    {result['lines']} ({result['unparsed']} not understood)")


@main.command()
@click.option("--older-than", type=click.IntRange(min=0), default=None, metavar="DAYS",
              help="Delete events older than DAYS days (default: the config's retention_days, 30).")
@click.pass_obj
def purge(obj: Context, older_than: int | None) -> None:
    """Delete old events and messages (retention), and give the space back."""
    days = obj.config.retention_days if older_than is None else older_than
    cutoff = int(time.time()) - days * 86400
    with obj.open_store() as store:
        events, messages = store.purge(cutoff)
    click.echo(f"Deleted {events} events and {messages} messages older than {days} days.")


from .cli_web import serve, users  # noqa: E402 - the web commands live in their own module

main.add_command(serve)
main.add_command(users)


@main.command("trace", short_help="Show where mail to an address would go (asks the local Exim or Postfix).")
@click.argument("address")
@click.option("--config-file", metavar="CONFIG", type=click.Path(exists=True),
              help="The mail server's configuration to ask: Exim's file (exim -C) or Postfix's directory "
                   "(postconf -c); default: the server's own.")
@click.option("--mta", type=click.Choice(("auto", "exim", "postfix")), default="auto", show_default=True,
              help="Which mail server to ask; auto: a directory given is Postfix's, a file Exim's, and "
                   "without one the installed server (Exim first).")
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
def trace_command(address: str, config_file: str | None, mta: str, fmt: str) -> None:
    """Show where mail to ADDRESS would go, by asking the local mail server (exim -bt; Postfix: its
    configuration and tables, postconf and postmap -q).

    Like cPanel's Email Address Trace: the aliases and forwarders it passes through, then a local
    mailbox, a pipe or file, the remote servers (MX hosts) it would be sent to, or why it would bounce.
    Nothing is sent. Exit status: 0 deliverable (or discarded), 2 it would bounce, 3 it cannot be
    resolved at this time, 1 the trace could not be run.

    \b
    Examples:
      trackdelivery trace bob@example.com
      trackdelivery trace sales@example.com --format json
      trackdelivery trace bob@example.com --mta postfix --config-file /etc/postfix
    """
    from .trace import STATUS_EXIT_CODES, TraceError, format_trace, trace_address

    try:
        result = trace_address(address, config_file, mta=mta)
    except TraceError as exc:
        _fail(str(exc))
        raise AssertionError("unreachable") from None
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(format_trace(result), nl=False)
    sys.exit(STATUS_EXIT_CODES[result.status])


def run() -> None:  # pragma: no cover - console script wrapper
    try:
        main()
    except (SourceError, StoreError) as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    run()
