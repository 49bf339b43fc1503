"""PostfixCorrelator: parsed Postfix lines into the same delivery events as Exim's, per queue id.

It reuses Correlator's machinery (open-message cache, batches, "inprogress" events, explanations);
only what the lines mean differs. Queue ids do not encode a time, so unknown ids are looked up.
"""

from __future__ import annotations

import types
from collections.abc import Callable

from . import correlate
from . import explain as explain_mod
from .correlate import (
    ACCEPTED_MESSAGE,
    INPROGRESS_MESSAGE,
    MAX_DIGITS,
    MAX_STORED_INT,
    RETRY_MESSAGE,
    Correlator,
    MessageLoader,
    MessageState,
)
from .parse import postfix as pp
from .record import DEFER, FAILURE, FILTERED, REJECTED, SUCCESS, DeliveryEvent

COMPLETED = "completed"
LOCAL_PROTOCOL = "local"  # picked up from the maildrop (sendmail, scripts, cron)
SMTP_PROTOCOL = "smtp"
LOCAL_USER_AUTH = "localuser"  # as Exim's local submissions
DEFERRED_PREFIX = RETRY_MESSAGE + " ("  # the same words as Exim's, then the last reply in brackets
EXPIRED_MESSAGE = "Expired in the queue and returned to the sender"
DELETED_MESSAGE = "Removed from the queue by the administrator (postsuper -d)"
HELD_MESSAGE = "On hold"
DISCARDED_MESSAGE = "Discarded"
UNKNOWN_CLIENT = "unknown"  # smtpd's name for a client without reverse DNS
# A line other than a message's first, for an id already removed: the same message when it comes this
# soon after (lines of one second can be out of order), else the id was reused for a new message.
LATE_LINE_SECONDS = 60
_MAX_EVICTED = 100_000
_MAX_REMEMBERED = 10_000
# Delivery status → event type; other statuses (deliverable, undeliverable: address probes) make none.
_STATUS_TYPES = {"sent": SUCCESS, "deferred": DEFER, "bounced": FAILURE, "SOFTBOUNCE": DEFER}
_STARTS = frozenset((pp.CLIENT, pp.PICKUP, pp.MESSAGE_ID, pp.QUEUED))
_REUSING = frozenset((pp.CLIENT, pp.PICKUP))  # a second one for an open id means the id was reused
_SPECIAL = frozenset((pp.REJECT, pp.DISCARD, pp.DNSBL, pp.TLS, pp.CONNECT))  # fed without the common path
_SOCKET_HINTS = ("/", "private", "public")


def is_loopback(ip: str) -> bool:
    return ip.startswith(("127.", "::ffff:127.")) or ip == "::1"


def _client_name(host: str, helo: str = "") -> str:
    """smtpd says "unknown" for a client without reverse DNS: show its HELO instead (as Exim's H=)."""
    return (helo or "") if host == UNKNOWN_CLIENT else host


def _seconds(value: str | None) -> int | None:
    """delay=0.38 → 0; None for what is not a sane number (a hostile "inf" or 1e400)."""
    if not value:
        return None
    try:
        seconds = int(float(value))
    except (ValueError, OverflowError):
        return None
    return seconds if 0 <= seconds < MAX_STORED_INT else None


