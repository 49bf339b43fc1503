"""Log sources: open plain or compressed files, order rotated sets by time, read whole lines with offsets."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import re
import time
import zlib
from collections.abc import Callable
from typing import BinaryIO

MAX_LINE = 256 * 1024  # longer lines are cut here for parsing, counted, and never crash
_GZIP_MAGIC = b"\x1f\x8b"
_BZ2_MAGIC = b"BZh"
_XZ_MAGIC = b"\xfd7zXZ\x00"
_ROTATION_RE = re.compile(r"\.(\d+)(?:\.(?:gz|bz2|xz))?\Z")
_DATED_RE = re.compile(r"-(\d{8})(?:\.(?:gz|bz2|xz))?\Z")


# What a damaged or truncated compressed file raises while being read.
READ_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError)


class SourceError(Exception):
    """A log file that cannot be read, explained for the user."""


def compression_of(path: str) -> str:
    """'gz', 'bz2', 'xz' or '' — from the file's magic bytes, not its name."""
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as exc:
        raise SourceError(f"Cannot read {path}: {exc.strerror}.") from exc
    if magic.startswith(_GZIP_MAGIC):
        return "gz"
    if magic.startswith(_BZ2_MAGIC):
        return "bz2"
    if magic.startswith(_XZ_MAGIC):
        return "xz"
    return ""


def is_compressed(path: str) -> bool:
    """Whether the file is gzip, bzip2 or xz (such a file never grows: its last line is final)."""
    return compression_of(path) != ""


def open_log(path: str) -> BinaryIO:
    """Open a log file for binary reading, decompressing .gz/.bz2/.xz transparently."""
    kind = compression_of(path)
    try:
        if kind == "gz":
            return gzip.open(path, "rb")  # type: ignore[return-value]
        if kind == "bz2":
            return bz2.open(path, "rb")  # type: ignore[return-value]
        if kind == "xz":
            return lzma.open(path, "rb")  # type: ignore[return-value]
        return open(path, "rb", buffering=1024 * 1024)
    except OSError as exc:
        raise SourceError(f"Cannot read {path}: {exc.strerror or exc}.") from exc


def read_head(path: str, size: int) -> bytes:
    with open_log(path) as f:
        try:
            return f.read(size)
        except READ_ERRORS as exc:
            raise SourceError(f"Cannot read {path}: it is damaged or not a log ({exc}).") from exc


def finish_line(readline: Callable[[int], bytes], chunk: bytes, final: bool) -> tuple[bytes, int, bool] | None:
    """The line that ``chunk`` begins, when readline(MAX_LINE) gave it without a newline at its end:
    (the line, the bytes it takes with its newline, whether it was oversize), or None at the end of the
    file (an empty chunk) and for a last line without its newline yet, held back unless ``final``.

    An oversize line keeps its start; the rest up to the newline is read and skipped. The ingest reads
    every other line itself (Ingestor._consume).
    """
    if not chunk:
        return None
    if len(chunk) < MAX_LINE:
        return (chunk, len(chunk), False) if final else None
    consumed = len(chunk)
    ended = False
    while True:
        more = readline(MAX_LINE)
        if not more:
            break
        consumed += len(more)
        if more[-1:] == b"\n":
            ended = True
            break
    if not ended and not final:
        return None
    return chunk, consumed, True


def first_time(path: str) -> int | None:
    """The time of the first dated line of an Exim or Postfix log (None when none in its first 200 lines)."""
    from .parse import exim, postfix  # here: commands that only read the database do not need the parsers

    try:
        year = time.localtime(os.path.getmtime(path)).tm_year
        with open_log(path) as f:
            for _ in range(200):
                raw = f.readline(MAX_LINE)
                if not raw:
                    break
                text = raw.decode("utf-8", "replace")
                when = exim.parse_exim_line(text).time
                if when is None:
                    # Classic syslog stamps have no year: the file's own year is the best guess for a first line.
                    when = postfix.parse_postfix_line(text, year_hint=year).time
                if when is not None:
                    return int(when)
    except (*READ_ERRORS, SourceError):
        return None
    return None


def _name_age(path: str) -> tuple[int, str]:
    """Older rotations sort first: exim_mainlog.3.gz < exim_mainlog.1 < exim_mainlog; -20261101 by date."""
    name = os.path.basename(path)
    m = _ROTATION_RE.search(name)
    if m:
        return -int(m.group(1)), ""
    m = _DATED_RE.search(name)
    if m:
        return -10**6, m.group(1)
    return 0, ""


def order_by_time(paths: list[str]) -> list[str]:
    """Order a rotated set oldest first: by the first timestamp in each file, then by rotation name."""
    keyed = []
    for index, path in enumerate(paths):
        first = first_time(path)
        keyed.append((first if first is not None else float("inf"), _name_age(path), index, path))
    keyed.sort()
    return [k[-1] for k in keyed]
