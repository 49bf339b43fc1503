"""One message's whole story (every event, explanations, linked bounce/original, raw lines) and stats."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .record import EVENT_TYPES, DeliveryEvent
from .search import Scope, SearchFilter, build_where, iter_events, source
from .store.schema import EVENT_RECORDS, PARTIAL_INDEXES
from .store.sqlite import message_lines

if TYPE_CHECKING:
    from . import explain


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
    from . import explain  # here: a search or a page of results has no need of its rules

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
    for (message_id,) in db.execute("SELECT id FROM messages WHERE msgid = ? ORDER BY id", (msgid,)):
        raw.extend(message_lines(db, message_id))
    if not raw:
        raw = [line for (line,) in db.execute(
            f"SELECT raw FROM events WHERE msgid = ? AND {PARTIAL_INDEXES['msgid']} AND raw IS NOT NULL ORDER BY id",  # noqa: S608 - constants
            (msgid,))]
    if scope is not None:
        linked = [m for m in linked if _visible(db, m, scope)]
        raw = _hide_other_recipients(db, msgid, events, raw)
    return MessageStory(msgid, events, explanations, linked, raw)


def _visible(db: sqlite3.Connection, msgid: str, scope: Scope) -> bool:
    return any(e.msgid == msgid for e in iter_events(db, SearchFilter(msgid=msgid, limit=0, scope=scope)))


HIDDEN_ADDRESS = "(another recipient)"


def _hide_other_recipients(
    db: sqlite3.Connection, msgid: str, visible: list[DeliveryEvent], raw: list[str]
) -> list[str]:
    """Raw lines as a tenant may see them when it sees only some recipients of a message.

    Delivery lines for the other recipients are left out, and their addresses in the arrival line
    ("<= sender ... for a@x b@y") are replaced, so one tenant never learns who else got the mail.
    """
    everyone = [e for e in iter_events(db, SearchFilter(msgid=msgid, limit=0)) if e.msgid == msgid]
    seen = {a.lower() for e in visible for a in (e.recipient, e.deliveredto, e.email, e.sender) if a}
    hidden = {a.lower() for e in everyone for a in (e.recipient, e.deliveredto) if a} - seen
    if not hidden:
        return raw
    pattern = re.compile(
        r"(?<![\w.+-])(?:" + "|".join(re.escape(a) for a in sorted(hidden, key=len, reverse=True)) + r")(?![\w.-])",
        re.IGNORECASE,
    )
    lines = []
    for line in raw:
        if not pattern.search(line):
            lines.append(line)
        elif " <= " in line:
            lines.append(pattern.sub(HIDDEN_ADDRESS, line))
    return lines


def event_raw_line(db: sqlite3.Connection, event_id: int) -> str | None:
    """The log line stored with an event that has no message (an SMTP-time rejection)."""
    row = db.execute("SELECT raw FROM events WHERE id = ?", (event_id,)).fetchone()
    return row[0] if row else None


def stats(
    db: sqlite3.Connection, since: int | None = None, until: int | None = None, scope: Scope | None = None
) -> dict[str, Any]:
    """{"messages": N, "events": {type: N}, "lines": N, "unparsed": N} — lines count all files read.

    With a ``scope`` the counts cover only the mail the caller may see, and the server-wide log line
    counts are None.
    """
    if scope is not None:
        return _scoped_stats(db, since, until, scope)
    conditions, params = [], []
    if since is not None:
        conditions.append("actionunixtime >= ?")
        params.append(since)
    if until is not None:
        conditions.append("actionunixtime <= ?")
        params.append(until)
    where = (" WHERE " + " AND ".join(conditions)) if conditions else ""
    events = {t: 0 for t in EVENT_TYPES}
    for type_, n in db.execute("SELECT type, count(*) FROM events" + where + " GROUP BY type", params):  # noqa: S608 - constant SQL text, values bound
        events[type_] = n
    mwhere = where.replace("actionunixtime", "sendunixtime")
    mcond = " AND " if mwhere else " WHERE "
    messages = db.execute(
        "SELECT count(*) FROM messages" + mwhere + mcond + "sendunixtime IS NOT NULL", params  # noqa: S608 - constant SQL text, values bound
    ).fetchone()[0]
    lines, unparsed = db.execute("SELECT coalesce(sum(lines), 0), coalesce(sum(unparsed), 0) FROM files").fetchone()
    return {"messages": messages, "events": events, "lines": lines, "unparsed": unparsed}


def _scoped_stats(db: sqlite3.Connection, since: int | None, until: int | None, scope: Scope) -> dict[str, Any]:
    # search builds the WHERE clause, scope included; one pass counts every type.
    f = SearchFilter(since=since, until=until, limit=0, scope=scope)
    where, params = build_where(f)
    events = {t: 0 for t in EVENT_TYPES}
    sql = f"SELECT type, count(*) FROM {source(f)}" + where + " GROUP BY type"  # noqa: S608 - values are bound
    for type_, n in db.execute(sql, params):
        events[type_] = n
    sql = f"SELECT count(DISTINCT msgid) FROM {EVENT_RECORDS}" + where  # noqa: S608 - values are bound
    messages = db.execute(sql + " AND msgid != '' AND sendunixtime IS NOT NULL", params).fetchone()[0]
    return {"messages": messages, "events": events, "lines": None, "unparsed": None}
