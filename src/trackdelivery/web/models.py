"""The shapes of the API's answers, for the OpenAPI description (field names are DESIGN.md's record fields)."""

from __future__ import annotations

from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, create_model

from ..record import EVENT_FIELDS, DeliveryEvent

_HINTS = get_type_hints(DeliveryEvent)
_FIELDS: dict[str, Any] = {name: (_HINTS[name], ...) for name in EVENT_FIELDS}

Event = create_model("Event", __config__=ConfigDict(extra="forbid"), event_id=(int, ...), **_FIELDS)
StoryEvent = create_model("StoryEvent", __config__=ConfigDict(extra="forbid"), advice=(str, ...), **_FIELDS)


class ErrorAnswer(BaseModel):
    error: str


class SearchAnswer(BaseModel):
    total: int
    limit: int
    offset: int
    last_id: int
    events: list[Event]  # type: ignore[valid-type]


class NewAnswer(BaseModel):
    count: int
    last_id: int


class MessageStoryAnswer(BaseModel):
    msgid: str
    events: list[StoryEvent]  # type: ignore[valid-type]
    linked: list[str]
    raw_lines: list[str]


class ExplanationAnswer(BaseModel):
    reason: str
    reason_text: str
    advice: str


class EventAnswer(BaseModel):
    event: Event  # type: ignore[valid-type]
    explanation: ExplanationAnswer
    story: MessageStoryAnswer | None
    raw_lines: list[str]


class StatsAnswer(BaseModel):
    messages: int
    events: dict[str, int]
    lines: int | None
    unparsed: int | None
    retention_days: int


class TraceHostAnswer(BaseModel):
    name: str
    ip: str
    mx: int | None
    port: int | None
    usable: bool
    notes: list[str]


class TraceNodeAnswer(BaseModel):
    """An address and what happens to it; ``kind`` is local, remote, pipe, file, autoreply, discarded,
    undeliverable, deferred, or redirect (an alias or forwarder, with ``children``)."""

    address: str
    kind: str
    router: str | None = None
    transport: str | None = None
    driver: str | None = None
    hosts: list[TraceHostAnswer] | None = None
    error: str | None = None
    duplicate: bool | None = None
    hidden: bool | None = None  # another tenant's alias: where it leads is not shown
    children: list[TraceNodeAnswer] | None = None


class TraceAnswer(BaseModel):
    address: str
    mta: str
    command: list[str]
    status: str  # deliverable, discarded, undeliverable or deferred
    tree: TraceNodeAnswer
