"""SQLite store: schema migrations, batched writes with their checkpoint in one transaction, reads.

WAL mode lets the web page read while an ingest writes; every write is a short transaction.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from ..record import REMOTE_OWNER, DeliveryEvent
from ..state import Batch, MessageState
from .schema import (
    ADDRESS_COLUMNS,
    ADDRESS_TRIGGER,
    DEFERRABLE_INDEXES,
    DEFERRED_INDEXES,
    DELETE_UNUSED_ADDRESSES,
    EVENT_COLUMNS,
    LOOKUP_INDEXES,
    MESSAGE_FIELDS,
    MIGRATIONS,
    OWNER_COLUMNS,
    REBUILD_ADDRESS_TRIGRAMS,
    SCHEMA_VERSION,
)

log = logging.getLogger("trackdelivery")
HEAD_BYTES = 1024  # a file's identity is the hash of its first bytes (decompressed)
ADDRESSES_PURGED = "addresses_purged"  # settings key: changes whenever purge deletes addresses

# Python's sqlite3 binds None about three times as slowly as a str or an int (None goes through its
# adapter lookup), and most event rows have several NULLs. So NULL is bound as a sentinel that the
# column can never hold and turned back into NULL by SQL: '' for the integer columns and the raw line
# (a log line is never empty), '-remote-' for the owner columns (where NULL means -remote-).
_NULL_IF_EMPTY = frozenset(("message_ref", "actionunixtime", "queue_time", "attempt", "raw", "size", "spamscore",
                            "sendunixtime"))


def _placeholder(column: str) -> str:
    if column in _NULL_IF_EMPTY:
        return "nullif(?, '')"
    if column in OWNER_COLUMNS:
        return f"nullif(?, '{REMOTE_OWNER}')"
    return "?"


_MESSAGE_COLUMNS = tuple(MESSAGE_FIELDS.split(", "))
_INSERT_MESSAGE = f"INSERT OR REPLACE INTO messages ({MESSAGE_FIELDS}) VALUES ({', '.join(map(_placeholder, _MESSAGE_COLUMNS))})"  # noqa: S608 - constant SQL text, values bound
_INSERT_MESSAGE_RAW = "INSERT OR REPLACE INTO message_raw (id, raw) VALUES (?, ?)"
_INSERT_MESSAGE_RAW_ADDED = "INSERT INTO message_raw_added (message_ref, raw) VALUES (?, ?)"
_INSERT_EVENT = f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join(map(_placeholder, EVENT_COLUMNS))})"  # noqa: S608 - constant SQL text, values bound
_INSERT_ADDRESS = "INSERT OR IGNORE INTO addresses (address) VALUES (?)"
# Bytes per page of a new database. Twice SQLite's default: half the pages to write, log in the WAL and
# checkpoint; an ingest of a million lines took 5% (Postfix) and 9% (Exim) less time; 16 KB gained no more.
PAGE_SIZE = 8192
WAL_BOUND = 64 << 20  # bytes: the WAL is checkpointed when it grows past this (Store.wal_pages)
CHECKPOINT_BATCHES = 8  # an ingest's checkpoint thread checkpoints every this many batches (~30 MB of WAL)
_KNOWN_ADDRESSES_MAX = 200_000  # addresses remembered as stored; past it the set starts again (memory bound)


def _compiled_executemany() -> ModuleType | None:
    """store/_bulkc.c, set up; None where it was not built, cannot work here, or TRACKDELIVERY_PURE_PYTHON is set.

    It reads the SQLite handle out of Python's Connection object, whose layout is known up to 3.13.
    """
    if os.environ.get("TRACKDELIVERY_PURE_PYTHON") or sys.version_info >= (3, 14):
        return None
    try:
        import _sqlite3  # type: ignore[import-not-found]

        from . import _bulkc  # type: ignore[attr-defined]

        _bulkc.setup(sqlite3, _sqlite3.__file__)
    except (ImportError, AttributeError):
        return None
    return _bulkc


BULK = _compiled_executemany()


def domain_of(address: str) -> str:
    """'Bob@Example.COM' → 'example.com'; '' when there is no domain."""
    at = address.rfind("@")
    return address[at + 1 :].lower() if at >= 0 else ""


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE … COMMIT; ROLLBACK on any error (a failed COMMIT too) or interruption."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


class StoreError(Exception):
    """A database problem explained in one sentence for the user."""


@dataclass(slots=True)
class Checkpoint:
    """How far one log file has been read: its identity, and the offset of the last whole line used."""

    id: int | None
    path: str
    head_len: int
    head_hash: str
    device: int | None = None
    inode: int | None = None
    offset: int = 0
    lines: int = 0
    unparsed: int = 0
    format: str = ""
    duplicates: int = 0


def head_hash(head: bytes) -> str:
    return hashlib.sha256(head).hexdigest()


class _Checkpointer:
    """Checkpoints the WAL from a thread and connection of its own every few batches, so that the writer does
    not wait for the disk: a checkpoint syncs the WAL and the database file (fsync), 0.3 s of waiting in a
    million-line ingest when the writer checkpointed itself. SQLite releases the GIL meanwhile."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA busy_timeout = 30000")
        self._wake = threading.Event()
        self._stopping = False
        self._batches = 0
        self._thread = threading.Thread(target=self._run, name="trackdelivery-checkpoints", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            try:
                self.checkpoint()
            except sqlite3.Error as exc:  # the writer's own checkpoints still bound the WAL
                log.debug("background checkpoint: %s", exc)

    def checkpoint(self) -> tuple[int, int, int]:
        """(busy, frames in the WAL, frames checkpointed). PASSIVE: as far as no reader needs the frames,
        and never blocking the writer."""
        busy, frames, done = self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return busy, frames, done

    def committed(self) -> None:
        """A batch was committed: every CHECKPOINT_BATCHES, wake the thread (a checkpoint per batch cost more
        CPU time than the waiting it saved)."""
        self._batches += 1
        if self._batches >= CHECKPOINT_BATCHES:
            self._batches = 0
            self._wake.set()

    def close(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join()
        self._db.close()


class Store:
    def __init__(self, path: str | os.PathLike[str], readonly: bool = False) -> None:
        self.path = Path(path)
        self._owners: dict[str, str] | None = None  # read again at most once a minute while ingesting
        self._owners_read = 0.0
        self._known_addresses: set[str] = set()  # lower case, already in the addresses table
        self._addresses_generation: str | None = None  # ADDRESSES_PURGED when _known_addresses was filled
        self._lookups_indexed = False  # known to have LOOKUP_INDEXES (load_message makes sure once)
        self._checkpointer: _Checkpointer | None = None
        if readonly and not self.path.exists():
            raise StoreError(f"No database at {self.path}: run 'trackdelivery ingest LOGFILE' first.")
        if not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA busy_timeout = 30000")
            if not readonly:
                # A new database only (an existing one keeps its pages; the pragma does nothing there).
                self.db.execute(f"PRAGMA page_size = {PAGE_SIZE}")
                self.db.execute("PRAGMA auto_vacuum = INCREMENTAL")
                self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            # Fewer, larger checkpoints: each one waits for the disk (fsync).
            self.wal_pages = WAL_BOUND // int(self.db.execute("PRAGMA page_size").fetchone()[0])
            self.db.execute(f"PRAGMA wal_autocheckpoint = {self.wal_pages}")
            self.db.execute("PRAGMA cache_size = -16384")
            self._migrate(readonly)
            self._bulk = self._checked_bulk()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"Cannot open the database {self.path}: {exc}.") from exc

    def close(self) -> None:
        self.stop_background_checkpoints()
        self.db.close()

    @contextmanager
    def background_checkpoints(self) -> Iterator[None]:
        """Meanwhile, the WAL is checkpointed every few batches by a thread (see _Checkpointer); the writer
        checkpoints itself only if the WAL grows to four times its usual bound (the thread fell behind)."""
        if self._checkpointer is not None:  # already (nested)
            yield
            return
        self._checkpointer = _Checkpointer(self.path)
        self.db.execute(f"PRAGMA wal_autocheckpoint = {4 * self.wal_pages}")
        try:
            yield
        finally:
            self.stop_background_checkpoints()

    def stop_background_checkpoints(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
            self.db.execute(f"PRAGMA wal_autocheckpoint = {self.wal_pages}")

    def _checked_bulk(self) -> ModuleType | None:
        """The compiled executemany when it sees this very connection (it names the same file), else None."""
        if BULK is None or type(self.db) is not sqlite3.Connection:
            return None
        main = self.db.execute("PRAGMA database_list").fetchone()
        return BULK if main is not None and BULK.filename(self.db) == main[2] else None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema ------------------------------------------------------------------------------

    def _migrate(self, readonly: bool) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"The database {self.path} was written by a newer trackdelivery (schema {version}); upgrade first."
            )
        if version == SCHEMA_VERSION:
            return
        if readonly:
            raise StoreError(
                f"The database {self.path} needs an upgrade: run 'trackdelivery users list' once (or any "
                "command that writes to it: ingest, follow, serve)."
            )
        if version:
            log.warning("Upgrading the database %s to schema %d, once: this takes about half a minute per "
                        "million events; do not interrupt it (an interrupted upgrade starts again).",
                        self.path, SCHEMA_VERSION)
        with transaction(self.db):
            for number in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[number]:
                    self.db.execute(statement)
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # -- bulk loading ------------------------------------------------------------------------

    def defer_indexes(self) -> None:
        """Drop the events' secondary indexes for a bulk ingest; :meth:`build_indexes` builds them again.

        The setting that says so is committed with the drop, so a killed ingest leaves a store that the
        next ingest, follower or server completes (searches stay correct meanwhile, only slower).
        """
        db = self.db
        self._lookups_indexed = False
        with transaction(db):
            for name, _ in DEFERRABLE_INDEXES:
                db.execute(f"DROP INDEX IF EXISTS {name}")
            db.execute(f"DROP TRIGGER IF EXISTS {ADDRESS_TRIGGER[0]}")
            db.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, '1')", (DEFERRED_INDEXES,))

    def indexes_deferred(self) -> bool:
        row = self.db.execute("SELECT 1 FROM settings WHERE key = ?", (DEFERRED_INDEXES,)).fetchone()
        return row is not None

    def build_indexes(self) -> bool:
        """Build the indexes a bulk ingest dropped (one transaction); False when none were missing."""
        if not self.indexes_deferred():
            return False
        db = self.db
        with transaction(db):
            for _, statement in DEFERRABLE_INDEXES:
                db.execute(statement)
            for statement in REBUILD_ADDRESS_TRIGRAMS:
                db.execute(statement)
            db.execute(ADDRESS_TRIGGER[1])
            db.execute("DELETE FROM settings WHERE key = ?", (DEFERRED_INDEXES,))
        return True

    # -- ids and correlator state ------------------------------------------------------------

    def event_count_estimate(self) -> int:
        """About how many events are stored (the highest id: cheap; purged rows make it an overestimate)."""
        return int(self.db.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0])

    def next_ids(self) -> tuple[int, int]:
        m = self.db.execute("SELECT coalesce(max(id), 0) + 1 FROM messages").fetchone()[0]
        e = self.db.execute("SELECT coalesce(max(id), 0) + 1 FROM events").fetchone()[0]
        return m, e

    def stored_until(self) -> int | None:
        """The latest time any stored message was seen (None for an empty store)."""
        row = self.db.execute("SELECT max(lastunixtime) FROM messages").fetchone()
        return row[0]

    def load_message(self, msgid: str) -> MessageState | None:
        if not self._lookups_indexed:
            self._index_lookups()
        row = self.db.execute(
            f"SELECT {MESSAGE_FIELDS} FROM messages WHERE msgid = ? ORDER BY id DESC LIMIT 1", (msgid,)  # noqa: S608 - constant SQL text, values bound
        ).fetchone()
        if row is None:
            return None
        state = MessageState(*row)
        state.raw = self.raw_lines(state.id)
        state.raw_stored = len(state.raw)
        for event_id, recipient, type_, text in self.db.execute(
            "SELECT id, recipient, type, message FROM events"
            " WHERE message_ref = ? AND type IN ('inprogress', 'defer') ORDER BY id",
            (state.id,),
        ):
            key = recipient.lower()
            if type_ == "inprogress":
                state.pending[key] = [recipient, event_id, text]
            else:
                state.attempts[key] = state.attempts.get(key, 0) + 1
        return state

    def _index_lookups(self) -> None:
        """Build the indexes load_message reads by (messages' msgid, events' message_ref) if a bulk ingest set
        them aside: a lookup would read every message, then every event."""
        try:
            for _, statement in LOOKUP_INDEXES:
                self.db.execute(statement)  # nothing to do, and no write, where it exists
        except sqlite3.OperationalError:  # read-only: look up without them
            return
        self._lookups_indexed = True

    def raw_lines(self, message_id: int) -> list[str]:
        return message_lines(self.db, message_id)

    # -- checkpoints -------------------------------------------------------------------------

    def find_checkpoint(self, head: bytes) -> Checkpoint | None:
        """The checkpoint of the file that starts with ``head`` (the same file, maybe renamed or compressed)."""
        best: Checkpoint | None = None
        for row in self.db.execute(
            "SELECT id, path, head_len, head_hash, device, inode, offset, lines, unparsed, format, duplicates FROM files"
            " WHERE head_len <= ? ORDER BY head_len DESC",
            (len(head),),
        ):
            cp = Checkpoint(*row)
            if cp.head_len and head_hash(head[: cp.head_len]) == cp.head_hash:
                best = cp
                break
        return best

    def checkpoints(self) -> list[Checkpoint]:
        rows = self.db.execute(
            "SELECT id, path, head_len, head_hash, device, inode, offset, lines, unparsed, format, duplicates FROM files"
            " ORDER BY updated DESC, id DESC"
        ).fetchall()
        return [Checkpoint(*row) for row in rows]

    # -- writing -----------------------------------------------------------------------------

    def commit_batch(self, batch: Batch, checkpoint: Checkpoint | None) -> None:
        """Write the batch and the checkpoint that covers it in one transaction: exactly once."""
        db = self.db
        with transaction(db):
            if batch.messages:
                self._insert(_INSERT_MESSAGE, batch, MESSAGE_ROWS)
                if self._bulk is not None:  # message_raw_rows and both INSERTs, in C
                    self._bulk.insert_raw(self.db, _INSERT_MESSAGE_RAW, _INSERT_MESSAGE_RAW_ADDED, batch.messages,
                                          MessageState)  # fmt: skip
                else:
                    first, added = message_raw_rows(batch)
                    self.db.executemany(_INSERT_MESSAGE_RAW, first)
                    self.db.executemany(_INSERT_MESSAGE_RAW_ADDED, added)
            if batch.events:
                self._apply_owners(batch)
                self._insert(_INSERT_EVENT, batch, EVENT_ROWS)
                self._add_addresses(batch)
            if batch.deleted_events:
                db.executemany("DELETE FROM events WHERE id = ?", [(i,) for i in batch.deleted_events])
            if batch.updated_messages_text:
                db.executemany(
                    "UPDATE events SET message = ? WHERE id = ?",
                    [(text, i) for i, text in batch.updated_messages_text.items()],
                )
            if checkpoint is not None:
                self._save_checkpoint(checkpoint)
        # committed: their lines are stored
        if self._bulk is not None:
            self._bulk.mark_raw_stored(batch.messages, MessageState)
        else:
            for state in batch.messages.values():
                state.raw_stored = len(state.raw)
        if self._checkpointer is not None:
            self._checkpointer.committed()

    def _insert(self, sql: str, batch: Batch, rows: Rows) -> None:
        """INSERT one table's rows for a batch: made and bound in C where it could be set up (no tuple per
        row), else the Python reference's rows through Python's executemany."""
        if self._bulk is None:
            self.db.executemany(sql, rows.python(batch))
            return
        items = batch.events if rows.item_type is DeliveryEvent else batch.messages
        self._bulk.insert(
            self.db, sql, items, rows.item_type, rows.recipe, batch.event_message, batch.event_raw, batch.messages,
            MessageState,
        )

    def _add_addresses(self, batch: Batch) -> None:
        """Put the batch's addresses that are new into the addresses table (a trigger indexes them)."""
        known = self._known_addresses
        row = self.db.execute("SELECT value FROM settings WHERE key = ?", (ADDRESSES_PURGED,)).fetchone()
        generation = row[0] if row else None
        if generation != self._addresses_generation:  # another process purged: forget what we knew
            known.clear()
            self._addresses_generation = generation
        if self._bulk is not None:
            new: set[str] = self._bulk.new_addresses(batch.events, DeliveryEvent, ADDRESS_COLUMNS, known)
        else:
            new = new_addresses(batch, known)
        if not new:
            return
        self.db.executemany(_INSERT_ADDRESS, [(address,) for address in new])
        if len(known) + len(new) > _KNOWN_ADDRESSES_MAX:
            known.clear()
        known.update(new)

    def domain_owners(self) -> dict[str, str]:
        """Domain (lower case) → the account user that owns it (users made by `users add/import-cpanel`)."""
        try:
            rows = self.db.execute(
                "SELECT lower(d.domain), u.name FROM user_domains d JOIN users u ON u.id = d.user_id"
                " WHERE u.role = 'account' ORDER BY u.id"
            ).fetchall()
        except sqlite3.OperationalError:  # a store opened before the users tables existed
            return {}
        return dict(rows)

    def _apply_owners(self, batch: Batch) -> None:
        """Fill user/domain (owner of the sender) and deliveryuser/deliverydomain (owner of the recipient)."""
        if self._owners is None or time.monotonic() - self._owners_read > 60:
            self._owners, self._owners_read = self.domain_owners(), time.monotonic()
        owners = self._owners
        if not owners:
            return
        for e in batch.events.values():
            sender_domain = domain_of(e.email) or domain_of(e.sender)
            account = owners.get(sender_domain)
            if account is not None:
                e.user, e.domain = account, sender_domain
            recipient_domain = domain_of(e.recipient)
            account = owners.get(recipient_domain)
            if account is not None:
                e.deliveryuser, e.deliverydomain = account, recipient_domain

    def _save_checkpoint(self, cp: Checkpoint) -> None:
        now = int(time.time())
        if cp.id is None:
            cur = self.db.execute(
                "INSERT INTO files (path, head_len, head_hash, device, inode, offset, lines, unparsed, format,"
                " duplicates, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (cp.path, cp.head_len, cp.head_hash, cp.device, cp.inode, cp.offset, cp.lines, cp.unparsed,
                 cp.format, cp.duplicates, now),
            )
            cp.id = cur.lastrowid
        else:
            self.db.execute(
                "UPDATE files SET path = ?, head_len = ?, head_hash = ?, device = ?, inode = ?, offset = ?,"
                " lines = ?, unparsed = ?, format = ?, duplicates = ?, updated = ? WHERE id = ?",
                (cp.path, cp.head_len, cp.head_hash, cp.device, cp.inode, cp.offset, cp.lines, cp.unparsed,
                 cp.format, cp.duplicates, now, cp.id),
            )

    # -- retention ---------------------------------------------------------------------------

    def purge(self, older_than: int) -> tuple[int, int]:
        """Delete events and finished messages last seen before ``older_than`` (epoch); returns counts."""
        db = self.db
        with transaction(db):
            events = db.execute("DELETE FROM events WHERE actionunixtime < ?", (older_than,)).rowcount
            # and every event of a message that goes (one without a time, say): a search by message id finds
            # a message's events through its row (schema.PARTIAL_INDEXES)
            events += db.execute("DELETE FROM events WHERE message_ref IN (SELECT id FROM messages WHERE lastunixtime < ?)",
                                 (older_than,)).rowcount
            for table, key in (("message_raw", "id"), ("message_raw_added", "message_ref")):
                db.execute(f"DELETE FROM {table} WHERE {key} IN (SELECT id FROM messages WHERE lastunixtime < ?)",  # noqa: S608 - constants
                           (older_than,))
            messages = db.execute("DELETE FROM messages WHERE lastunixtime < ?", (older_than,)).rowcount
            if events:
                # Forget the addresses no event has any more. A contentless index cannot forget single
                # rows: it is rebuilt from the addresses that remain.
                db.execute(DELETE_UNUSED_ADDRESSES)
                for statement in REBUILD_ADDRESS_TRIGRAMS:
                    db.execute(statement)
                db.execute(
                    "INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (ADDRESSES_PURGED, os.urandom(8).hex())
                )
        # The pragma frees one page per step; executescript steps it to the end (execute frees one page).
        db.executescript("PRAGMA incremental_vacuum;")
        return events, messages