class PostfixCorrelator(Correlator):
    """Feeds parsed Postfix lines, collects a Batch of changes for the store (see Correlator)."""

    __slots__ = ("_lookup_all", "_host", "_parents", "_listed", "_tls")

    def __init__(
        self,
        load_message: MessageLoader,
        next_message_id: int,
        next_event_id: int,
        server: str = "",
        cache_size: int = 20_000,
        store_was_empty: bool = False,
    ) -> None:
        """``server`` names the source in the records; empty: each line's syslog host name.

        ``store_was_empty``: ids not in the cache need no lookup unless they left it during this run.
        """
        super().__init__(load_message, next_message_id, next_event_id, server=server, cache_size=cache_size)
        self._lookup_all = not store_was_empty
        self._host = ""  # syslog host of the line being fed
        # Queue id of a message not seen yet → the message it continues ("queued as", bounces).
        self._parents: dict[str, str] = {}
        self._listed: dict[str, str] = {}  # client IP → the DNS blocklist dnsblog saw it on
        # (syslog host, program, pid) → (peer IP, peer port, "TLSv1.3:cipher:bits") of the process's TLS
        # session: smtpd logs it before the client= line of the message, smtp before the delivery it makes.
        self._tls: dict[tuple[str, str, str], tuple[str, str, str]] = {}

    # -- state -------------------------------------------------------------------------------

    def _forget(self, msgid: str) -> None:
        self._evicted[msgid] = None
        if len(self._evicted) > _MAX_EVICTED:
            self._evicted.clear()  # bound the memory: from now on look up every unknown id
            self._lookup_all = True

    def _message(self, msgid: str) -> MessageState:
        cache = self._cache
        state = cache.get(msgid)
        if state is not None:
            cache.move_to_end(msgid)
            return state
        state = self.batch.by_msgid.get(msgid)
        if state is None and (self._lookup_all or msgid in self._evicted):
            state = self._load(msgid)
        if state is None:
            return self._new_message(msgid)
        self._remember(state)
        return state

    def _new_message(self, msgid: str) -> MessageState:
        state = super()._new_message(msgid)
        state.server = self.server or self._host
        parent = self._parents.pop(msgid, None)
        if parent is not None:
            state.parent_msgid = parent
        return state

    def _known(self, msgid: str) -> MessageState | None:
        """An open message of this run, without a store lookup."""
        return self._cache.get(msgid) or self.batch.by_msgid.get(msgid)

    def _state_for(self, line: pp.PostfixLine) -> MessageState:
        """The message a line belongs to: a new one when its queue id was reused after ``removed``."""
        qid = line.queue_id
        state = self._message(qid)
        if state.state == COMPLETED:
            late = line.time is not None and state.lastunixtime is not None and (
                line.time - state.lastunixtime > LATE_LINE_SECONDS
            )
            if line.kind in _STARTS or late or line.time is None:
                state = self._new_message(qid)
        elif line.kind in (pp.CLIENT, pp.PICKUP) and state.protocol:
            state = self._new_message(qid)  # a second client= for one id: its "removed" line is missing
        return state

    # -- feeding -----------------------------------------------------------------------------

    def feeder(self) -> Callable[[pp.PostfixLine, str], bool]:  # type: ignore[override]
        """``feed``, or its compiled fast path (_correlc.c) where that was built."""
        if COMPILED_FEED is not None and type(self) is PostfixCorrelator:
            return types.MethodType(COMPILED_FEED, self)
        return self.feed

    def feed(self, line: pp.PostfixLine, raw: str) -> bool:  # type: ignore[override]
        """Take one parsed line; False when it repeats a line this message already has."""
        kind = line.kind
        qid = line.queue_id
        if kind in _SPECIAL:
            if kind == pp.DNSBL:
                if len(self._listed) > _MAX_REMEMBERED:
                    self._listed.clear()
                self._listed[line.fields["ip"]] = line.fields["list"]
            elif kind == pp.TLS:
                if len(self._tls) > _MAX_REMEMBERED:
                    self._tls.clear()
                f = line.fields
                session = (f["peer_ip"], f.get("peer_port", ""), f["tls"])
                self._tls[(line.host, line.program, line.pid)] = session
            elif kind == pp.CONNECT:
                self._tls.pop((line.host, line.program, line.pid), None)  # a new client: no TLS yet
            else:
                self._host = line.host
                self._refused(line, raw)
            return True
        if not qid:
            return True
        handler = _HANDLERS.get(kind)
        state = self._cache.get(qid)
        if handler is None:
            # Notes about a message ("host mx said: 451 ...", header rewrites): kept with its lines.
            if state is None:
                state = self.batch.by_msgid.get(qid)
                if state is None:
                    return True
        elif state is None or state.state == COMPLETED or kind in _REUSING:
            self._host = line.host
            state = self._state_for(line)
        else:
            self._cache.move_to_end(qid)
        repeated = raw in state.raw
        if handler is not None:
            handler(self, state, line)
        when = line.time
        if when is not None and (state.lastunixtime is None or when > state.lastunixtime):
            state.lastunixtime = when
        batch = self.batch
        batch.messages[state.id] = state
        batch.by_msgid[state.msgid] = state
        state.raw.append(raw)
        if state.state == COMPLETED:
            # Done: free the cache slot. A reused id then starts a new message without a lookup.
            self._cache.pop(state.msgid, None)
        return not repeated

    def _client(self, state: MessageState, line: pp.PostfixLine) -> None:
        # "client=mx.example.net[192.0.2.7], sasl_method=PLAIN, sasl_username=alice@example.com"
        # "client=localhost[127.0.0.1], orig_queue_id=4F5C64474F, orig_client=unknown[28.55.140.112]"
        f = line.fields
        if state.sendunixtime is None:
            state.sendunixtime = line.time
        state.protocol = SMTP_PROTOCOL
        if "orig_client_ip" in f:  # XFORWARD from a content filter: the original client
            state.senderhost, state.senderip = _client_name(f["orig_client_host"]), f["orig_client_ip"]
        else:
            state.senderhost, state.senderip = _client_name(f.get("client_host", "")), f.get("client_ip", "")
        tls = self._session_tls(line, f.get("client_ip", ""))
        if tls:
            state.tls = tls
        username = f.get("sasl_username")
        if username:
            state.sender = username
            state.senderauth = f.get("sasl_method", "")
        parent = f.get("orig_queue_id")
        if parent and parent != state.msgid:
            state.parent_msgid = parent
            known = self._known(parent)
            if known is not None:
                self._inherit_client(state, known)

    def _session_tls(self, line: pp.PostfixLine, peer_ip: str, peer_port: str = "") -> str:
        """The TLS of the session this line's process has with ``peer_ip`` ("" if none, or another peer's).

        When both lines name a port it must match too: an smtp process that had a TLS session with
        127.0.0.1:10025 later delivers in clear to 127.0.0.1:10024 (smtp's lines always name the port).
        """
        session = self._tls.get((line.host, line.program, line.pid))
        if session is None or not peer_ip or session[0] != peer_ip:
            return ""
        return session[2] if not (peer_port and session[1]) or session[1] == peer_port else ""

    def _pickup(self, state: MessageState, line: pp.PostfixLine) -> None:
        # "uid=0 from=<root>": a local submission (sendmail, a script, cron)
        if state.sendunixtime is None:
            state.sendunixtime = line.time
        state.protocol = LOCAL_PROTOCOL
        submitter = line.fields.get("from", "")
        state.sender = submitter or ("uid " + line.fields.get("uid", ""))
        state.senderauth = LOCAL_USER_AUTH
        if not state.email:
            state.email = submitter

    def _message_id(self, state: MessageState, line: pp.PostfixLine) -> None:
        # cleanup "message-id=<...>": the first line of messages Postfix makes itself (bounces)
        if state.sendunixtime is None:
            state.sendunixtime = line.time
        state.message_id = line.fields["message_id"]

    def _queued(self, state: MessageState, line: pp.PostfixLine) -> None:
        # qmgr "from=<alice@example.com>, size=1234, nrcpt=2 (queue active)" (again at every retry)
        f = line.fields
        if state.sendunixtime is None:
            state.sendunixtime = line.time
        state.email = f["from"]
        size = f["size"]  # digits (the parser's \d+: any script's, and any number of them)
        state.size = int(size) if len(size) <= MAX_DIGITS and size.isascii() else None
        if not state.pending and not state.recipients:
            # Postfix names recipients only when it delivers to them: one event waits for them all.
            state.pending[""] = ["", None, INPROGRESS_MESSAGE]

    def _note_recipient(self, state: MessageState, recipient: str) -> None:
        placeholder = state.pending.pop("", None)
        if placeholder is not None:
            self._drop_pending(placeholder)
        if recipient and recipient not in state.recipients.split(" "):
            state.recipients = f"{state.recipients} {recipient}" if state.recipients else recipient

    def _delivered(self, state: MessageState, line: pp.PostfixLine) -> None:
        # "to=<bob@example.org>, orig_to=<info@example.org>, relay=mx[192.0.2.9]:25, delay=0.3,
        #  delays=0.1/0/0.1/0.1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4E8FF30001C8)"
        f = line.fields
        type_ = _STATUS_TYPES.get(f["status"])
        if type_ is None:
            return
        to = f["to"]
        recipient = f.get("orig_to") or to
        if type_ == SUCCESS and line.service == "discard":
            type_ = FILTERED
        self._note_recipient(state, recipient)
        event = self._event_for(state, type_, line.time, recipient)
        event.deliveredto = to
        event.transport = line.service
        relay = f.get("relay", "")
        host, address, port = pp.split_endpoint(relay)
        if address and not address.startswith(_SOCKET_HINTS):
            event.host, event.ip, event.transport_is_remote = host, address, 1
            tls = self._session_tls(line, address, port)
            if tls:
                event.tls = tls
        elif relay not in ("none", "local", "virtual"):
            event.host = host or relay  # lmtp to a socket, pipe to "dovecot"
        if "tls" in f:  # a tls= field on the line itself
            event.tls = f["tls"]
        delay = _seconds(f.get("delay"))
        if delay is not None:
            event.queue_time = delay
        text = line.message
        key = recipient.lower()
        if type_ == SUCCESS or type_ == FILTERED:
            event.message = text or ACCEPTED_MESSAGE
            if type_ == FILTERED:
                event.message = f"{DISCARDED_MESSAGE}: {text}" if text else DISCARDED_MESSAGE
            event.dsn = f.get("dsn", "")
            self._add_event(event, state.id)
            self._close_recipient(state, recipient)
            if type_ == SUCCESS:
                self._follow_hop(state, text, event.ip)
            return
        event.message = text
        self._explain(event, f.get("dsn", ""))
        if type_ == DEFER:
            event.attempt = state.attempts.get(key, 0) + 1
            state.attempts[key] = event.attempt
            entry = state.pending.get(key)
            if entry is not None:
                self._set_text(entry, f"{DEFERRED_PREFIX}{text})")
            elif state.state != COMPLETED:  # a late line of a removed message leaves no one waiting
                state.pending[key] = [recipient, None, f"{DEFERRED_PREFIX}{text})"]
            self._add_event(event, state.id)
            return
        self._add_event(event, state.id)
        self._close_recipient(state, recipient)

    def _follow_hop(self, state: MessageState, text: str, ip: str) -> None:
        """Link the message a delivery created on this server: a content filter's re-injection, a forward.

        "250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 1310930001DB" from a filter
        on a loopback address, or on an address the new message then came from; local(8) "forwarded as ID".
        """
        child_id = pp.queued_as(text) if "queued as " in text else ""
        if child_id:
            if is_loopback(ip):
                self._link(child_id, state, inherit=True)
            else:
                child = self._known(child_id)
                if child is not None and ip and child.senderip == ip and child is not state:
                    self._link(child_id, state, inherit=True)
            return
        forwarded = pp.forwarded_as(text) if "forwarded as " in text else ""
        if forwarded:
            self._link(forwarded, state, inherit=False)

    def _link(self, child_id: str, parent: MessageState, inherit: bool) -> None:
        if child_id == parent.msgid:
            return
        child = self._known(child_id)
        if child is None:
            if len(self._parents) > _MAX_REMEMBERED:
                self._parents.clear()
            self._parents[child_id] = parent.msgid
            return
        if not child.parent_msgid:
            child.parent_msgid = parent.msgid
        if inherit:
            self._inherit_client(child, parent)
        self._touch(child, None)

    def _inherit_client(self, child: MessageState, parent: MessageState) -> None:
        """A content filter's re-injection comes from localhost: it keeps the original client and login."""
        if not child.senderip or is_loopback(child.senderip):
            child.senderhost, child.senderip = parent.senderhost, parent.senderip
            child.tls = child.tls or parent.tls  # how the original client's session was protected
        if not child.sender and parent.sender:
            child.sender, child.senderauth = parent.sender, parent.senderauth

    def _check_note(self, state: MessageState, line: pp.PostfixLine) -> None:
        # cleanup "info: header Subject: Hi from mx[192.0.2.7]; from=<a> to=<b> ..." (header_checks INFO)
        subject = line.fields.get("subject")
        if subject is not None and not state.subject:
            state.subject = subject

    def _notification(self, state: MessageState, line: pp.PostfixLine) -> None:
        # bounce "ID: sender non-delivery notification: ID2": ID2 is the bounce of ID
        self._link(line.fields["notice_id"], state, inherit=False)

    def _expired(self, state: MessageState, line: pp.PostfixLine) -> None:
        # qmgr "from=<alice@example.com>, status=expired, returned to sender": every waiting recipient failed
        for entry in list(state.pending.values()) or [["", None, ""]]:
            last = entry[2][len(DEFERRED_PREFIX):-1] if entry[2].startswith(DEFERRED_PREFIX) else ""
            event = self._event_for(state, FAILURE, line.time, entry[0])
            event.message = f"{EXPIRED_MESSAGE}; last error: {last}" if last else EXPIRED_MESSAGE
            self._explain(event)
            self._add_event(event, state.id)
            self._drop_pending(entry)
        state.pending.clear()

    def _removed(self, state: MessageState, line: pp.PostfixLine) -> None:
        # qmgr "removed": the message is done and its queue id free again
        for entry in state.pending.values():
            self._drop_pending(entry)
        state.pending.clear()
        state.state = COMPLETED

    def _deleted(self, state: MessageState, line: pp.PostfixLine) -> None:
        # postsuper "removed" (postsuper -d): every recipient still waiting has failed
        for entry in list(state.pending.values()) or [["", None, ""]]:
            event = self._event_for(state, FAILURE, line.time, entry[0])
            event.message = DELETED_MESSAGE
            self._explain(event)
            self._add_event(event, state.id)
            self._drop_pending(entry)
        state.pending.clear()
        state.state = COMPLETED

    def _hold(self, state: MessageState, line: pp.PostfixLine) -> None:
        # cleanup/smtpd "hold: header X-Spam: yes from ...", postsuper "placed on hold"
        text = f"{HELD_MESSAGE}: {line.message}" if line.message else HELD_MESSAGE
        if not state.pending:
            state.pending[""] = ["", None, text]
        self._set_pending_text(state, text)

    def _released(self, state: MessageState, line: pp.PostfixLine) -> None:
        self._set_pending_text(state, INPROGRESS_MESSAGE)

    def _explain(self, event: DeliveryEvent, dsn: str = "") -> None:
        result = explain_mod.explain(event.message, dsn)
        event.dsn = dsn or explain_mod.extract_dsn(event.message)
        event.reason = result.reason
        event.reason_text = result.reason_text

    def _refused(self, line: pp.PostfixLine, raw: str) -> None:
        # "NOQUEUE: reject: RCPT from mx.example.net[192.0.2.7]: 554 5.7.1 <b@example.org>: Relay access denied;
        #  from=<a@example.net> to=<b@example.org> proto=ESMTP helo=<mx.example.net>"; also discard, milter-
        # and cleanup header/body rejects (of a queued message: its id instead of NOQUEUE).
        f = line.fields
        filtered = line.kind == pp.DISCARD
        event = DeliveryEvent(type=FILTERED if filtered else REJECTED, msgid=line.queue_id,
                              server=self.server or line.host, actionunixtime=line.time)  # fmt: skip
        event.email = f.get("from", "")
        event.recipient = f.get("to", "")
        event.senderip = f.get("client_ip", "")
        event.senderhost = _client_name(f.get("client_host", ""), f.get("helo", ""))
        event.protocol = f.get("proto", "").lower()
        text = line.message
        if filtered:
            event.message = f"{DISCARDED_MESSAGE}: {text}" if text else DISCARDED_MESSAGE
        else:
            listed = self._listed.get(event.senderip) if line.service == "postscreen" else None
            if listed and "blocked using" not in text:
                text = f"{text} (client listed by {listed})"
            event.message = text
            self._explain(event)
        message_ref = None
        if line.queue_id:
            state = self._state_for(line)
            message_ref = state.id
            event.email = event.email or state.email
            if not event.senderip:
                event.senderhost, event.senderip = state.senderhost, state.senderip
            event.sender, event.senderauth = state.sender, state.senderauth
            event.sendunixtime, event.size = state.sendunixtime, state.size
            event.message_id, event.parent_msgid = state.message_id, state.parent_msgid
            if filtered or f.get("stage") in pp.MESSAGE_STAGES:
                # The whole message was refused or dropped: nothing of it stays in the queue.
                for entry in state.pending.values():
                    self._drop_pending(entry)
                state.pending.clear()
                state.state = COMPLETED
            self._touch(state, line.time)
            state.raw.append(raw)
            if state.state == COMPLETED:
                self._cache.pop(state.msgid, None)
        event_id = self._add_event(event, message_ref)
        self.batch.event_raw[event_id] = raw


