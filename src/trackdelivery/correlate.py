"""Correlator: turns parsed Exim lines into delivery events, per message id, across files and days.

Open messages live in a bounded LRU cache; everything is written through to the store, so an evicted
message is simply loaded again when one of its lines turns up later.
"""

from __future__ import annotations

import math
import os
import re
import types
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import fields

from . import explain as explain_mod
from .parse import exim as px
from .record import (
    ARCHIVE,
    DEFER,
    EVENT_FIELDS,
    FAILURE,
    FILTERED,
    INPROGRESS,
    REJECTED,
    SUCCESS,
    DeliveryEvent,
)
from .state import Batch, MessageState

__all__ = ["Batch", "Correlator", "MessageState"]  # Batch and MessageState live in state.py since they moved

BYPASSED_TRANSPORT = "**bypassed**"
BLACKHOLE = ":blackhole:"
ACL_BLACKHOLE = "blackhole"
ARCHIVER_PREFIX = "archiver_"
INPROGRESS_MESSAGE = "In the queue: not delivered yet"
RETRY_MESSAGE = "In the queue: the last attempt was deferred, the server will try again"
ACCEPTED_MESSAGE = "Accepted"
_DURATION_RE = re.compile(r"([0-9]+)([wdhms])")
# What SQLite's INTEGER and a JSON number both hold exactly: larger numbers in a line are not stored.
MAX_STORED_INT = 2**53
MAX_DIGITS = 15  # numbers of at most 15 digits are below it; longer ones are not even converted
_DURATION_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


MessageLoader = Callable[[str], "MessageState | None"]

