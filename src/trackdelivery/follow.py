"""Follow live log files: read new lines as they are written, through every kind of rotation.

Each poll reads the whole lines that are there and commits them with the file's checkpoint in one
transaction, so a killed follower restarts exactly where the database says, nothing lost or doubled.
"""

from __future__ import annotations

import glob
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import BinaryIO

from .ingest import Ingestor, identify, skip, wants_bulk
from .source import READ_ERRORS, SourceError, first_time, is_compressed, open_log
from .store.sqlite import HEAD_BYTES, Checkpoint, Store, head_hash

log = logging.getLogger("trackdelivery")

POLL_SECONDS = 0.2
PURGE_EVERY = 86400
# A renamed-away file may still get lines from a process that has not reopened the log yet.
DRAIN_SECONDS = 2.0


@dataclass(slots=True)
class _Open:
    """A file being followed: its handle, the identity it had when opened, and its checkpoint."""

    path: str  # the name we follow (e.g. /var/log/exim_mainlog)
    handle: BinaryIO
    device: int
    inode: int
    checkpoint: Checkpoint
    head: bytes  # the first bytes when last looked at, to tell a file cut short from a new one


@dataclass(slots=True)
class _Draining:
    """A rotated-away file still open: read until it has been quiet for DRAIN_SECONDS."""

    handle: BinaryIO
    checkpoint: Checkpoint
    quiet_since: float


def rotated_siblings(path: str) -> list[str]:
    """Rotated copies of ``path`` by the usual names: .1, .2.gz, -20261101, -20261101.gz, ..."""
    found = set(glob.glob(glob.escape(path) + ".*")) | set(glob.glob(glob.escape(path) + "-*"))
    return sorted(p for p in found if os.path.isfile(p))


