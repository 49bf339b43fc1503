"""The JSON API under /api/v1: search, "new events", one message, one event, stats, export, and the
address trace.

Same filters and field names as ``trackdelivery search``; every query goes through search.py with the
caller's scope, so an account never sees, counts or exports another tenant's mail (nor traces its
addresses: tracing.py).
"""

from __future__ import annotations

import enum
import re
import time
from collections.abc import Iterator
from datetime import datetime
from itertools import chain
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from .. import explain, search, trace
from ..export import MEDIA_TYPES, chunked, event_dict, iter_export
from ..record import EVENT_FIELDS, EVENT_TYPES, DeliveryEvent
from ..search import SearchError, SearchFilter
from ..store.sqlite import Store
from ..story import event_raw_line, message_story, stats
from . import models, tracing
from .auth import Caller, api_caller
from .database import connect, open_store
from .errors import ApiError
from .ratelimit import CallLimiter

EXPLAINED_TYPES = ("defer", "failure", "rejected")
MAX_LIMIT = 1000
MAX_INT = 2**62  # bigger numbers cannot be SQLite integers
_EPOCH = re.compile(r"-?\d{1,12}")

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": models.ErrorAnswer, "description": "A filter that cannot be used; the error says why."},
    401: {"model": models.ErrorAnswer, "description": "Not logged in, or a wrong or revoked API token."},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": models.ErrorAnswer, "description": "Not found, or not yours to see."}
}

router = APIRouter(prefix="/api/v1", responses=_ERRORS)

CallerDep = Annotated[Caller, Depends(api_caller)]
StoreDep = Annotated[Store, Depends(open_store)]


