"""Events as CSV, JSON or NDJSON text, streamed in chunks: shared by ``trackdelivery search`` and the web export."""

from __future__ import annotations

import csv
import functools
import io
import json
from collections.abc import Iterable, Iterator
from operator import attrgetter
from typing import Any

from .record import EVENT_FIELDS, DeliveryEvent

EXPORT_FORMATS: tuple[str, ...] = ("csv", "json", "ndjson")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json", "ndjson": "application/x-ndjson"}
CHUNK_CHARS = 64 * 1024  # one write to the socket per ~64 KiB, not one per row


_values = attrgetter(*EVENT_FIELDS)  # dataclasses.asdict copies deeply and is ~10x slower per row


def event_dict(e: DeliveryEvent) -> dict[str, Any]:
    return dict(zip(EVENT_FIELDS, _values(e), strict=True))


_FORMULA_START = frozenset("=+-@\t\r")


def csv_safe(value: Any) -> Any:
    # Log text is attacker-controlled: keep spreadsheets from running "=cmd|..." as a formula.
    if value.__class__ is str and value[:1] in _FORMULA_START:
        return _defused(value)
    return "" if value is None else value


@functools.lru_cache(maxsize=4096)  # the same few values ("-remote-") come back on most rows
def _defused(value: str) -> str:
    return value if _is_number(value) else "'" + value


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _json_pieces(events: Iterable[DeliveryEvent]) -> Iterator[str]:
    yield "["
    n = 0
    for e in events:
        yield ("," if n else "") + "\n" + json.dumps(event_dict(e), ensure_ascii=False)
        n += 1
    yield "\n]\n" if n else "]\n"


def _ndjson_pieces(events: Iterable[DeliveryEvent]) -> Iterator[str]:
    for e in events:
        yield json.dumps(event_dict(e), ensure_ascii=False) + "\n"


def _csv_pieces(events: Iterable[DeliveryEvent]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EVENT_FIELDS)
    for n, e in enumerate(events, 1):
        writer.writerow([csv_safe(value) for value in _values(e)])
        if n % 256 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def iter_export(events: Iterable[DeliveryEvent], fmt: str) -> Iterator[str]:
    """The text of ``events`` in ``fmt`` (csv, json or ndjson), as it streams, in pieces of any size."""
    if fmt == "json":
        return _json_pieces(events)
    if fmt == "ndjson":
        return _ndjson_pieces(events)
    if fmt == "csv":
        return _csv_pieces(events)
    raise ValueError(f"Unknown export format {fmt!r}: use {', '.join(EXPORT_FORMATS)}.")


def chunked(pieces: Iterable[str], size: int = CHUNK_CHARS) -> Iterator[str]:
    """Join small pieces into chunks of about ``size`` characters."""
    parts: list[str] = []
    length = 0
    for piece in pieces:
        parts.append(piece)
        length += len(piece)
        if length >= size:
            yield "".join(parts)
            parts, length = [], 0
    if parts:
        yield "".join(parts)