_Handler = Callable[[PostfixCorrelator, MessageState, pp.PostfixLine], None]
_HANDLERS: dict[str, _Handler] = {
    pp.CLIENT: PostfixCorrelator._client,
    pp.PICKUP: PostfixCorrelator._pickup,
    pp.MESSAGE_ID: PostfixCorrelator._message_id,
    pp.QUEUED: PostfixCorrelator._queued,
    pp.DELIVERY: PostfixCorrelator._delivered,
    pp.NOTIFICATION: PostfixCorrelator._notification,
    pp.CHECK_NOTE: PostfixCorrelator._check_note,
    pp.EXPIRED: PostfixCorrelator._expired,
    pp.REMOVED: PostfixCorrelator._removed,
    pp.DELETED: PostfixCorrelator._deleted,
    pp.HOLD: PostfixCorrelator._hold,
    pp.HELD: PostfixCorrelator._hold,
    pp.RELEASED: PostfixCorrelator._released,
    pp.REQUEUED: lambda self, state, line: None,
}


def _compiled_feed() -> Callable[[PostfixCorrelator, pp.PostfixLine, str], bool] | None:
    """_correlc.feed_postfix, set up; None where it was not built or TRACKDELIVERY_PURE_PYTHON is set.

    It takes connect and TLS lines, NOQUEUE rejections, and the client=, from=, message-id=, removed and
    status=sent|deferred|SOFTBOUNCE|bounced lines of a message (with the content-filter hops they name),
    doing what ``PostfixCorrelator.feed`` does with them (its other handlers are called as they are; the
    explanations are ``_explain``'s); it hands the rejections of a queued message, discards and dnsblog
    lines to ``PostfixCorrelator.feed``.
    """
    if correlate.COMPILED_FEED is None:  # not built, or pure Python asked for; setup() done there
        return None
    from . import _correlc  # type: ignore[attr-defined]

    kinds = {
        name: name
        for name in (pp.CONNECT, pp.TLS, pp.REJECT, pp.DISCARD, pp.DNSBL, pp.CLIENT, pp.PICKUP, pp.QUEUED,
                     pp.DELIVERY, pp.REMOVED, pp.MESSAGE_ID)
    }  # fmt: skip
    texts = {
        "completed": COMPLETED, "sent": "sent", "deferred": "deferred", "softbounce": "SOFTBOUNCE",
        "bounced": "bounced", "discard": "discard", "smtp": SMTP_PROTOCOL,
        "unknown": UNKNOWN_CLIENT, "none": "none", "local": "local", "virtual": "virtual",
        "discarded": DISCARDED_MESSAGE, "discarded_prefix": DISCARDED_MESSAGE + ": ", "queued_as": "queued as ",
        "forwarded_as": "forwarded as ", "loopback4": "127.", "loopback6": "::1", "mapped4": "::ffff:127.",
        "slash": _SOCKET_HINTS[0], "private": _SOCKET_HINTS[1], "public": _SOCKET_HINTS[2],
        "postscreen": "postscreen", "blocked_using": "blocked using",
    }  # fmt: skip
    _correlc.setup_postfix(pp.PostfixLine, PostfixCorrelator.feed, _HANDLERS, kinds, texts, _MAX_REMEMBERED)
    _correlc.setup_self(PostfixCorrelator, True)
    feed: Callable[[PostfixCorrelator, pp.PostfixLine, str], bool] = _correlc.feed_postfix
    return feed


COMPILED_FEED = _compiled_feed()