def message_lines(db: sqlite3.Connection, message_id: int) -> list[str]:
    """A stored message's log lines: its message_raw text, then the texts added since (schema.MESSAGE_RAW_ADDED)."""
    lines: list[str] = []
    for sql in ("SELECT raw FROM message_raw WHERE id = ?",
                "SELECT raw FROM message_raw_added WHERE message_ref = ? ORDER BY id"):
        for (text,) in db.execute(sql, (message_id,)):
            lines.extend(text.split("\n") if text else [])
    return lines


# -- rows -------------------------------------------------------------------------------------------
# The Python reference of the events' and messages' rows (event_rows, message_rows) and the recipe
# that makes the same rows in C (_bulkc.rows: each step is (operation, field of the item, field of
# the event's message)). tests/test_store_bulk.py checks that both agree on every batch of real ingests.
(KEY, FIELD, OR_EMPTY, OWN, REF, RAW, DOMAIN) = range(7)  # the operations of _bulkc.c
# Kept on an event only where its own value differs from its message's (the view joins them back).
_OWN_COLUMNS = ("senderhost", "senderip", "senderauth", "tls", "protocol", "server")


def message_rows(batch: Batch) -> list[tuple[object, ...]]:
    return [
        (
            s.id, s.msgid, s.server, s.email, s.sender, s.senderhost, s.senderip, s.senderauth,
            "" if s.size is None else s.size, "" if s.spamscore is None else s.spamscore,
            "" if s.sendunixtime is None else s.sendunixtime, s.lastunixtime, s.subject,
            s.message_id, s.protocol, s.tls, s.parent_msgid, s.recipients, s.state,
        )
        for s in batch.messages.values()
    ]  # fmt: skip


