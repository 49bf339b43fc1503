"""Postfix log parser: one syslog line (str) in, one ``PostfixLine`` out; pure, no I/O.

``SyslogYear`` gives yearless syslog timestamps their year, across New Year, from the order of lines.
"""

from __future__ import annotations

import calendar
import os
import re
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from email.errors import HeaderParseError
from email.header import decode_header, make_header

# Line kinds.
CONNECT = "connect"  # smtpd "connect from host[ip]"
CLIENT = "client"  # smtpd "ID: client=host[ip], sasl_method=PLAIN, sasl_username=alice"
PICKUP = "pickup"  # pickup "ID: uid=0 from=<root>"
MESSAGE_ID = "message_id"  # cleanup "ID: message-id=<...>"
QUEUED = "queued"  # qmgr "ID: from=<a>, size=N, nrcpt=M (queue active)"
DELIVERY = "delivery"  # smtp/lmtp/local/virtual/pipe/error/discard "ID: to=<b>, relay=..., status=sent (...)"
EXPIRED = "expired"  # qmgr "ID: from=<a>, status=expired, returned to sender"
REMOVED = "removed"  # qmgr "ID: removed": the message is done
NOTIFICATION = "notification"  # bounce "ID: sender non-delivery notification: ID2"
REJECT = "reject"  # smtpd/postscreen/cleanup reject, milter-reject, proxy-reject
DISCARD = "discard"  # smtpd/cleanup discard, milter-discard
HOLD = "hold"  # smtpd/cleanup hold, milter-hold
CHECK_NOTE = "check_note"  # cleanup header/body_checks INFO: "ID: info: header Subject: Hi from ..."
DELETED = "deleted"  # postsuper "ID: removed" (postsuper -d)
REQUEUED = "requeued"  # postsuper "ID: requeued"
HELD = "held"  # postsuper "ID: placed on hold"
RELEASED = "released"  # postsuper "ID: released from hold"
PROXY_ACCEPT = "proxy_accept"  # smtpd before-queue filter "proxy-accept: END-OF-MESSAGE: 250 ... queued as ID"
TLS = "tls"  # smtpd/smtp/lmtp "Anonymous TLS connection established from|to host[ip]: TLSv1.3 with cipher ..."
DNSBL = "dnsbl"  # dnsblog "addr 192.0.2.1 listed by domain zen.spamhaus.org as 127.0.0.2"
NOTE = "note"  # a Postfix line that is not a delivery event (TLS, warnings, statistics, ...)
OTHER = "other"  # a syslog line of another program in the same file (dovecot, amavis, opendkim, ...)
UNKNOWN = "unknown"  # not a syslog line at all

NOQUEUE = "NOQUEUE"
# Stages after which a rejection refuses the whole message rather than one recipient.
MESSAGE_STAGES = frozenset(("DATA", "BDAT", "END-OF-MESSAGE", "header", "body"))
# Daemon names that mark a program as Postfix even under a custom syslog_name ("mx-in/smtpd").
DAEMONS = frozenset(
    """anvil bounce cleanup discard dnsblog error flush lmtp local master oqmgr pickup pipe postdrop
    postfix-script postlog postmap postqueue postscreen postsuper proxymap qmgr qmqpd scache sendmail
    showq smtp smtpd spawn tlsmgr tlsproxy trivial-rewrite verify virtual""".split()
)

