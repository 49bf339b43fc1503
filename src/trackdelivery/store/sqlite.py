"""SQLite store: schema migrations, batched writes with their checkpoint in one transaction, reads.

WAL mode lets the web page read while an ingest writes; every write is a short transaction.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..correlate import Batch, MessageState
from ..record import EVENT_FIELDS
from .schema import ADDRESS_TEXT_COLUMN, ADDRESS_TEXT_SQL, DEFERRABLE_INDEXES, MIGRATIONS, SCHEMA_VERSION

HEAD_BYTES = 1024  # a file's identity is the hash of its first bytes (decompressed)
DEFERRED_INDEXES = "deferred_indexes"  # settings key: set while a bulk ingest has dropped the event indexes

_MESSAGE_COLUMNS = (
    "id, msgid, server, email, sender, senderhost, senderip, senderauth, size, spamscore, sendunixtime, "
    "lastunixtime, subject, message_id, protocol, tls, parent_msgid, recipients, state, raw"
)
_INSERT_MESSAGE = f"INSERT OR REPLACE INTO messages ({_MESSAGE_COLUMNS}) VALUES ({', '.join('?' * 20)})"  # noqa: S608 - constant SQL text, values bound
_INSERT_EVENT = (
    f"INSERT INTO events (id, message_ref, raw, sender_domain, recipient_domain, {', '.join(EVENT_FIELDS)}) "  # noqa: S608 - constant SQL text, values bound
    f"VALUES (?, ?, ?, ?, ?, {', '.join('?' * len(EVENT_FIELDS))})"
)


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


class Store:
    def __init__(self, path: str | os.PathLike[str], readonly: bool = False) -> None:
        self.path = Path(path)
        self._owners: dict[str, str] | None = None  # read again at most once a minute while ingesting
        self._owners_read = 0.0
        if readonly and not self.path.exists():
            raise StoreError(f"No database at {self.path}: run 'trackdelivery ingest LOGFILE' first.")
        if not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA busy_timeout = 30000")
            if not readonly:
                self.db.execute("PRAGMA auto_vacuum = INCREMENTAL")
                self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            # Fewer, larger checkpoints: each one waits for the disk (fsync).
            self.db.execute("PRAGMA wal_autocheckpoint = 16384")
            self.db.execute("PRAGMA cache_size = -16384")
            self._migrate(readonly)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"Cannot open the database {self.path}: {exc}.") from exc

    def close(self) -> None:
        self.db.close()

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
            raise StoreError(f"The database {self.path} needs an upgrade: run 'trackdelivery ingest' once.")
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
        with transaction(db):
            for name, _ in DEFERRABLE_INDEXES:
                db.execute(f"DROP INDEX IF EXISTS {name}")
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
            for name, columns in DEFERRABLE_INDEXES:
                db.execute(f"CREATE INDEX IF NOT EXISTS {name} ON events({columns})")
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
        row = self.db.execute(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE msgid = ? ORDER BY id DESC LIMIT 1", (msgid,)  # noqa: S608 - constant SQL text, values bound
        ).fetchone()
        if row is None:
            return None
        state = MessageState(*row[:-1])
        state.raw = row[-1].split("\n") if row[-1] else []
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
                db.executemany(
                    _INSERT_MESSAGE,
                    [
                        (
                            s.id, s.msgid, s.server, s.email, s.sender, s.senderhost, s.senderip, s.senderauth,
                            s.size, s.spamscore, s.sendunixtime, s.lastunixtime, s.subject, s.message_id,
                            s.protocol, s.tls, s.parent_msgid, s.recipients, s.state, "\n".join(s.raw),
                        )
                        for s in batch.messages.values()
                    ],
                )
            if batch.events:
                refs = batch.event_message
                raws = batch.event_raw
                self._apply_owners(batch)
                db.executemany(
                    _INSERT_EVENT,
                    [
                        (
                            eid, refs.get(eid), raws.get(eid), domain_of(e.email), domain_of(e.recipient), e.type,
                            e.msgid, e.email, e.sender, e.user, e.domain,
                            e.senderhost, e.senderip, e.senderauth, e.size, e.spamscore, e.sendunixtime,
                            e.recipient, e.deliveredto, e.deliveryuser, e.deliverydomain, e.router, e.transport,
                            e.host, e.ip, e.message, e.actionunixtime, e.transport_is_remote, e.subject,
                            e.message_id, e.dsn, e.reason, e.reason_text, e.tls, e.protocol, e.parent_msgid,
                            e.server, e.queue_time, e.attempt,
                        )
                        for eid, e in batch.events.items()
                    ],
                )
                db.executemany(
                    "INSERT INTO event_addresses (rowid, addresses) VALUES (?, ?)",
                    [(eid, f"{e.recipient} {e.deliveredto} {e.email} {e.sender}") for eid, e in batch.events.items()],
                )
            if batch.deleted_events:
                db.executemany("DELETE FROM events WHERE id = ?", [(i,) for i in batch.deleted_events])
            if batch.updated_messages_text:
                db.executemany(
                    "UPDATE events SET message = ? WHERE id = ?",
                    [(text, i) for i, text in batch.updated_messages_text.items()],
                )
            if checkpoint is not None:
                self._save_checkpoint(checkpoint)

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
            messages = db.execute("DELETE FROM messages WHERE lastunixtime < ?", (older_than,)).rowcount
            if events:
                # A contentless index cannot forget single rows: rebuild it from the events that remain.
                db.execute("INSERT INTO event_addresses (event_addresses) VALUES ('delete-all')")
                rebuild = f"INSERT INTO event_addresses (rowid, {ADDRESS_TEXT_COLUMN}) SELECT id, {ADDRESS_TEXT_SQL} FROM events"  # noqa: S608 - constants
                db.execute(rebuild)
        # The pragma frees one page per step; executescript steps it to the end (execute frees one page).
        db.executescript("PRAGMA incremental_vacuum;")
        return events, messages