_BASE62 = {c: i for i, c in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")}
# Log times are local and Exim ids are UTC: allow for the widest time zone offset.
_ZONE_SLACK = 15 * 3600
_MAX_EVICTED = 100_000


def id_time(msgid: str) -> int:
    """The arrival time Exim encodes in the first six base-62 characters of every message id."""
    value = 0
    for c in msgid[:6]:
        value = value * 62 + _BASE62.get(c, 0)
    return value


def parse_duration(value: str) -> int | None:
    """Exim's QT=/DT= durations: '1m38s' → 98; None for none, or one too long to be true."""
    total = 0
    found = False
    for n, unit in _DURATION_RE.findall(value):
        if len(n) > MAX_DIGITS:
            return None
        total += int(n) * _DURATION_UNITS[unit]
        found = True
    return total if found and total < MAX_STORED_INT else None


def _int(value: str | None) -> int | None:
    """S=1234 → 1234; None for anything but ASCII digits, or a number too large to store."""
    if value and len(value) <= MAX_DIGITS and value.isascii() and value.isdigit():
        return int(value)
    return None


def _host_fields(value: str | None) -> tuple[str, str]:
    """H= value → (host name or HELO, IP)."""
    if not value:
        return "", ""
    name, helo, ip, _port = px.split_host(value)
    return name or helo, ip


def _strip_angle(value: str) -> str:
    if value.startswith("<") and value.endswith(">"):
        return value[1:-1]
    return value


class Correlator:
    """Feeds parsed lines, collects a :class:`Batch` of changes for the store."""

    # Slots, not an instance dict: the compiled feeds read these on every line (correlate.c).
    __slots__ = ("_load", "_horizon", "_evicted", "_next_message_id", "_next_event_id", "server", "cache_size",
                 "_cache", "batch", "events_by_type")  # fmt: skip

    def __init__(
        self,
        load_message: MessageLoader,
        next_message_id: int,
        next_event_id: int,
        server: str = "",
        cache_size: int = 20_000,
        stored_until: int | None = None,
    ) -> None:
        """``stored_until``: the latest time of any message already in the store (None: the store is empty).

        A message whose id encodes a later arrival cannot be in the store yet, which spares a lookup
        for almost every new message.
        """
        self._load = load_message
        self._horizon = -1 if stored_until is None else stored_until + _ZONE_SLACK
        # Ids that left the cache during this run, the _MAX_EVICTED most recent, oldest first. An OrderedDict:
        # a plain dict's next(iter()) walks past the slots of every key deleted from its front since it was
        # last resized, which made each eviction cost thousands of steps (2 s per 1M-line log).
        self._evicted: OrderedDict[str, None] = OrderedDict()
        self._next_message_id = next_message_id
        self._next_event_id = next_event_id
        self.server = server
        self.cache_size = cache_size
        self._cache: OrderedDict[str, MessageState] = OrderedDict()
        self.batch = Batch()
        self.events_by_type: dict[str, int] = {}

    # -- ids shared by the correlators of one ingest (one per log format, one store) ---------

    def continue_ids_from(self, other: Correlator) -> None:
        """Number new messages and events on from where ``other`` stopped, so store ids never collide.

        Call it when switching from one correlator to another, after ``other``'s batch was taken.
        """
        self._next_message_id = other._next_message_id
        self._next_event_id = other._next_event_id

    # -- state -------------------------------------------------------------------------------

    def take_batch(self) -> Batch:
        """The changes since the last call, with "inprogress" events for every recipient still waiting."""
        batch, self.batch = self.batch, Batch()
        added = 0
        for state in batch.messages.values():
            for entry in state.pending.values():
                if entry[1] is None:
                    event = self._event_for(state, INPROGRESS, state.sendunixtime or state.lastunixtime, entry[0])
                    event.message = entry[2]
                    event.queue_time = None
                    event_id = self._next_event_id
                    self._next_event_id += 1
                    batch.events[event_id] = event
                    batch.event_message[event_id] = state.id
                    entry[1] = event_id
                    added += 1
        self.events_by_type[INPROGRESS] = self.events_by_type.get(INPROGRESS, 0) + added
        return batch

    def _new_message(self, msgid: str) -> MessageState:
        state = MessageState(id=self._next_message_id, msgid=msgid, server=self.server)
        self._next_message_id += 1
        self._remember(state)
        return state

    def _remember(self, state: MessageState) -> None:
        cache = self._cache
        cache[state.msgid] = state
        cache.move_to_end(state.msgid)
        while len(cache) > self.cache_size:
            self._forget(cache.popitem(last=False)[0])

    def _forget(self, msgid: str) -> None:
        evicted = self._evicted
        evicted.pop(msgid, None)
        evicted[msgid] = None
        if len(evicted) > _MAX_EVICTED:
            # Bound the memory: forget the longest-gone id, and look up every id as old as it from now on.
            # (Comparing two ids' times: no time zone slack. Ids evicted since are newer and mostly are
            # not looked up, where "look up everything within the zone slack of the latest line" made
            # half the messages of a 1M-line log cost a lookup that found nothing.)
            oldest = evicted.popitem(last=False)[0]
            self._horizon = max(self._horizon, id_time(oldest))

    def _message(self, msgid: str) -> MessageState:
        cache = self._cache
        state = cache.get(msgid)
        if state is not None:
            cache.move_to_end(msgid)
            return state
        state = self.batch.by_msgid.get(msgid)  # left the cache, not yet committed
        if state is None and (msgid in self._evicted or (self._horizon >= 0 and id_time(msgid) <= self._horizon)):
            state = self._load(msgid)
        if state is None:
            return self._new_message(msgid)
        self._remember(state)
        return state

    def _touch(self, state: MessageState, when: int | None) -> None:
        if when is not None and (state.lastunixtime is None or when > state.lastunixtime):
            state.lastunixtime = when
        self.batch.messages[state.id] = state
        self.batch.by_msgid[state.msgid] = state

    def _add_event(self, event: DeliveryEvent, message_ref: int | None) -> int:
        event_id = self._next_event_id
        self._next_event_id += 1
        self.batch.events[event_id] = event
        self.batch.event_message[event_id] = message_ref
        self.events_by_type[event.type] = self.events_by_type.get(event.type, 0) + 1
        return event_id

    def _drop_pending(self, entry: list) -> None:  # type: ignore[type-arg]
        """A recipient stopped waiting: delete its stored "inprogress" event, if it has one."""
        event_id = entry[1]
        if event_id is not None:
            self.batch.deleted_events.append(event_id)
            self.batch.updated_messages_text.pop(event_id, None)
            self.events_by_type[INPROGRESS] = self.events_by_type.get(INPROGRESS, 0) - 1

    def _set_text(self, entry: list, text: str) -> None:  # type: ignore[type-arg]
        entry[2] = text
        if entry[1] is not None:
            self.batch.updated_messages_text[entry[1]] = text

    def _event_for(self, state: MessageState, type_: str, when: int | None, recipient: str) -> DeliveryEvent:
        return DeliveryEvent(
            type=type_,
            msgid=state.msgid,
            email=state.email,
            sender=state.sender,
            senderhost=state.senderhost,
            senderip=state.senderip,
            senderauth=state.senderauth,
            size=state.size,
            spamscore=state.spamscore,
            sendunixtime=state.sendunixtime,
            recipient=recipient,
            actionunixtime=when,
            subject=state.subject,
            message_id=state.message_id,
            protocol=state.protocol,
            tls=state.tls,
            parent_msgid=state.parent_msgid,
            server=state.server,
            queue_time=(when - state.sendunixtime) if (when is not None and state.sendunixtime is not None) else None,
        )

    # -- feeding -----------------------------------------------------------------------------

    def feeder(self) -> Callable[[px.EximLine, str], bool]:
        """``feed``, or its compiled fast path (_correlc.c) where that was built; a subclass keeps its own."""
        if COMPILED_FEED is not None and type(self) is Correlator:
            return types.MethodType(COMPILED_FEED, self)
        return self.feed

    def feed(self, line: px.EximLine, raw: str) -> bool:
        """Take one parsed line; False when it repeats a line this message already has.

        A repeat is still used (Exim's own test logs repeat lines legitimately, with one-second
        timestamps); it is only counted, so a log that was written twice shows up in the stats.
        """
        kind = line.kind
        if kind == px.UNKNOWN:
            return True
        if kind == px.REJECTED:
            self._rejected(line, raw)
            return True
        if not line.msgid:
            return True
        if kind == px.ARRIVAL:
            repeated = False  # a repeated arrival is a new message with a reused id
            state = self._arrival(line)
        else:
            state = self._message(line.msgid)
            repeated = raw in state.raw
            handler = _HANDLERS.get(kind)
            if handler is not None:
                handler(self, state, line)
        self._touch(state, line.time)
        state.raw.append(raw)
        if kind == px.COMPLETED:
            # Finished messages rarely get more lines; free the cache slot (the store has it).
            if self._cache.pop(state.msgid, None) is not None:
                self._forget(state.msgid)
        return not repeated

    def _arrival(self, line: px.EximLine) -> MessageState:
        # "1smkL5-00000000e65-24eQ <= alice@example.com H=... P=esmtpsa A=dovecot_login:alice S=1234 ... for bob@x"
        state = self._message(line.msgid)
        if state.arrived or state.state == "completed":
            state = self._new_message(line.msgid)  # queue id reused (test harnesses, or a very old id)
        f = line.fields
        state.email = line.address
        state.sendunixtime = line.time
        state.senderhost, state.senderip = _host_fields(f.get("H"))
        auth = f.get("A")
        if auth:
            authenticator, _, auth_id = auth.partition(":")
            state.senderauth = authenticator
            if auth_id:
                state.sender = auth_id
        elif "U" in f and not state.sender:
            state.sender = f["U"]
            if f.get("P", "").startswith("local"):
                state.senderauth = "localuser"
        state.size = _int(f.get("S"))
        state.protocol = f.get("P", "")
        state.tls = f.get("X", "")
        state.subject = px.unquote(f["T"]) if "T" in f else ""
        state.message_id = f.get("id", "")
        if "R" in f and not line.address:
            state.parent_msgid = f["R"]
        seen: set[str] = set()
        recipients: list[str] = []
        for rcpt in line.recipients:
            key = rcpt.lower()
            if key in seen:
                continue
            seen.add(key)
            recipients.append(rcpt)
            state.pending[key] = [rcpt, None, INPROGRESS_MESSAGE]
        state.recipients = " ".join(recipients)
        return state

    def _outcome_event(self, state: MessageState, line: px.EximLine, type_: str) -> DeliveryEvent:
        recipient = line.orig or line.parent or line.address
        event = self._event_for(state, type_, line.time, recipient)
        f = line.fields
        event.deliveredto = line.address
        event.router = f.get("R", "")
        event.transport = f.get("T", "")
        host = f.get("H")
        if host:
            event.host, event.ip = _host_fields(host)
            event.transport_is_remote = 1
        if "X" in f:
            event.tls = f["X"]
        if "QT" in f:
            qt = parse_duration(f["QT"])
            if qt is not None:
                event.queue_time = qt
        return event

    def _close_recipient(self, state: MessageState, recipient: str) -> None:
        entry = state.pending.pop(recipient.lower(), None)
        if entry is not None:
            self._drop_pending(entry)

    def _delivery(self, state: MessageState, line: px.EximLine) -> None:
        # "=> bob <bob@example.com> R=localuser T=local_delivery", "-> carol@x R=... H=mx [ip] C=\"250 OK\""
        if line.address == ACL_BLACKHOLE and "discarded" in line.parent:
            # "=> blackhole (DATA ACL discarded recipients): <text>": every waiting recipient is dropped
            # (one event with no recipient when the arrival did not list them).
            for entry in list(state.pending.values()) or [["", None, ""]]:
                event = self._event_for(state, FILTERED, line.time, entry[0])
                event.message = f"Discarded by the {line.parent.replace(' discarded recipients', '')}"
                if line.message:
                    event.message += ": " + line.message
                self._add_event(event, state.id)
                self._drop_pending(entry)
            state.pending.clear()
            return
        transport = line.fields.get("T", "")
        if transport == BYPASSED_TRANSPORT or line.address == BLACKHOLE or line.flag == "*>":
            type_ = FILTERED
        elif transport.startswith(ARCHIVER_PREFIX):
            type_ = ARCHIVE
        else:
            type_ = SUCCESS
        event = self._outcome_event(state, line, type_)
        reply = line.fields.get("C")
        if reply:
            event.message = px.unquote(reply)
            event.dsn = explain_mod.extract_dsn(event.message)
        elif type_ == FILTERED:
            event.message = "Discarded" if line.address == BLACKHOLE else "Delivery bypassed"
        else:
            event.message = ACCEPTED_MESSAGE
        self._add_event(event, state.id)
        self._close_recipient(state, event.recipient)

    def _problem(self, state: MessageState, line: px.EximLine, type_: str) -> None:
        event = self._outcome_event(state, line, type_)
        event.message = line.message
        self._explain(event)
        key = event.recipient.lower()
        if type_ == DEFER:
            event.attempt = state.attempts.get(key, 0) + 1
            state.attempts[key] = event.attempt
            entry = state.pending.get(key)
            if entry is not None:
                why = event.reason_text if event.reason and event.reason != "other" else line.message
                self._set_text(entry, f"{RETRY_MESSAGE} ({why})")
        self._add_event(event, state.id)
        if type_ != DEFER:
            self._close_recipient(state, event.recipient)

    def _defer(self, state: MessageState, line: px.EximLine) -> None:
        self._problem(state, line, DEFER)

    def _failure(self, state: MessageState, line: px.EximLine) -> None:
        self._problem(state, line, FAILURE)

    def _completed(self, state: MessageState, line: px.EximLine) -> None:
        state.state = "completed"
        for entry in state.pending.values():
            self._drop_pending(entry)
        state.pending.clear()

    def _frozen(self, state: MessageState, line: px.EximLine) -> None:
        self._set_pending_text(state, line.message)

    def _unfrozen(self, state: MessageState, line: px.EximLine) -> None:
        self._set_pending_text(state, INPROGRESS_MESSAGE)

    def _set_pending_text(self, state: MessageState, text: str) -> None:
        for entry in state.pending.values():
            self._set_text(entry, text)

    def _given_up(self, state: MessageState, line: px.EximLine) -> None:
        # "cancelled by system filter: ..." / "removed by root": every recipient still waiting has failed.
        for entry in state.pending.values():
            event = self._event_for(state, FAILURE, line.time, entry[0])
            event.message = line.message
            self._explain(event)
            self._add_event(event, state.id)
            self._drop_pending(entry)
        state.pending.clear()

    def _spam_score(self, state: MessageState, line: px.EximLine) -> None:
        try:
            score = float(line.message)
        except ValueError:
            return
        if math.isfinite(score):  # "(1000…0)" with 400 digits is inf, which JSON cannot say
            state.spamscore = score

    def _sender_id(self, state: MessageState, line: px.EximLine) -> None:
        # cPanel: "Sender identification U=alice D=example.com S=alice@example.com"
        sender = line.fields.get("S")
        if sender:
            state.sender = sender

    def _explain(self, event: DeliveryEvent) -> None:
        result = explain_mod.explain(event.message)
        event.dsn = explain_mod.extract_dsn(event.message)
        event.reason = result.reason
        event.reason_text = result.reason_text

    def _rejected(self, line: px.EximLine, raw: str) -> None:
        # "H=(helo) [192.0.2.1]:3755 I=[1.2.3.4]:25 F=<x@y> rejected RCPT <bob@example.com>: relay not permitted"
        f = line.fields
        event = DeliveryEvent(type=REJECTED, msgid=line.msgid, server=self.server, actionunixtime=line.time)
        event.email = _strip_angle(f.get("F", ""))
        event.recipient = line.address
        event.senderhost, event.senderip = _host_fields(f.get("H"))
        auth = f.get("A")
        if auth:
            event.senderauth, _, event.sender = auth.partition(":")
        elif "U" in f:
            event.sender = f["U"]
        event.message = line.message
        self._explain(event)
        message_ref = None
        if line.msgid:
            state = self._message(line.msgid)
            self._touch(state, line.time)
            state.raw.append(raw)
            message_ref = state.id
            event.sendunixtime = state.sendunixtime
            if not event.email:
                event.email = state.email
        event_id = self._add_event(event, message_ref)
        self.batch.event_raw[event_id] = raw


_HANDLERS: dict[str, Callable[[Correlator, MessageState, px.EximLine], None]] = {
    px.DELIVERY: Correlator._delivery,
    px.DEFER: Correlator._defer,
    px.FAILURE: Correlator._failure,
    px.COMPLETED: Correlator._completed,
    px.FROZEN: Correlator._frozen,
    px.UNFROZEN: Correlator._unfrozen,
    px.CANCELLED: Correlator._given_up,
    px.REMOVED: Correlator._given_up,
    px.SPAM_SCORE: Correlator._spam_score,
    px.SENDER_ID: Correlator._sender_id,
}


def _compiled_feed() -> Callable[[Correlator, px.EximLine, str], bool] | None:
    """_correlc.feed, set up; None where it was not built or TRACKDELIVERY_PURE_PYTHON is set.

    It takes the arrivals of new messages, SMTP-time rejections without a message id, and the deliveries,
    deferrals, failures, spam scores, notes and Completed lines of a message in the cache, and does what
    ``Correlator.feed`` does with them; it hands every other line to ``Correlator.feed``.
    """
    if os.environ.get("TRACKDELIVERY_PURE_PYTHON"):
        return None
    try:
        from . import _correlc  # type: ignore[attr-defined]
    except ImportError:
        return None
    kinds = {
        name: name
        for name in (px.DELIVERY, px.DEFER, px.FAILURE, px.COMPLETED, px.ARRIVAL, px.REJECTED, px.UNKNOWN,
                     px.SPAM_SCORE, px.NOTE)
    }  # fmt: skip
    event_types = {name: name for name in (SUCCESS, DEFER, FAILURE, FILTERED, ARCHIVE, INPROGRESS, REJECTED)}
    texts = {
        "completed": "completed", "blackhole": BLACKHOLE, "acl_blackhole": ACL_BLACKHOLE,
        "bypassed": BYPASSED_TRANSPORT, "archiver": ARCHIVER_PREFIX, "star_flag": "*>",
        "accepted": ACCEPTED_MESSAGE, "discarded_text": "Discarded", "bypassed_text": "Delivery bypassed",
        "other": "other", "retry": RETRY_MESSAGE, "local": "local", "localuser": "localuser",
        "inprogress": INPROGRESS_MESSAGE,
    }  # fmt: skip
    _correlc.setup(
        MessageState, tuple(f.name for f in fields(MessageState)), MessageState(id=0, msgid=""),
        DeliveryEvent, EVENT_FIELDS, DeliveryEvent(type=""),
        px.EximLine, Batch, Correlator.feed, _host_fields, parse_duration, px.unquote, explain_mod.extract_dsn,
        kinds, event_types, texts, _MAX_EVICTED,
    )  # fmt: skip
    _correlc.setup_self(Correlator, False)  # its attributes read in place: they are slots
    # split_host's and extract_dsn's compiled helpers called directly (None: not built; the Python ones then)
    _correlc.setup_helpers(px._split_host_fast, explain_mod._extract_dsn_fast)
    feed: Callable[[Correlator, px.EximLine, str], bool] = _correlc.feed
    return feed


COMPILED_FEED = _compiled_feed()