_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                                        "Nov", "Dec"), 1)}  # fmt: skip
# "Jun  3 10:40:57 mail postfix/submission/smtpd[9708]: 4AA091855DA0: " (also "Jun 03", "Mar 7", ".123456"),
# "2022-01-08T19:42:12.572958+00:00 mail postfix/smtpd[19191]: " (RFC 3339; journald short-iso "+0000"):
# month, day, time | date, time, zone | zone after a fraction; host, program; queue id (or NOQUEUE).
# Queue ids: short ones upper-case hex (4AA091855DA0); long ones (enable_long_queue_ids) base 52 without
# vowels, with a "z" between time and inode (3mPVKl0Mhjz7sXv).
_PREFIX_RE = re.compile(
    r"(?:(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) {1,2}(\d\d?) (\d\d:\d\d:\d\d)"
    r"|(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(Z|[+-]\d\d(?::?\d\d)?)?)"
    r"(?:[.,]\d+(Z|[+-]\d\d(?::?\d\d)?)?)? (\S+) ([^\s\[:]+)(?:\[(\d+)\])?: "
    r"(?:([0-9A-F]{6,}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,}|NOQUEUE): )?"
)
_TLS_RE = re.compile(
    r"(?:\w+ )?TLS connection established (?:from|to) (?P<peer>\S+?): (?P<protocol>\S+) with cipher "
    r"(?P<cipher>\S+) \((?P<bits>\d+)/"
)
QUEUE_ID_RE = re.compile(r"[0-9A-F]{6,}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,}")
# "<action>: <STAGE> from <client>: <reason>; from=<a> to=<b> proto=ESMTP helo=<h>" (smtpd, postscreen,
# cleanup milter): "NOQUEUE: reject: RCPT from mx.example.net[192.0.2.7]: 554 5.7.1 <b@x>: Relay access denied"
_STAGE_RE = re.compile(r"(?P<stage>[A-Za-z-]+) from (?P<client>[^\s\[]*\[[^\]]*\](?::\d+)?|local): ")
# cleanup header/body checks: "reject: header Subject: hi from mx[192.0.2.7]; from=<a> to=<b> proto=ESMTP
# helo=<h>: 5.7.1 no thanks" (the text after the last ": " is optional).
_CHECK_RE = re.compile(r"(?P<stage>header|body) (?P<what>.*) from (?P<client>\S+?); (?=from=<|to=<)")
# The envelope trailer of rejects: "from=<a> to=<b> proto=ESMTP helo=<h>" (postscreen puts commas between).
_TRAILER_RE = re.compile(
    r"(?:from=<(?P<from>[^>]*)>,? ?)?(?:to=<(?P<to>[^>]*)>,? ?)?(?:proto=(?P<proto>[^\s,]+),? ?)?"
    r"(?:helo=<(?P<helo>[^>]*)>)?"
)
# qmgr: "from=<alice@example.com>, size=1234, nrcpt=2 (queue active)"
_QUEUED_RE = re.compile(r"from=<(?P<from>[^>]*)>, size=(?P<size>\d+), nrcpt=(?P<nrcpt>\d+)")
_QUEUED_AS_RE = re.compile(r"queued as ([0-9A-Za-z]+)")
# dnsblog: "addr 61.238.241.86 listed by domain psbl.surriel.com as 127.0.0.2"
_DNSBLOG_RE = re.compile(r"addr (?P<ip>\S+) listed by domain (?P<list>\S+) as (?P<reply>\S+)")
_ACTIONS = ("reject: ", "milter-reject: ", "proxy-reject: ", "discard: ", "milter-discard: ", "hold: ",
            "milter-hold: ")  # fmt: skip
_ACTION_KIND = {"reject": REJECT, "milter-reject": REJECT, "proxy-reject": REJECT, "discard": DISCARD,
                "milter-discard": DISCARD, "hold": HOLD, "milter-hold": HOLD, "info": CHECK_NOTE, "warning": CHECK_NOTE}  # fmt: skip
_NOTIFICATIONS = (
    "sender non-delivery notification: ",
    "sender delay notification: ",
    "sender delivery status notification: ",
    "postmaster non-delivery notification: ",
    "postmaster delay notification: ",
)