def new_addresses(batch: Batch, known: set[str]) -> set[str]:
    """The batch's event addresses (lower case) that are not in ``known``: the reference of _bulkc.new_addresses."""
    new: set[str] = set()
    for e in batch.events.values():
        for address in (e.recipient, e.deliveredto, e.email, e.sender):
            if address:
                key = address.lower()
                if key not in known:
                    new.add(key)
    return new


def message_raw_rows(batch: Batch) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """The rows of message_raw (messages not stored before) and message_raw_added (their lines since)."""
    first: list[tuple[object, ...]] = []
    added: list[tuple[object, ...]] = []
    for s in batch.messages.values():
        stored = s.raw_stored
        if not stored:
            first.append((s.id, "\n".join(s.raw)))
        elif stored < len(s.raw):
            added.append((s.id, "\n".join(s.raw[stored:])))
    return first, added


def event_rows(batch: Batch) -> list[tuple[object, ...]]:
    """The events table's rows (schema.EVENT_COLUMNS) of a batch's events.

    A message's own fields are not repeated; the client, TLS, protocol and server fields are kept
    only where the event's differ from its message's (the view event_records joins them back).
    """
    refs = batch.event_message
    raws = batch.event_raw
    states = batch.messages
    rows: list[tuple[object, ...]] = []
    for eid, e in batch.events.items():
        ref = refs.get(eid)
        host, ip, auth, tls, protocol, server = e.senderhost, e.senderip, e.senderauth, e.tls, e.protocol, e.server
        state = states.get(ref) if ref is not None else None
        if state is not None:
            host = host if host != state.senderhost else ""
            ip = ip if ip != state.senderip else ""
            auth = auth if auth != state.senderauth else ""
            tls = tls if tls != state.tls else ""
            protocol = protocol if protocol != state.protocol else ""
            server = server if server != state.server else ""
        # None goes in as the sentinel of _placeholder (the owners' '-remote-' already is one)
        rows.append((
            eid, "" if ref is None else ref, e.type, e.msgid, e.email, e.sender, e.user, e.domain,
            host, ip, auth, e.recipient, e.deliveredto, e.deliveryuser, e.deliverydomain,
            e.router, e.transport, e.host, e.ip, e.message,
            "" if e.actionunixtime is None else e.actionunixtime, e.transport_is_remote, e.dsn,
            e.reason, e.reason_text, tls, protocol, server,
            "" if e.queue_time is None else e.queue_time, "" if e.attempt is None else e.attempt,
            raws.get(eid, ""), domain_of(e.email), domain_of(e.recipient),
        ))  # fmt: skip
    return rows


def _event_step(column: str) -> tuple[int, str | None, str | None]:
    special: dict[str, tuple[int, str | None, str | None]] = {
        "id": (KEY, None, None), "message_ref": (REF, None, None), "raw": (RAW, None, None),
        "sender_domain": (DOMAIN, "email", None), "recipient_domain": (DOMAIN, "recipient", None),
    }  # fmt: skip
    if column in special:
        return special[column]
    if column in _OWN_COLUMNS:
        return OWN, column, column
    return (OR_EMPTY if column in _NULL_IF_EMPTY else FIELD), column, None


@dataclass(frozen=True)
class Rows:
    item_type: type
    recipe: tuple[tuple[int, str | None, str | None], ...]
    python: Callable[[Batch], list[tuple[object, ...]]]


EVENT_ROWS = Rows(DeliveryEvent, tuple(_event_step(c) for c in EVENT_COLUMNS), event_rows)
MESSAGE_ROWS = Rows(
    MessageState, tuple(((OR_EMPTY if c in _NULL_IF_EMPTY else FIELD), c, None) for c in _MESSAGE_COLUMNS), message_rows
)
