"""Ingest: log files → parser → correlator → store, in batches, each committed with its checkpoint.

Re-ingesting a file (or its renamed or compressed rotation) continues where the checkpoint says.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from .correlate import Correlator
from .correlate_postfix import PostfixCorrelator
from .detect import FORMATS, POSTFIX, decided_format, line_format
from .parse import exim, postfix
from .source import (
    MAX_LINE,
    READ_ERRORS,
    SourceError,
    finish_line,
    is_compressed,
    open_log,
    order_by_time,
    read_head,
)
from .store.sqlite import HEAD_BYTES, Checkpoint, Store, head_hash

try:  # _ingestc.c: the reading loop compiled; the Python loop in Ingestor._consume is its reference
    from . import _ingestc as LOOP  # type: ignore[attr-defined]
except ImportError:
    LOOP = None
if os.environ.get("TRACKDELIVERY_PURE_PYTHON"):
    LOOP = None

BATCH_LINES = 25_000
# A bulk ingest drops the events' secondary indexes and builds them at its end (Store.defer_indexes):
# when it reads at least BULK_MIN_BYTES and adds at least as many events as the store already holds.
BULK_MIN_BYTES = 64 << 20
BYTES_PER_EVENT = 600  # a busy server's log has about one event per 600 bytes (bench/gen_exim.py: 614)
COMPRESSION_GUESS = 8  # compressed logs: content bytes per file byte, roughly
DETECT_BYTES = 64 * 1024  # how much of a file's start format detection reads
# Reading makes and drops several objects per line, none of them in reference cycles; the default
# threshold (700) ran the cycle collector thousands of times per million lines: about 10% of ingest time.
INGEST_GC_THRESHOLD = 100_000

ProgressCallback = Callable[[int], None]  # called with bytes consumed since the last call
Parser = Callable[[str], Any]  # parse_exim_line, SyslogYear.parse
Feeder = Callable[[Any, str], bool]  # Correlator.feed, PostfixCorrelator.feed
log = logging.getLogger("trackdelivery")


@dataclass(slots=True)
class IngestSummary:
    files: int = 0
    lines: int = 0
    unparsed: int = 0
    oversize: int = 0
    duplicates: int = 0
    held_partial: int = 0  # files whose last line has no newline yet
    events: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def default_server_name() -> str:
    return socket.gethostname() or "localhost"


def identify(path: str) -> tuple[bytes, os.stat_result]:
    """The first bytes of a file's (decompressed) content — its identity — and its stat."""
    head = read_head(path, HEAD_BYTES)
    try:
        return head, os.stat(path)
    except OSError as exc:
        raise SourceError(f"Cannot read {path}: {exc.strerror}.") from exc