@dataclass(slots=True)
class PostfixLine:
    kind: str
    time: int | None = None
    queue_id: str = ""  # "" for NOQUEUE and for lines without one
    program: str = ""  # syslog program: "postfix/submission/smtpd", "postfix-out/smtp"
    service: str = ""  # the daemon, last part of the program: "smtpd", "smtp", "cleanup"
    host: str = ""  # the syslog host name that wrote the line
    fields: dict[str, str] = field(default_factory=dict)
    message: str = ""  # status text (without its parentheses), reject reason, notification id
    yearless: bool = False  # classic syslog time: the year came from year_hint (or was guessed)
    pid: str = ""  # the process id in "smtpd[9708]" ("" when the program has none)


# -- timestamps ------------------------------------------------------------------------------------

_minute_cache: dict[tuple[str, str, str, int], int] = {}


def _classic_epoch(mon: str, day: str, hms: str, year: int) -> int | None:
    """'Jun', '3', '10:40:57', 2020 → epoch seconds (local time), cached per minute."""
    key = (mon, day, hms[:5], year)
    base = _minute_cache.get(key)
    if base is None:
        d = int(day)
        if not 1 <= d <= 31:
            return None
        try:
            base = int(time.mktime((year, _MONTHS[mon], d, int(hms[:2]), int(hms[3:5]), 0, 0, 0, -1)))
        except (OverflowError, ValueError):
            return None
        if len(_minute_cache) > 100_000:
            _minute_cache.clear()
        _minute_cache[key] = base
    return base + int(hms[6:])


_iso_cache: dict[tuple[str, str, str], int] = {}


def _iso_epoch(date: str, hms: str, tz: str | None) -> int | None:
    """'2022-01-08', '19:42:12', '+00:00' (or None: local time) → epoch seconds, cached per minute."""
    key = (date, hms[:5], tz or "")
    base = _iso_cache.get(key)
    if base is None:
        try:
            parts = (int(date[:4]), int(date[5:7]), int(date[8:10]), int(hms[:2]), int(hms[3:5]), 0, 0, 0, -1)
            if tz is None:
                base = int(time.mktime(parts))
            else:
                base = calendar.timegm(parts)
                if tz != "Z":
                    digits = tz[1:].replace(":", "")
                    offset = int(digits[:2]) * 3600 + int(digits[2:4] or 0) * 60
                    base -= offset if tz[0] == "+" else -offset
        except (OverflowError, ValueError):
            return None
        if len(_iso_cache) > 100_000:
            _iso_cache.clear()
        _iso_cache[key] = base
    return base + int(hms[6:8])


def guess_year(mon: str, day: str, now: float | None = None) -> int:
    """The year of a yearless date: this year, unless that would be more than a day in the future."""
    now = time.time() if now is None else now
    year = time.localtime(now).tm_year
    stamp = _classic_epoch(mon, day, "00:00:00", year)
    if stamp is not None and stamp > now + 86400:
        return year - 1
    return year


# -- pieces ----------------------------------------------------------------------------------------


def split_endpoint(value: str) -> tuple[str, str, str]:
    """'mx.example.com[192.0.2.1]:25' → ('mx.example.com', '192.0.2.1', '25'); no brackets → (value, '', '')."""
    # also "[ip]:port" (postscreen) and "name[/var/run/dovecot/lmtp]" (a socket)
    start = value.find("[")
    end = value.find("]", start + 1)
    if start < 0 or end < 0:
        return value, "", ""
    port = value[end + 2:] if value[end + 1:end + 2] == ":" else ""
    return value[:start], value[start + 1:end], port


def _client_fields(fields: dict[str, str], client: str, prefix: str = "client") -> None:
    host, ip, port = split_endpoint(client)
    fields[prefix + "_host"] = host
    fields[prefix + "_ip"] = ip
    if port:
        fields[prefix + "_port"] = port


def _trailer(fields: dict[str, str], text: str) -> int:
    """Read 'from=<a> to=<b> proto=ESMTP helo=<h>' at the start of ``text``; returns where it ends."""
    m = _TRAILER_RE.match(text)
    if m is None:  # pragma: no cover - every group is optional
        return 0
    for name in ("from", "to", "proto", "helo"):
        value = m[name]
        if value is not None:
            fields[name] = value
    return m.end()