def parse_when(value: str | None, name: str) -> int | None:
    """ISO date, ISO date-time or epoch seconds → epoch seconds (server local time when no zone is given)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if _EPOCH.fullmatch(text):
        return int(text)
    try:
        return int(datetime.fromisoformat(text).timestamp())
    except (ValueError, OverflowError, OSError):
        raise ApiError(400, f"{name} {value[:40]!r} is not a date: use 2026-11-01, 2026-11-01T13:00 "
                            "or epoch seconds.") from None


def parse_types(value: str | None) -> tuple[str, ...]:
    if value is None:
        return EVENT_TYPES
    chosen = tuple(dict.fromkeys(t.strip() for t in value.split(",") if t.strip()))
    unknown = [t for t in chosen if t not in EVENT_TYPES]
    if unknown:
        raise ApiError(400, f"Unknown event type {unknown[0][:40]!r}: use {', '.join(EVENT_TYPES)}.")
    if not chosen:
        raise ApiError(400, "Choose at least one event type.")
    return chosen


def search_filter(
    caller: CallerDep,
    q: Annotated[str | None, Query(max_length=1000, description=(
        "Recipient or sender address: the page's search box (recipient, final mailbox, envelope sender "
        "or authenticated sender)."))] = None,
    recipient: Annotated[str | None, Query(max_length=1000, description=(
        "Recipient address (as sent, or the final mailbox)."))] = None,
    sender: Annotated[str | None, Query(max_length=1000, description=(
        "Sender: envelope From address or authenticated user."))] = None,
    email: Annotated[str | None, Query(max_length=1000, description="Envelope sender (From Address) only.")] = None,
    domain: Annotated[str | None, Query(max_length=1000, description="Mail from or to this domain.")] = None,
    msgid: Annotated[str | None, Query(max_length=1000, description=(
        "Message (queue) id; also finds its bounces."))] = None,
    host: Annotated[str | None, Query(max_length=1000, description="Remote host or sending host name.")] = None,
    ip: Annotated[str | None, Query(max_length=1000, description="Remote or sending IP address.")] = None,
    text: Annotated[str | None, Query(max_length=1000, description=(
        "Text in the result, subject or addresses (always 'contains')."))] = None,
    match: Annotated[Literal["exact", "begins", "contains"], Query(description=(
        "How address, id, host and IP filters match (case-insensitive)."))] = "exact",
    types: Annotated[str | None, Query(max_length=1000, description=(
        "Comma-separated event types: " + ",".join(EVENT_TYPES) + ". Default: all."))] = None,
    since: Annotated[str | None, Query(max_length=64, description=(
        "From this time: 2026-11-01, 2026-11-01T13:00, with an optional zone, or epoch seconds."))] = None,
    until: Annotated[str | None, Query(max_length=64, description=(
        "Up to this time (same forms as since; a date alone means its midnight)."))] = None,
) -> SearchFilter:
    return SearchFilter(
        address=q or None, recipient=recipient or None, sender=sender or None, email=email or None,
        domain=domain or None, msgid=msgid or None, host=host or None, ip=ip or None, text=text or None,
        match=match, types=parse_types(types), since=parse_when(since, "since"),
        until=parse_when(until, "until"), scope=caller.scope,
    )


FilterDep = Annotated[SearchFilter, Depends(search_filter)]
SortField = enum.Enum("SortField", {name: name for name in EVENT_FIELDS}, type=str)  # type: ignore[misc]
Sort = Annotated[SortField, Query(description="Record field to sort by, e.g. actionunixtime.")]
DEFAULT_SORT = SortField(search.DEFAULT_SORT)
Order = Annotated[Literal["asc", "desc"], Query(description="desc: newest (largest) first.")]


def event_json(event_id: int, e: DeliveryEvent) -> dict[str, Any]:
    return {"event_id": event_id, **event_dict(e)}


def _bad_filter(exc: SearchError) -> ApiError:
    return ApiError(400, str(exc))


@router.get("/search", summary="Search delivery events", response_model=None,
            responses={200: {"model": models.SearchAnswer}})
def search_events(
    caller: CallerDep,
    store: StoreDep,
    f: FilterDep,
    sort: Sort = DEFAULT_SORT,
    order: Order = "desc",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows per page (at most 1000).")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_INT, description="Rows to skip (paging).")] = 0,
) -> JSONResponse:
    """Matching events, one page of them, with the total and the largest event id you can see
    (``last_id``: pass it to /api/v1/new to learn whether new events arrived)."""
    f.sort, f.ascending, f.limit, f.offset = sort.value, order == "asc", limit, offset
    try:
        total = search.count(store.db, f)
        events = [event_json(i, e) for i, e in search.iter_rows(store.db, f)]
    except SearchError as exc:
        raise _bad_filter(exc) from None
    last = search.last_id(store.db, SearchFilter(scope=caller.scope))
    return JSONResponse({"total": total, "limit": limit, "offset": offset, "last_id": last, "events": events})


@router.get("/new", summary="Count events newer than an event id", response_model=None,
            responses={200: {"model": models.NewAnswer}})
def new_events(
    caller: CallerDep,
    store: StoreDep,
    f: FilterDep,
    after_id: Annotated[int, Query(ge=0, le=MAX_INT, description="The last_id of your previous answer.")],
) -> JSONResponse:
    """How many events matching the filters were stored after ``after_id``, and the new ``last_id``."""
    f.after_id = after_id
    try:
        n = search.count(store.db, f)
    except SearchError as exc:
        raise _bad_filter(exc) from None
    return JSONResponse({"count": n, "last_id": search.last_id(store.db, SearchFilter(scope=caller.scope))})


@router.get("/messages/{msgid}", summary="One message's whole story", response_model=None,
            responses={200: {"model": models.MessageStoryAnswer}, **_NOT_FOUND})
def message(caller: CallerDep, store: StoreDep, msgid: Annotated[str, Path(max_length=1000)]) -> JSONResponse:
    """Every event of the message you can see (with advice), linked bounces or original, raw log lines."""
    story = message_story(store.db, msgid, caller.scope)
    if story is None:
        raise ApiError(404, f"There is no message with id {msgid[:40]!r}.")
    return JSONResponse(story.to_dict())


@router.get("/events/{event_id}", summary="One event with its explanation and its message", response_model=None,
            responses={200: {"model": models.EventAnswer}, **_NOT_FOUND})
def event(caller: CallerDep, store: StoreDep, event_id: Annotated[int, Path(ge=0, le=MAX_INT)]) -> JSONResponse:
    """Every field, the plain-language explanation of the result, the message's story and raw log lines."""
    rows = list(search.iter_rows(store.db, SearchFilter(event_id=event_id, limit=1, scope=caller.scope)))
    if not rows:
        raise ApiError(404, f"There is no event with id {event_id}.")
    _, e = rows[0]
    why = explain.explain(e.message, e.dsn) if e.type in EXPLAINED_TYPES else explain.NOTHING_TO_EXPLAIN
    story = message_story(store.db, e.msgid, caller.scope) if e.msgid else None
    if story is not None:
        raw_lines = story.raw_lines
    else:
        raw = event_raw_line(store.db, event_id)
        raw_lines = raw.split("\n") if raw else []
    return JSONResponse({
        "event": event_json(event_id, e),
        "explanation": {"reason": why.reason, "reason_text": why.reason_text, "advice": why.advice},
        "story": story.to_dict() if story is not None else None,
        "raw_lines": raw_lines,
    })