class Follower:
    """Follows ``paths`` into ``store``; call :meth:`poll` repeatedly, or :meth:`run` until stopped."""

    def __init__(
        self,
        store: Store,
        paths: list[str],
        server: str | None = None,
        retention_days: int | None = None,
    ) -> None:
        self.store = store
        if store.indexes_deferred():  # a bulk ingest was stopped before it built them
            log.warning("Building the search indexes a stopped bulk ingest left out…")
            store.build_indexes()
        self.paths = [os.path.abspath(p) for p in paths]
        self.ingestor = Ingestor(store, server)
        self.retention_days = retention_days
        self._open: dict[str, _Open] = {}
        self._draining: list[_Draining] = []
        self._last_purge = 0.0
        self.shrunk = 0  # files that got shorter without a rotated copy to finish from

    # -- start-up ----------------------------------------------------------------------------

    def catch_up(self) -> None:
        """Finish what was written while we were down: rotated copies we had started, or newer ones."""
        stored_until = self.store.stored_until()
        for path in self.paths:
            candidates = []
            for sibling in rotated_siblings(path):
                try:
                    head, _ = identify(sibling)
                except SourceError:
                    continue
                if not head:
                    continue
                if self.store.find_checkpoint(head) is not None:
                    candidates.append(sibling)
                elif stored_until is not None:
                    started = first_time(sibling)
                    if started is not None and started >= stored_until - 3600:
                        candidates.append(sibling)  # rotated away entirely while we were down
            for sibling in sorted(candidates, key=lambda p: first_time(p) or 0):
                self.ingestor.ingest_path(sibling)

    def read_backlog(self) -> int:
        """Catch up, then read what the followed files already hold; returns the lines read.

        A first start on a large log reads it in bulk, as ``ingest`` does: the search indexes are built
        once it is read (searches meanwhile are correct, only slower).
        """
        if wants_bulk(self.store, self.paths):
            log.info("Reading what the logs already hold in bulk: the search indexes are built at its end.")
            self.store.defer_indexes()
        try:
            self.catch_up()
            return self.poll()
        finally:
            if self.store.indexes_deferred():
                self.store.build_indexes()

    # -- polling -----------------------------------------------------------------------------

    def poll(self) -> int:
        """Read what is new in every followed file; returns the number of lines read."""
        lines = self._drain()
        for path in self.paths:
            try:
                lines += self._poll_path(path)
            except READ_ERRORS as exc:
                log.warning("%s: cannot read (%s); will retry", path, exc)
            except SourceError as exc:
                log.warning("%s", exc)
        return lines

    def _poll_path(self, path: str) -> int:
        current = self._open.get(path)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            st = None
        if current is not None and (st is None or (st.st_dev, st.st_ino) != (current.device, current.inode)):
            # Renamed away (rotation) or deleted: read what the old handle has now (it comes before the
            # new file's lines), then keep reading it until it goes quiet.
            lines = self._read(current.handle, current.checkpoint, final=False, size=None)
            self._draining.append(_Draining(current.handle, current.checkpoint, time.monotonic()))
            del self._open[path]
            current = None
        else:
            lines = 0
        if st is None:
            return lines
        if current is None:
            current = self._start(path, st)
            if current is None:
                return lines
        elif st.st_size < current.checkpoint.offset:
            self._truncated(current)
            current = self._open.get(path)
            if current is None:
                return lines
        return lines + self._read(current.handle, current.checkpoint, final=False, size=st.st_size,
                                  opened=current)

    def _start(self, path: str, st: os.stat_result) -> _Open | None:
        head, _ = identify(path)
        if not head:
            return None  # nothing written yet: no identity
        if is_compressed(path):
            raise SourceError(f"{path} is compressed; follow the live log, not a rotated copy.")
        handle = open_log(path)
        checkpoint = self.ingestor.checkpoint_for(path, head, st)
        opened = _Open(path, handle, st.st_dev, st.st_ino, checkpoint, head)
        self._open[path] = opened
        return opened

    def _truncated(self, current: _Open) -> None:
        """The file got shorter than what we have read.

        copytruncate: finish the old content from the rotated copy (same identity), then start the
        new content at 0. Shrunk in place (it still starts like before, no copy): what is left was
        read already, so go on from its new end — counted and logged, never read twice.
        """
        old = current.checkpoint
        for sibling in rotated_siblings(current.path):
            try:
                head, _ = identify(sibling)
            except SourceError:
                continue
            if len(head) >= old.head_len and head_hash(head[: old.head_len]) == old.head_hash:
                with open_log(sibling) as f:
                    skip(f, old.offset, is_compressed(sibling))
                    self.ingestor.consume(f, old, final=True)
                break
        head, st = identify(current.path)
        common = min(len(head), len(current.head))
        if head and head[:common] == current.head[:common]:
            self.shrunk += 1
            log.warning("%s got shorter (from byte %d to %d) and still starts as before; going on from "
                        "its new end", current.path, old.offset, st.st_size)
            old.offset = st.st_size
            old.head_len, old.head_hash = len(head), head_hash(head)
            current.head = head
            return
        current.handle.close()
        del self._open[current.path]
        self._start(current.path, st)

    def _widen(self, checkpoint: Checkpoint, handle: BinaryIO) -> bytes:
        handle.seek(0)
        head = handle.read(HEAD_BYTES)
        checkpoint.head_len, checkpoint.head_hash = len(head), head_hash(head)
        return head

    def _read(self, handle: BinaryIO, checkpoint: Checkpoint, final: bool, size: int | None,
              opened: _Open | None = None) -> int:
        if checkpoint.head_len < HEAD_BYTES and size is not None and size > checkpoint.head_len:
            head = self._widen(checkpoint, handle)
            if opened is not None:
                opened.head = head
        handle.seek(checkpoint.offset)
        return self.ingestor.consume(handle, checkpoint, final=final)

    def _drain(self) -> int:
        lines = 0
        still: list[_Draining] = []
        now = time.monotonic()
        for d in self._draining:
            size = os.fstat(d.handle.fileno()).st_size
            grew = size > d.checkpoint.offset
            quiet = not grew and now - d.quiet_since >= DRAIN_SECONDS
            lines += self._read(d.handle, d.checkpoint, final=quiet, size=size)
            if quiet:
                d.handle.close()
                continue
            if grew:
                d.quiet_since = now
            still.append(d)
        self._draining = still
        return lines

    # -- the loop ----------------------------------------------------------------------------

    def run(self, stop: threading.Event, poll_seconds: float = POLL_SECONDS) -> None:
        """Poll until ``stop`` is set (SIGTERM handlers set it); the last poll's lines are committed."""
        self.read_backlog()
        while not stop.is_set():
            lines = self.poll()
            self._maybe_purge()
            if not lines:
                stop.wait(poll_seconds)
        self.close()

    def _maybe_purge(self) -> None:
        if not self.retention_days:
            return
        now = time.time()
        if now - self._last_purge < PURGE_EVERY:
            return
        self._last_purge = now
        events, messages = self.store.purge(int(now) - self.retention_days * 86400)
        if events or messages:
            log.info("retention: deleted %d events and %d messages older than %d days",
                     events, messages, self.retention_days)

    def close(self) -> None:
        for opened in self._open.values():
            opened.handle.close()
        for d in self._draining:
            d.handle.close()
        self._open.clear()
        self._draining.clear()