def _find_trailer(text: str) -> int:
    """Where '; from=<…' (or '; to=<…', '; proto=…') begins in a reject line, -1 if it has none."""
    for marker in ("; from=<", "; to=<", "; proto="):
        at = text.rfind(marker)
        if at >= 0:
            return at
    return -1


def _parse_action(out: PostfixLine, action: str, body: str) -> PostfixLine:
    """reject / milter-reject / proxy-reject / discard / hold lines of smtpd, postscreen and cleanup."""
    out.kind = _ACTION_KIND[action]
    f = out.fields
    f["action"] = action
    m = _CHECK_RE.match(body)
    if m is not None:
        # "header Subject: hi from mx[192.0.2.7]; from=<a> to=<b> proto=ESMTP helo=<h>: 5.7.1 no thanks"
        f["stage"] = m["stage"]
        f["check"] = m["what"]
        if m["client"] != "local":
            _client_fields(f, m["client"])
        end = m.end() + _trailer(f, body[m.end():])
        text = body[end + 2:].strip() if body[end:end + 2] == ": " else ""
        out.message = text or f"{m['stage']} check: {m['what']}"
        return out
    if action == "proxy-reject" and body.startswith("END-OF-MESSAGE: "):
        # "proxy-reject: END-OF-MESSAGE: 554 5.7.0 Reject, id=31619-02 - spam; from=<> to=<b> proto=SMTP ..."
        f["stage"] = "END-OF-MESSAGE"
        body = body[16:]
        at = _find_trailer(body)
        out.message = (body[:at] if at >= 0 else body).strip() or "Rejected by the content filter"
        if at >= 0:
            _trailer(f, body[at + 2:])
        return out
    m = _STAGE_RE.match(body)
    if m is None:
        out.message = body
        return out
    f["stage"] = m["stage"]
    if m["client"] != "local":
        _client_fields(f, m["client"])
    rest = body[m.end():]
    at = _find_trailer(rest)
    if at >= 0:
        _trailer(f, rest[at + 2:])
        rest = rest[:at]
    out.message = rest.strip()
    return out


def _parse_client(out: PostfixLine, body: str) -> PostfixLine:
    # "client=mx.example.net[192.0.2.7], sasl_method=PLAIN, sasl_username=alice@example.com"
    # "client=localhost[127.0.0.1], orig_queue_id=4F5C64474F, orig_client=unknown[28.55.140.112]"
    out.kind = CLIENT
    f = out.fields
    for part in body.split(", "):
        key, eq, value = part.partition("=")
        if not eq:
            continue
        if key == "client":
            _client_fields(f, value)
        elif key == "orig_client":
            _client_fields(f, value, "orig_client")
        else:
            f[key] = value
    return out


def _parse_delivery(out: PostfixLine, body: str) -> PostfixLine:
    # "to=<bob@example.org>, orig_to=<info@example.org>, relay=mx[192.0.2.9]:25, conn_use=2, delay=0.3,
    #  delays=0.1/0/0.1/0.1, dsn=2.0.0, status=sent (250 2.0.0 Ok)"; old local(8): "to=bob@example.org, ..."
    end = body.find(", status=")
    if end < 0:
        out.kind = NOTE
        out.message = body
        return out
    f = out.fields
    for part in body[:end].split(", "):
        key, eq, value = part.partition("=")
        if eq:
            f[key] = value[1:-1] if value[:1] == "<" and value[-1:] == ">" else value
    if "to" not in f or "relay" not in f:
        out.kind = NOTE
        out.fields = {}
        out.message = body
        return out
    out.kind = DELIVERY
    rest = body[end + 9:]
    space = rest.find(" ")
    if space < 0:
        f["status"] = rest
        return out
    f["status"] = rest[:space]
    text = rest[space + 1:]
    if text[:1] == "(":
        # "(250 2.0.0 Ok: queued as 4E8FF30001C8)"; a line cut by a newline inside has no ")".
        text = text[1:-1] if text[-1:] == ")" else text[1:]
    out.message = text
    return out