@router.get("/stats", summary="Counts of messages and events", response_model=None,
            responses={200: {"model": models.StatsAnswer}})
def statistics(
    request: Request,
    caller: CallerDep,
    store: StoreDep,
    since: Annotated[str | None, Query(max_length=64, description="From this time.")] = None,
    until: Annotated[str | None, Query(max_length=64, description="Up to this time.")] = None,
) -> JSONResponse:
    """Messages and events by type that you can see; log line counts only for admins; retention period."""
    result = stats(store.db, parse_when(since, "since"), parse_when(until, "until"), caller.scope)
    result["retention_days"] = request.app.state.config.retention_days
    return JSONResponse(result)


@router.get("/export", summary="Export the events of a search", response_model=None,
            responses={200: {"description": "CSV, JSON array or NDJSON, streamed.",
                             "content": {MEDIA_TYPES["csv"]: {}, MEDIA_TYPES["ndjson"]: {}}}})
def export(
    request: Request,
    f: FilterDep,
    format: Annotated[Literal["csv", "json", "ndjson"], Query(description="File format.")] = "csv",
    sort: Sort = DEFAULT_SORT,
    order: Order = "desc",
) -> StreamingResponse:
    """Every matching event (no row cap), streamed as a download."""
    f.sort, f.ascending, f.limit, f.offset = sort.value, order == "asc", 0, 0
    store = connect(request.app.state.db_path)
    try:
        rows = search.iter_events(store.db, f)
        first = next(rows, None)
    except SearchError as exc:
        store.close()
        raise _bad_filter(exc) from None
    except BaseException:
        store.close()
        raise

    def body() -> Iterator[str]:
        try:
            events = chain((first,), rows) if first is not None else iter(())
            yield from chunked(iter_export(events, format))
        finally:
            store.close()

    filename = f"trackdelivery-{time.strftime('%Y%m%d-%H%M%S')}.{format}"
    return StreamingResponse(body(), media_type=MEDIA_TYPES[format],
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/trace", summary="Where mail to an address would go", response_model=None, responses={
    200: {"model": models.TraceAnswer},
    400: {"model": models.ErrorAnswer, "description": "Not one plain address (nothing is run); the error says why."},
    403: {"model": models.ErrorAnswer, "description": "Not an address of your own domains (or your own address)."},
    429: {"model": models.ErrorAnswer, "description": "Too many traces in a short time, or too many at once."},
    503: {"model": models.ErrorAnswer, "description": (
        "The mail server could not be asked: trace turned off, no MTA installed, no answer in time.")},
})
def address_trace(
    request: Request,
    caller: CallerDep,
    address: Annotated[str, Query(max_length=1000, description=(
        "The address to trace, e.g. bob@example.com. Admins may trace any; other users their own "
        "domains' addresses (a mailbox user its own address)."))],
) -> JSONResponse:
    """Ask the local mail server where mail to ``address`` would go (like cPanel's Email Address Trace):
    the aliases and forwarders it passes through, and where each branch ends: a mailbox on this server,
    another server (its hosts in order), a program, a file, or why it would bounce. Nothing is sent.
    The answer has the shape of ``trackdelivery trace --format json``."""
    settings = request.app.state.config.trace
    if not settings.enabled:
        raise ApiError(503, tracing.TURNED_OFF)
    address = address.strip()
    problem = tracing.address_problem(address)
    if problem:
        raise ApiError(400, problem)
    problem = tracing.scope_problem(address, caller.scope)
    if problem:
        raise ApiError(403, problem)
    limiter: CallLimiter = request.app.state.trace_limiter
    refusal = limiter.start(str(caller.user.id))
    if refusal is not None:
        raise ApiError(429, refusal.message, {"Retry-After": str(refusal.retry_after)})
    try:
        result = trace.trace_address(address, settings.config_file or None, tracing.tracers_for(settings),
                                     mta=settings.mta)
    except trace.TraceError as exc:
        raise ApiError(503, str(exc)) from None
    finally:
        limiter.finish()
    return JSONResponse(tracing.answer_for(result, caller.scope))
