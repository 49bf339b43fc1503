"""One database connection per request (SQLite in WAL mode lets them read while an ingest writes)."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Request

from ..store.sqlite import Store, StoreError
from .errors import ApiError

WRITE_WAIT_MS = 5000  # a request waits this long for an ingest's write to finish (reads never wait in WAL)


def connect(db_path: str) -> Store:
    try:
        store = Store(db_path)
    except StoreError as exc:
        raise ApiError(503, str(exc)) from exc
    store.db.execute(f"PRAGMA busy_timeout = {WRITE_WAIT_MS}")
    return store


def open_store(request: Request) -> Iterator[Store]:
    """FastAPI dependency: the request's store, closed when the request is done."""
    store = connect(request.app.state.db_path)
    try:
        yield store
    finally:
        store.close()