def _parse_queue_line(out: PostfixLine, qid: str, body: str, service: str) -> PostfixLine:
    """A line about one queued message: "<queue id>: <body>"."""
    out.queue_id = qid
    first = body[:1]
    if first == "t" and body.startswith("to="):
        return _parse_delivery(out, body)
    if first == "c" and body.startswith("client="):
        return _parse_client(out, body)
    if first == "f" and body.startswith("from=<"):
        m = _QUEUED_RE.match(body)
        if m is not None:
            out.kind = QUEUED
            out.fields = {"from": m["from"], "size": m["size"], "nrcpt": m["nrcpt"]}
            return out
        if ", status=expired" in body:
            # "from=<a@example.com>, status=expired, returned to sender"
            out.kind = EXPIRED
            out.fields = {"from": body[6:body.find(">")]}
            out.message = body[body.find("status=expired") + 15:].strip(", ")
            return out
        out.kind = NOTE
        return out
    if first == "m" and body.startswith("message-id="):
        out.kind = MESSAGE_ID
        value = body[11:].strip()  # "<...>"; cut short when the header was very long
        if value[:1] == "<":
            value = value[1:-1] if value[-1:] == ">" else value[1:]
        out.fields = {"message_id": value}
        return out
    if body == "removed":
        out.kind = DELETED if service == "postsuper" else REMOVED
        return out
    if (first == "u" and body.startswith("uid=")) or (first == "s" and body.startswith("sender=")):
        # pickup: "uid=0 from=<root>" (older: "sender=root")
        out.kind = PICKUP
        f = out.fields
        for part in body.split(" "):
            key, eq, value = part.partition("=")
            if eq:
                f["from" if key == "sender" else key] = value.strip("<>")
        return out
    for action in _ACTIONS:
        if body.startswith(action):
            return _parse_action(out, action[:-2], body[len(action):])
    level = "info" if first == "i" and body.startswith("info: ") else (
        "warning" if first == "w" and body.startswith("warning: ") else "")
    if level and _CHECK_RE.match(body, len(level) + 2) is not None:
        # header_checks "/^Subject:/ INFO" (or WARN), the only way Postfix logs a subject: "info: header
        # Subject: =?UTF-8?B?w4lsw6h2ZQ==?= from mx[192.0.2.7]; from=<a> to=<b> proto=ESMTP helo=<h>"
        out = _parse_action(out, level, body[len(level) + 2:])
        check = out.fields.get("check", "")
        if out.fields.get("stage") == "header" and check[:9].lower() == "subject: ":
            out.fields["subject"] = decode_mime_words(check[9:])
        return out
    if service == "bounce":
        for notice in _NOTIFICATIONS:
            if body.startswith(notice):
                out.kind = NOTIFICATION
                out.fields = {"notification": notice[:-2], "notice_id": body[len(notice):].strip()}
                out.message = out.fields["notice_id"]
                return out
    if service == "postsuper":
        kind = {"requeued": REQUEUED, "placed on hold": HELD, "released from hold": RELEASED}.get(body)
        if kind is not None:
            out.kind = kind
            return out
    out.kind = NOTE
    out.message = body
    return out


def _parse_noqueue(out: PostfixLine, body: str) -> PostfixLine:
    for action in _ACTIONS:
        if body.startswith(action):
            return _parse_action(out, action[:-2], body[len(action):])
    out.kind = NOTE
    out.message = body
    return out


_services: dict[str, str] = {}  # program → its Postfix service ("" when it is not a Postfix program)


def _service_of(program: str) -> str:
    # "postfix/smtpd", "postfix-out/smtp", "postfix/submission/smtpd", "mx-in/smtpd", "/postfix-script"
    service = _services.get(program)
    if service is None:
        slash = program.rfind("/")
        service = program[slash + 1:] if slash >= 0 else program
        if not program.startswith("postfix") and (slash < 0 or service not in DAEMONS):
            service = ""
        if len(_services) > 10_000:
            _services.clear()
        _services[program] = service
    return service


