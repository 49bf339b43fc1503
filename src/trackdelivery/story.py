"""One message's whole story (every event, explanations, linked bounce/original, raw lines) and stats."""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, field
from typing import Any

from . import explain
from .record import EVENT_TYPES, DeliveryEvent
from .search import Scope, SearchFilter, iter_events


@dataclass(slots=True)
class MessageStory:
    msgid: str
    events: list[DeliveryEvent]
    explanations: dict[int, explain.Explanation]  # index into events → explanation
    linked: list[str] = field(default_factory=list)  # bounces of this message, or its original
    raw_lines: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "msgid": self.msgid,
            "events": [
                {**asdict(e), "advice": self.explanations[i].advice if i in self.explanations else ""}
                for i, e in enumerate(self.events)
            ],
            "linked": self.linked,
            "raw_lines": self.raw_lines,
        }


def message_story(db: sqlite3.Connection, msgid: str, scope: Scope | None = None) -> MessageStory | None:
    """The story of ``msgid`` as the caller (``scope``) may see it; None when nothing is visible."""
    f = SearchFilter(msgid=msgid, limit=0, sort="actionunixtime", ascending=True, scope=scope)
    events = [e for e in iter_events(db, f) if e.msgid == msgid]
    if not events:
        return None
    explanations = {
        i: explain.explain(e.message) for i, e in enumerate(events) if e.type in ("defer", "failure", "rejected")
    }
    linked: list[str] = []
    parents = {e.parent_msgid for e in events if e.parent_msgid}
    linked.extend(sorted(parents))
    for (child,) in db.execute(
        "SELECT DISTINCT msgid FROM messages WHERE parent_msgid = ? ORDER BY id", (msgid,)
    ):
        linked.append(child)
    raw: list[str] = []
    for (text,) in db.execute("SELECT raw FROM messages WHERE msgid = ? ORDER BY id", (msgid,)):
        raw.extend(text.split("\n") if text else [])
    if not raw:
        raw = [line for (line,) in db.execute(
            "SELECT raw FROM events WHERE msgid = ? AND raw IS NOT NULL ORDER BY id", (msgid,))]
    return MessageStory(msgid, events, explanations, linked, raw)


def stats(db: sqlite3.Connection, since: int | None = None, until: int | None = None) -> dict[str, Any]:
    """{"messages": N, "events": {type: N}, "lines": N, "unparsed": N} — lines count all files read."""
    conditions, params = [], []
    if since is not None:
        conditions.append("actionunixtime >= ?")
        params.append(since)
    if until is not None:
        conditions.append("actionunixtime <= ?")
        params.append(until)
    where = (" WHERE " + " AND ".join(conditions)) if conditions else ""
    events = {t: 0 for t in EVENT_TYPES}
    for type_, n in db.execute("SELECT type, count(*) FROM events" + where + " GROUP BY type", params):
        events[type_] = n
    mwhere = where.replace("actionunixtime", "sendunixtime")
    mcond = " AND " if mwhere else " WHERE "
    messages = db.execute(
        "SELECT count(*) FROM messages" + mwhere + mcond + "sendunixtime IS NOT NULL", params
    ).fetchone()[0]
    lines, unparsed = db.execute("SELECT coalesce(sum(lines), 0), coalesce(sum(unparsed), 0) FROM files").fetchone()
    return {"messages": messages, "events": events, "lines": lines, "unparsed": unparsed}