class Ingestor:
    """One store, one correlator per log format: reads files or live handles, commits batches with checkpoints."""

    def __init__(self, store: Store, server: str | None = None) -> None:
        self.store = store
        next_message, next_event = store.next_ids()
        stored_until = store.stored_until()
        self.correlator = Correlator(
            store.load_message, next_message, next_event, server=server or default_server_name(),
            stored_until=stored_until,
        )
        self.summary = IngestSummary()
        self._warned_files: set[str] = set()
        # -- format detection: one correlator per log format, numbering ids on from each other --
        self._server = server  # Postfix lines name their host; an explicit name overrides it
        self._store_was_empty = stored_until is None
        self._postfix: PostfixCorrelator | None = None
        self._active: Correlator = self.correlator

    def finish(self) -> IngestSummary:
        events = dict(self.correlator.events_by_type)
        if self._postfix is not None:
            for type_, n in self._postfix.events_by_type.items():
                events[type_] = events.get(type_, 0) + n
        self.summary.events = {k: v for k, v in events.items() if v}
        return self.summary

    def _correlator_for(self, fmt: str) -> Correlator:
        """The correlator of a log format (created when first needed); it takes over the id counters."""
        wanted: Correlator = self.correlator
        if fmt == POSTFIX:
            if self._postfix is None:
                self._postfix = PostfixCorrelator(
                    self.store.load_message, 0, 0, server=self._server or "",
                    store_was_empty=self._store_was_empty,
                )  # its ids: continued from the active correlator's, just below
            wanted = self._postfix
        if wanted is not self._active:
            wanted.continue_ids_from(self._active)
            self._active = wanted
        return wanted

    def _reader(self, fmt: str, f: BinaryIO) -> tuple[Parser, Feeder]:
        """(parse, feed) for a file of format ``fmt``; Postfix lines get their year from the file's mtime."""
        correlator = self._correlator_for(fmt)
        if fmt != POSTFIX:
            return exim.parse_exim_line, correlator.feeder()
        try:
            reference: float | None = os.fstat(f.fileno()).st_mtime
        except (OSError, AttributeError, ValueError):
            reference = None
        return postfix.SyslogYear(reference).parser(), correlator.feeder()

    def checkpoint_for(self, path: str, head: bytes, st: os.stat_result) -> Checkpoint:
        checkpoint = self.store.find_checkpoint(head)
        if checkpoint is None:
            checkpoint = Checkpoint(None, os.path.abspath(path), len(head), head_hash(head), format="")
        elif checkpoint.head_len < len(head):
            # The file grew past the bytes its identity was taken from: widen the identity.
            checkpoint.head_len, checkpoint.head_hash = len(head), head_hash(head)
        checkpoint.path = os.path.abspath(path)
        checkpoint.device, checkpoint.inode = st.st_dev, st.st_ino
        if checkpoint.format not in FORMATS:
            # Decided by the file's first lines; "" (undecided) lets consume decide at the first telling line.
            checkpoint.format = decided_format(_detection_head(path, head)) or ""
        return checkpoint

    def ingest_path(self, path: str, progress: ProgressCallback | None = None) -> None:
        """Read ``path`` from its checkpoint to its end (a compressed file's last line counts even unended)."""
        head, st = identify(path)
        if not head:
            return
        checkpoint = self.checkpoint_for(path, head, st)
        compressed = is_compressed(path)
        self.summary.files += 1
        with open_log(path) as f:
            try:
                if checkpoint.offset:
                    skip(f, checkpoint.offset, compressed)
                self.consume(f, checkpoint, final=compressed, file_size=st.st_size, progress=progress)
            except READ_ERRORS as exc:
                self.summary.errors.append(f"{path}: stopped reading at byte {checkpoint.offset}: {exc}")

    def consume(
        self,
        f: BinaryIO,
        checkpoint: Checkpoint,
        final: bool,
        file_size: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> int:
        """Read whole lines from ``f`` (positioned at ``checkpoint.offset``) to its end; returns lines read.

        A batch is committed with the checkpoint every BATCH_LINES lines and at the end: exactly once.
        """
        with _rare_collections():
            return self._consume(f, checkpoint, final, file_size, progress)

    def _consume(
        self,
        f: BinaryIO,
        checkpoint: Checkpoint,
        final: bool,
        file_size: int | None,
        progress: ProgressCallback | None,
    ) -> int:
        fmt = checkpoint.format
        parse: Parser | None = None
        feed: Feeder | None = None
        if fmt in FORMATS:
            parse, feed = self._reader(fmt, f)
        unknown = exim.UNKNOWN  # == postfix.UNKNOWN
        summary = self.summary
        offset = checkpoint.offset
        lines = unparsed = pending = duplicates = 0
        reported = offset
        total = 0
        readline = f.readline

        def warn(read: int, text: str) -> None:  # a line not understood, ``read`` lines on from ``lines``
            self._warn_unparsed(checkpoint, checkpoint.lines + lines + read, text)

        while True:
            raw: bytes | None = None
            compiled = LOOP is not None and parse is not None and feed is not None
            if compiled:
                # The compiled loop takes whole lines up to the batch's end and leaves the Python loop below
                # what readline gave without a newline (the file's end, a partial or an oversize line).
                n, used, bad, dup, raw = LOOP.read_lines(readline, parse, feed, unknown, BATCH_LINES - pending,
                                                         MAX_LINE, warn)  # fmt: skip
                offset += used
                lines += n
                pending += n
                unparsed += bad
                duplicates += dup
                if isinstance(raw, BaseException):
                    if isinstance(raw, READ_ERRORS):  # as below: keep what was read, then report
                        self._commit(checkpoint, offset, lines, unparsed, duplicates)
                    raise raw
            if raw is not None or not compiled:  # else the compiled loop read a whole batch
                # A line that ends in its newline is taken at once (inline: a generator per line cost 0.08 s
                # per million); else finish_line reads the rest of an oversize line or holds a partial one back.
                try:
                    if raw is None:
                        raw = readline(MAX_LINE)
                    if raw[-1:] == b"\n":
                        consumed = len(raw)
                        raw = raw[:-1]
                    else:
                        line = finish_line(readline, raw, final)
                        if line is None:
                            break
                        raw, consumed, oversize = line
                        if oversize:
                            summary.oversize += 1
                except READ_ERRORS:
                    # A damaged archive: keep what was read (with its checkpoint), then report.
                    self._commit(checkpoint, offset, lines, unparsed, duplicates)
                    raise
                offset += consumed
                lines += 1
                pending += 1
                text = raw.decode("utf-8", "replace")
                if "\x00" in text:
                    text = text.replace("\x00", "\ufffd")
                if parse is None or feed is None:
                    # The file's start did not tell its format: the first line of either format decides.
                    decided = line_format(text)
                    if decided is not None:
                        checkpoint.format = decided
                        parse, feed = self._reader(decided, f)
                if parse is None or feed is None:
                    unparsed += 1  # neither format: what the Exim parser always said of such lines
                    if unparsed == 1:
                        warn(0, text)
                else:
                    parsed = parse(text)
                    if parsed.kind == unknown:
                        unparsed += 1
                        if unparsed == 1:
                            warn(0, text)
                    elif not feed(parsed, text):
                        duplicates += 1
            if pending >= BATCH_LINES:
                self._commit(checkpoint, offset, lines, unparsed, duplicates)
                total += lines
                lines = unparsed = pending = duplicates = 0
                if progress is not None:
                    position = offset if not final else _compressed_position(f, offset)
                    progress(position - reported)
                    reported = position
        self._commit(checkpoint, offset, lines, unparsed, duplicates)
        total += lines
        if not final and file_size is not None and offset < file_size:
            summary.held_partial += 1
        if progress is not None and file_size is not None:
            progress(max(0, file_size - reported))
        return total

    def _commit(self, checkpoint: Checkpoint, offset: int, lines: int, unparsed: int, duplicates: int) -> None:
        batch = self._active.take_batch()
        if offset == checkpoint.offset and not batch.events and not batch.messages:
            return
        checkpoint.offset = offset
        checkpoint.lines += lines
        checkpoint.unparsed += unparsed
        checkpoint.duplicates += duplicates
        self.store.commit_batch(batch, checkpoint)
        self.summary.lines += lines
        self.summary.unparsed += unparsed
        self.summary.duplicates += duplicates

    def _warn_unparsed(self, checkpoint: Checkpoint, line_number: int, text: str) -> None:
        # Logged once per file (with where it is); the rest are only counted.
        if checkpoint.path in self._warned_files:
            return
        self._warned_files.add(checkpoint.path)
        log.warning("%s:%d: line not understood (further ones are only counted): %.200r",
                    checkpoint.path, line_number, text)


def ingest_files(
    store: Store,
    paths: list[str],
    server: str | None = None,
    progress: ProgressCallback | None = None,
    on_file: Callable[[str, int], None] | None = None,
    on_indexing: Callable[[], None] | None = None,
    bulk: bool | None = None,
) -> IngestSummary:
    """Ingest ``paths`` (oldest first after ordering) into ``store``; never raises on bad input lines.

    In bulk (``bulk=True``; by default when a large ingest will at least double the store) the search
    indexes are dropped first and built once at the end (``on_indexing`` is called before that), also
    when the ingest is stopped.
    """
    ordered = order_by_time(paths)
    if bulk if bulk is not None else wants_bulk(store, ordered):
        store.defer_indexes()
    ingestor = Ingestor(store, server)
    with store.background_checkpoints():
        try:
            for path in ordered:
                try:
                    if on_file is not None:
                        on_file(path, os.path.getsize(path))
                    ingestor.ingest_path(path, progress)
                except (SourceError, OSError) as exc:
                    ingestor.summary.errors.append(str(exc))
        finally:
            if store.indexes_deferred():  # this ingest's, or one that was killed before it built them
                if on_indexing is not None:
                    on_indexing()
                store.build_indexes()
    return ingestor.finish()


def pending_bytes(store: Store, paths: list[str]) -> int:
    """About how many bytes of content ``paths`` hold beyond their checkpoints."""
    total = 0
    for path in paths:
        try:
            head, st = identify(path)
        except SourceError:
            continue
        if not head:
            continue
        size = st.st_size * (COMPRESSION_GUESS if is_compressed(path) else 1)
        checkpoint = store.find_checkpoint(head)
        total += max(0, size - (checkpoint.offset if checkpoint is not None else 0))
    return total


def wants_bulk(store: Store, paths: list[str]) -> bool:
    """Whether dropping and rebuilding the event indexes beats keeping them up to date for this ingest."""
    new_bytes = pending_bytes(store, paths)
    return new_bytes >= BULK_MIN_BYTES and new_bytes // BYTES_PER_EVENT >= store.event_count_estimate()


@contextmanager
def _rare_collections() -> Iterator[None]:
    """Run Python's cycle collector every INGEST_GC_THRESHOLD allocations instead of every 700."""
    threshold = gc.get_threshold()
    gc.set_threshold(max(threshold[0], INGEST_GC_THRESHOLD), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)


def _detection_head(path: str, head: bytes) -> bytes:
    """More of the file's start than its identity, for format detection (the identity if unreadable)."""
    if len(head) < HEAD_BYTES:
        return head
    try:
        return read_head(path, DETECT_BYTES)
    except SourceError:
        return head


def skip(f: BinaryIO, offset: int, compressed: bool) -> None:
    """Position ``f`` at ``offset`` bytes of content (decompressing up to it for compressed files)."""
    if not compressed:
        f.seek(offset)
        return
    remaining = offset
    while remaining:
        chunk = f.read(min(remaining, 1 << 20))
        if not chunk:
            break
        remaining -= len(chunk)


def _compressed_position(f: BinaryIO, fallback: int) -> int:
    inner = getattr(f, "fileobj", None)  # gzip: position in the compressed file, for the progress bar
    try:
        return int(inner.tell()) if inner is not None else fallback
    except (OSError, ValueError):
        return fallback