def parse_postfix_line_py(line: str, year_hint: int | None = None) -> PostfixLine:
    """Parse one syslog line of a Postfix mail log (no trailing newline needed; CRLF is fine).

    The reference implementation: ``parse_postfix_line`` is the compiled fast path (_postfixc.c) where it
    was built, which reads the common line forms itself and hands every other line to this function.

    ``year_hint`` is the year of classic syslog timestamps, which have none; without it the year is
    guessed (this year, unless that puts the line in the future). ``SyslogYear`` does better for files.
    """
    if line[-1:] <= " ":
        line = line.rstrip()
    m = _PREFIX_RE.match(line)
    if m is None:
        return PostfixLine(UNKNOWN if line.strip() else NOTE, message=line)
    mon, day, hms, date, ihms, tz, tz2, host, program, pid, qid = m.groups()
    service = _services.get(program)
    if service is None:
        service = _service_of(program)
    if not service:
        return PostfixLine(OTHER, program=program, host=host)
    if mon is not None:
        year = year_hint if year_hint is not None else guess_year(mon, day)
        base = _minute_cache.get((mon, day, hms[:5], year))
        stamp = _classic_epoch(mon, day, hms, year) if base is None else base + int(hms[6:])
    else:
        stamp = _iso_epoch(date, ihms, tz or tz2)
    body = line[m.end():]
    if qid is not None:
        if qid == NOQUEUE:
            return _parse_noqueue(
                PostfixLine(NOTE, stamp, "", program, service, host, {}, "", mon is not None, pid or ""), body)
        out = PostfixLine(NOTE, stamp, qid, program, service, host, {}, "", mon is not None, pid or "")
        return _parse_queue_line(out, qid, body, service)
    out = PostfixLine(NOTE, stamp, "", program, service, host, {}, "", mon is not None, pid or "")
    if service == "smtpd" and body.startswith("connect from "):
        out.kind = CONNECT
        _client_fields(out.fields, body[13:])
        return out
    if "TLS connection established " in body:
        t = _TLS_RE.match(body)
        if t is not None:
            # "Anonymous TLS connection established from mx[192.0.2.7]: TLSv1.3 with cipher
            #  TLS_AES_256_GCM_SHA384 (256/256 bits) ...": the session a later line of this process uses
            out.kind = TLS
            _client_fields(out.fields, t["peer"], "peer")
            out.fields["tls"] = f"{t['protocol']}:{t['cipher']}:{t['bits']}"
            return out
    if body.startswith("proxy-"):
        if body.startswith("proxy-accept: END-OF-MESSAGE: "):
            # "proxy-accept: END-OF-MESSAGE: 250 2.0.0 from MTA(...): 250 2.0.0 Ok: queued as A0320E00C3;
            #  from=<a> to=<b> proto=ESMTP helo=<h>"
            rest = body[30:]
            at = _find_trailer(rest)
            if at >= 0:
                _trailer(out.fields, rest[at + 2:])
                rest = rest[:at]
            queued = _QUEUED_AS_RE.search(rest)
            if queued is not None:
                out.kind = PROXY_ACCEPT
                out.queue_id = queued.group(1)
            out.message = rest
            return out
        if body.startswith("proxy-reject: "):
            return _parse_action(out, "proxy-reject", body[14:])
    if service == "dnsblog":
        d = _DNSBLOG_RE.match(body)
        if d is not None:
            out.kind = DNSBL
            out.fields = {"ip": d["ip"], "list": d["list"], "reply": d["reply"]}
            return out
    out.message = body
    return out


