"""Ingest: log files → parser → correlator → store, in batches, each committed with its checkpoint.

Re-ingesting a file (or its renamed or compressed rotation) continues where the checkpoint says.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from .correlate import Correlator
from .parse import exim
from .source import READ_ERRORS, SourceError, open_log, order_by_time, read_head, read_lines
from .store.sqlite import HEAD_BYTES, Checkpoint, Store, head_hash

BATCH_LINES = 25_000

ProgressCallback = Callable[[int], None]  # called with bytes consumed since the last call


@dataclass(slots=True)
class IngestSummary:
    files: int = 0
    skipped_files: int = 0  # already fully ingested
    lines: int = 0
    unparsed: int = 0
    oversize: int = 0
    held_partial: int = 0  # files whose last line has no newline yet
    events: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def default_server_name() -> str:
    return socket.gethostname() or "localhost"


def ingest_files(
    store: Store,
    paths: list[str],
    server: str | None = None,
    progress: ProgressCallback | None = None,
    on_file: Callable[[str, int], None] | None = None,
) -> IngestSummary:
    """Ingest ``paths`` (oldest first after ordering) into ``store``; never raises on bad input lines."""
    summary = IngestSummary()
    next_message, next_event = store.next_ids()
    correlator = Correlator(
        store.load_message, next_message, next_event, server=server or default_server_name(),
        stored_until=store.stored_until(),
    )
    for path in order_by_time(paths):
        try:
            _ingest_one(store, correlator, path, summary, progress, on_file)
        except SourceError as exc:
            summary.errors.append(str(exc))
    summary.events = {k: v for k, v in correlator.events_by_type.items() if v}
    return summary


def _ingest_one(
    store: Store,
    correlator: Correlator,
    path: str,
    summary: IngestSummary,
    progress: ProgressCallback | None,
    on_file: Callable[[str, int], None] | None,
) -> None:
    head = read_head(path, HEAD_BYTES)
    try:
        st = os.stat(path)
    except OSError as exc:
        raise SourceError(f"Cannot read {path}: {exc.strerror}.") from exc
    if on_file is not None:
        on_file(path, st.st_size)
    if not head:
        return
    checkpoint = store.find_checkpoint(head)
    if checkpoint is None:
        checkpoint = Checkpoint(None, os.path.abspath(path), len(head), head_hash(head), format="exim")
    elif checkpoint.head_len < len(head):
        # The file grew past the bytes its identity was taken from: widen the identity.
        checkpoint.head_len, checkpoint.head_hash = len(head), head_hash(head)
    checkpoint.path = os.path.abspath(path)
    checkpoint.device, checkpoint.inode = st.st_dev, st.st_ino
    # A compressed file never grows: its last line is final even without a newline.
    compressed = head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00"
    summary.files += 1
    with open_log(path) as f:
        try:
            if checkpoint.offset:
                _skip(f, checkpoint.offset, compressed)
            _consume(store, correlator, f, checkpoint, summary, progress, compressed, st.st_size)
        except READ_ERRORS as exc:
            summary.errors.append(f"{path}: stopped reading at byte {checkpoint.offset}: {exc}")


def _skip(f, offset: int, compressed: bool) -> None:  # type: ignore[no-untyped-def]
    if not compressed:
        f.seek(offset)
        return
    remaining = offset
    while remaining:
        chunk = f.read(min(remaining, 1 << 20))
        if not chunk:
            break
        remaining -= len(chunk)


def _consume(
    store: Store,
    correlator: Correlator,
    f,  # type: ignore[no-untyped-def]
    checkpoint: Checkpoint,
    summary: IngestSummary,
    progress: ProgressCallback | None,
    final: bool,
    file_size: int,
) -> None:
    parse = exim.parse_exim_line
    feed = correlator.feed
    unknown = exim.UNKNOWN
    offset = checkpoint.offset
    lines = unparsed = 0
    pending_lines = 0
    reported = offset if not final else 0
    for raw, consumed, oversize in read_lines(f, final):
        offset += consumed
        lines += 1
        pending_lines += 1
        text = raw.decode("utf-8", "replace")
        if "\x00" in text:
            text = text.replace("\x00", "\ufffd")
        parsed = parse(text)
        if parsed.kind == unknown:
            unparsed += 1
        else:
            feed(parsed, text)
        if oversize:
            summary.oversize += 1
        if pending_lines >= BATCH_LINES:
            checkpoint.offset = offset
            checkpoint.lines += lines
            checkpoint.unparsed += unparsed
            summary.lines += lines
            summary.unparsed += unparsed
            lines = unparsed = pending_lines = 0
            store.commit_batch(correlator.take_batch(), checkpoint)
            if progress is not None:
                position = offset if not final else f.fileobj.tell() if hasattr(f, "fileobj") else offset
                progress(position - reported)
                reported = position
    checkpoint.offset = offset
    checkpoint.lines += lines
    checkpoint.unparsed += unparsed
    summary.lines += lines
    summary.unparsed += unparsed
    store.commit_batch(correlator.take_batch(), checkpoint)
    if not final and offset < file_size:
        summary.held_partial += 1
    if progress is not None:
        progress(max(0, file_size - reported))