def _compiled_parser() -> Callable[..., PostfixLine] | None:
    """The compiled fast path, set up; None where it was not built or TRACKDELIVERY_PURE_PYTHON is set."""
    if os.environ.get("TRACKDELIVERY_PURE_PYTHON"):
        return None
    try:
        from . import _postfixc  # type: ignore[attr-defined]
    except ImportError:
        return None
    kinds = {name: name for name in (CONNECT, CLIENT, QUEUED, MESSAGE_ID, REMOVED, DELETED, DELIVERY, TLS, NOTE,
                                     OTHER, REJECT, PICKUP, NOTIFICATION, DNSBL)}  # fmt: skip
    _postfixc.setup(PostfixLine, kinds, _classic_epoch, _iso_epoch, _services, _service_of, parse_postfix_line_py)
    parse: Callable[..., PostfixLine] = _postfixc.parse
    return parse


COMPILED = _compiled_parser()
parse_postfix_line: Callable[..., PostfixLine] = COMPILED or parse_postfix_line_py


def decode_mime_words(value: str) -> str:
    """A header as Postfix logs it (RFC 2047 words undecoded) → its text: "=?UTF-8?B?w4lsw6h2ZQ==?=" → "Élève"."""
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (HeaderParseError, LookupError, UnicodeError, ValueError):
        return value  # an unknown charset or a broken word: as logged


def queued_as(text: str) -> str:
    """The queue id in a reply such as "250 2.0.0 Ok: queued as 4E8FF30001C8" ("" if none)."""
    m = _QUEUED_AS_RE.search(text)
    return m.group(1) if m else ""


def forwarded_as(text: str) -> str:
    """local(8) forwarding: "forwarded as 2C9C5D1A2F" → the new queue id ("" if none)."""
    at = text.find("forwarded as ")
    if at < 0:
        return ""
    word = text[at + 13:].split(" ", 1)[0].rstrip(")")
    return word if QUEUE_ID_RE.fullmatch(word) else ""


_HALF_YEAR = 183 * 86400
_FUTURE_SLACK = 2 * 86400


class SyslogYear:
    """Reads the lines of one file in order and gives yearless timestamps their year.

    The first line gets the year of ``reference`` (the file's last change, which no line can be later
    than), or the year before when that would put it after the reference. After that a jump back by
    more than half a year is New Year (December, then January: the year goes up), and a jump forward
    by as much is a line logged late across New Year (a December line after a January one: the
    previous year, for that line only).
    """

    __slots__ = ("reference", "year", "last")

    def __init__(self, reference: float | None = None) -> None:
        now = time.time() if reference is None else reference
        self.reference = int(now)
        self.year = time.localtime(now).tm_year
        self.last: int | None = None

    def parser(self) -> Callable[[str], PostfixLine]:
        """``parse``, or its compiled fast path (_postfixc.year_parse) where that was built."""
        if COMPILED_YEAR is not None and type(self) is SyslogYear:
            return types.MethodType(COMPILED_YEAR, self)
        return self.parse

    def parse(self, line: str) -> PostfixLine:
        parsed = parse_postfix_line(line, self.year)
        stamp = parsed.time
        if stamp is None:
            return parsed
        if not parsed.yearless:
            self.last = stamp
            return parsed
        last = self.last
        if last is None:
            if stamp > self.reference + _FUTURE_SLACK:
                self.year -= 1
                parsed = parse_postfix_line(line, self.year)
        elif stamp < last - _HALF_YEAR:
            self.year += 1
            parsed = parse_postfix_line(line, self.year)
        elif stamp > last + _HALF_YEAR:
            parsed = parse_postfix_line(line, self.year - 1)
        if parsed.time is not None:
            self.last = parsed.time
        return parsed


def _compiled_year_parse() -> Callable[[SyslogYear, str], PostfixLine] | None:
    """_postfixc.year_parse, set up; None where the compiled parser is not used."""
    if COMPILED is None:
        return None
    from . import _postfixc  # type: ignore[attr-defined]

    _postfixc.setup_years(SyslogYear, SyslogYear.parse)
    year_parse: Callable[[SyslogYear, str], PostfixLine] = _postfixc.year_parse
    return year_parse


COMPILED_YEAR = _compiled_year_parse()
