"""Exim main-log parser: one log line (str) in, one ``EximLine`` out; pure, no I/O.

Unknown or malformed lines come back as kind ``UNKNOWN`` (or ``NOTE`` for known lines that carry no event).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Line kinds.
ARRIVAL = "arrival"  # <=
DELIVERY = "delivery"  # => -> >> *>
DEFER = "defer"  # ==
FAILURE = "failure"  # **
COMPLETED = "completed"
REJECTED = "rejected"  # rejected RCPT / MAIL / after DATA / by local_scan / non-SMTP ACL
SPAM_SCORE = "spamscore"  # cPanel SpamAssassin warning, SA-Exim
SENDER_ID = "sender_id"  # cPanel "Sender identification"
FROZEN = "frozen"
UNFROZEN = "unfrozen"
CANCELLED = "cancelled"  # cancelled by system filter / timeout_frozen_after / admin
REMOVED = "removed"  # removed by root (exim -Mrm)
NOTE = "note"  # a known line that is not a delivery event (connections, queue runs, auth failures, ...)
UNKNOWN = "unknown"

DELIVERY_FLAGS = frozenset(("=>", "->", ">>", "*>"))

# 23-char ids (Exim >= 4.97: 1smkL5-00000000e65-24eQ) and 16-char ids (1ZeQYq-0000Wm-1V).
MSGID = r"[0-9A-Za-z]{6}-(?:[0-9A-Za-z]{11}-[0-9A-Za-z]{4}|[0-9A-Za-z]{6}-[0-9A-Za-z]{2})"
MSGID_RE = re.compile(MSGID + r"\Z")

# "2026-11-01 10:00:00.123 +0100 [1234] 1smkL5-00000000e65-24eQ <= ..." (ms, zone, pid, id all optional)
_PREFIX_RE = re.compile(
    r"(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?:\.\d+)?(?: (?P<tz>[-+]\d{4}))?"
    r"(?: \[\d+\])?(?: \[(?P<part>\d+)[/\\](?P<parts>\d+)\])?(?: (?P<msgid>" + MSGID + r")(?= |\Z))? ?"
)
# Syslog wrappers: "Apr 28 15:53:37 server exim[12105]: 2016-04-28 ...",
# "2019-10-22 03:39:17 mx1.fqdn.local exim[29786]: dovecot_login ...", "mail.example.com exim[37]: 2021-...";
# a line too long for syslog is cut into "exim[37]: [1/3] 2021-...", "[2\3] ..." ("\" when cut at a newline).
_SYSLOG_RE = re.compile(
    r"(?:(?P<iso>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d)\S* |(?P<bsd>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) )?"
    r"(?:\S+ )?(?:\S+ )?exim\d*(?:\[(?P<pid>\d+)\])?: (?:\[\d+\] )?(?:\[(?P<part>\d+)[/\\](?P<parts>\d+)\] )?"
)
# A quoted value with backslash escapes, written as one character class repeated ("unrolled"): Python's
# re runs it about four times as fast as the alternation (?:[^"\\]|\\.)* on a long C="..." reply.
_QUOTED = r'"[^"\\]*(?:\\.[^"\\]*)*"'
# One token of the field list: key=value (value quoted with backslash escapes, or bare) or a bare word.
_TOKEN_RE = re.compile(r'(?:([A-Za-z][A-Za-z0-9_]*)=(' + _QUOTED + r'|\S*)|(' + _QUOTED + r'|\S+))')
# key=value fields: quoted values keep their spaces (T="a b", C="250 OK"); H= is read by _H_RE.
_FIELD_RE = re.compile(r' ([A-Za-z][A-Za-z0-9_]*)=(' + _QUOTED + r'|\S*)')
# One recipient of "for a@example.com "name with spaces"@example.com".
_RECIPIENT_RE = re.compile(_QUOTED + r'\S*|\S+')
_QUOTED_VALUE_RE = re.compile(r' [A-Za-z][A-Za-z0-9_]*=' + _QUOTED)
# A HELO is attacker-controlled and may itself contain parentheses: "H=(<script>alert(1)</script>) [ip]".
_HELO = r"\((?:[^()]|\([^()]*\))*\)"
_H_RE = re.compile(r" H=((?:[^\s(\[]\S* ?)?(?:DS )?(?:" + _HELO + r" ?)?(?:\[[^\]]*\](?::\w+)?\*?)?)")
# " H=mx [ip]:port I=[ip]:port DT=5s: " inside a defer's text, up to the text that follows it.
_INNER_FIELDS_RE = re.compile(r" H=(?:[^\s\[]+ )?(?:\[[^\]]*\](?::\w+)?\*? ?)?(?:[A-Za-z]+=\S+ ?)*?: ")
_TRAILING_DT_RE = re.compile(r" DT=(\d+(?:\.\d+)?[a-z]*)\Z")
# The address part of a delivery/defer/failure line: "addr (parent) <orig>" before the first field.
_ADDR = r"(?P<addr>:[a-z]+:|.+?)(?: \((?P<parent>[^()]*)\))?(?: <(?P<orig>[^<>]*)>)?"
# Both are matched on a right-stripped line: "\Z", not "\s*\Z", which made "** <1 MB of spaces>x" quadratic.
_ADDR_RE = re.compile(_ADDR + r"(?=:? [A-Za-z][A-Za-z0-9_]*=|: | :| defer \(| routing defer|:?\Z)")
_DELIVERED_ADDR_RE = re.compile(_ADDR + r"(?= [A-Za-z][A-Za-z0-9_]*=| PRDR| K |\Z)")
# H=host (helo) [ip]:port in its four shapes; "H=mx.example.org DS [192.0.2.7]:25" marks DNSSEC
# (log_selector +dnssec), a trailing "*" a reused connection.
_HOST_RE = re.compile(
    r"(?:(?P<name>[^\s(\[][^\s]*?) ?)?(?:DS )?(?:\((?P<helo>(?:[^()]|\([^()]*\))*)\) ?)?"
    r"(?:\[(?P<ip>[^\]]*)\](?::(?P<port>\w+))?)?\*?\Z"
)
# The common shapes ("name [ip]:port", "(helo) [ip]", "name (helo) [ip]", "[ip]") without the lazy,
# backtracking name of _HOST_RE, which costs several microseconds on a long host name. Where this one
# matches, _HOST_RE gives the same parts (tests/test_parse_exim_fuzz.py checks it); else _HOST_RE decides.
_HOST_FAST_RE = re.compile(r"(?:([^\s()\[\]]+) )?(?:\(([^()]*)\) )?\[([^\]]*)\](?::(\w+))?\*?\Z")
_SPAM_SCORE_RE = re.compile(r"\((?P<score>-?\d+(?:\.\d+)?)\)\"?\s*\Z")
_SA_SCORE_RE = re.compile(r"score=(?P<score>-?\d+(?:\.\d+)?)")
_REJECT_RE = re.compile(
    r"rejected (?P<what>RCPT|MAIL|after DATA|by local_scan\(\)|by non-SMTP ACL|"
    r"\(?by [^:]*ACL\)?|EHLO|HELO|connection)(?: (?P<addr><[^>]*>|\S+?))?(?::\s?(?P<reason>.*)|\s*\Z)",
)

_NOTE_PREFIXES = (
    "SMTP connection",
    "SMTP call",
    "SMTP protocol",
    "SMTP syntax",
    "SMTP command timeout",
    "SMTP data timeout",
    "no MAIL",
    "no host name",
    "no IP address",
    "Start queue run",
    "End queue run",
    "cwd=",
    "exim ",
    "TLS error",
    "Connection from",
    "ETRN",
    "DKIM:",
    "SPF:",
    "DMARC",
    "unexpected disconnection",
    "Spool file",
    "Message is frozen",
    "Unfrozen",
    "retry time not reached",
    "ACL",
    "H=",
    "U=",
    "F=",
    "SA:",
    "Warning:",
    "LOG:",
    "Authentication-Results",
    "tls_",
    "event",
    "too many",
    "daemon",
    "pid",
    "Completed",
    "Error",
    "error",
    "remote host",
)


@dataclass(slots=True)
class EximLine:
    kind: str
    time: int | None = None
    msgid: str = ""
    flag: str = ""
    address: str = ""  # sender for arrivals; delivered/failed address; rejected recipient
    orig: str = ""  # top-level recipient "<orig>"
    parent: str = ""  # intermediate alias "(parent)"
    fields: dict[str, str] = field(default_factory=dict)
    recipients: list[str] = field(default_factory=list)
    message: str = ""
    part: int = 0  # [n/m] split syslog lines: n (0 when not split)
    parts: int = 0


_epoch_cache: dict[str, int] = {}


def local_epoch(ts: str, tz: str | None = None) -> int | None:
    """'2026-11-01 10:00:00' (local time, or with zone '+0100') → epoch seconds; cached per minute."""
    key = ts[:16]
    base = _epoch_cache.get(key) if tz is None else None
    if base is None:
        try:
            tm = time.strptime(key, "%Y-%m-%d %H:%M")
        except ValueError:
            return None
        if tz is None:
            base = int(time.mktime(tm))
            if len(_epoch_cache) > 100_000:
                _epoch_cache.clear()
            _epoch_cache[key] = base
        else:
            import calendar

            sign = -1 if tz[0] == "-" else 1
            offset = sign * (int(tz[1:3]) * 3600 + int(tz[3:5]) * 60)
            base = calendar.timegm(tm) - offset
    try:
        return base + int(ts[17:19])
    except ValueError:
        return None


_ESCAPE_RE = re.compile(r"\\([0-7]{3}|.)")


def _unescape(match: re.Match[str]) -> str:
    code = match.group(1)
    # Octal escapes are bytes; map them to U+0000..U+00FF for now, decoded as UTF-8 below.
    return chr(int(code, 8)) if len(code) == 3 else code


def unquote(value: str) -> str:
    """Exim quotes T=, C=, DN= values and escapes them: \\" \\\\ and, for every non-ASCII byte, \\ooo octal.

    'T="\\303\\211l\\303\\250ve"' is the UTF-8 subject "Élève".
    """
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        value = value[1:-1]
        if "\\" in value:
            unescaped = _ESCAPE_RE.sub(_unescape, value)
            if unescaped != value and re.search(r"\\[0-7]{3}", value):
                try:
                    unescaped = unescaped.encode("latin-1").decode("utf-8", "replace")
                except UnicodeEncodeError:
                    pass  # already non-Latin text mixed in: keep it as it is
            value = unescaped
    return value


def split_host(value: str) -> tuple[str, str, str, str]:
    """'mx.example.com (helo) [192.0.2.1]:25' → (name, helo, ip, port)."""
    if _split_host_fast is not None:
        parts: tuple[str, str, str, str] | None = _split_host_fast(value)
        if parts is not None:
            return parts
    return split_host_py(value)


def split_host_py(value: str) -> tuple[str, str, str, str]:
    """split_host in Python: the reference of _eximc.split_host_fast, and what reads the other shapes."""
    fast = _HOST_FAST_RE.match(value)
    if fast is not None:
        name, helo, ip, port = fast.groups("")
        return name, helo, ip, port
    m = _HOST_RE.match(value)
    if not m:
        return value, "", "", ""
    return m["name"] or "", m["helo"] or "", m["ip"] or "", m["port"] or ""


def _read_fields(rest: str, pos: int, stop_at_colon: bool) -> tuple[dict[str, str], list[str], int]:
    """Read ``key=value`` tokens from ``rest[pos:]``.

    Bare words that follow H= ("(helo)", "[ip]:port") are folded into it. Returns the fields, the other
    bare words, and the index where a ": message" begins (len(rest) if none) when ``stop_at_colon``.
    """
    fields: dict[str, str] = {}
    words: list[str] = []
    last_key = ""
    n = len(rest)
    for m in _TOKEN_RE.finditer(rest, pos):
        key = m.group(1)
        if key is not None:
            value = m.group(2)
            last_key = key
            if stop_at_colon and value.endswith(":") and (m.end() == n or rest[m.end()] == " "):
                fields[key] = value[:-1]
                return fields, words, m.end() + 1
            fields.setdefault(key, value)
            continue
        word = m.group(3)
        if last_key == "H" and word[0] in "([" and "H" in fields:
            if stop_at_colon and word.endswith(":") and (m.end() == n or rest[m.end()] == " "):
                fields["H"] += " " + word[:-1]
                return fields, words, m.end() + 1
            fields["H"] += " " + word
            continue
        if stop_at_colon and word == ":":
            return fields, words, m.end() + 1
        if stop_at_colon and word.endswith(":") and (m.end() == n or rest[m.end()] == " "):
            words.append(word[:-1])
            return fields, words, m.end() + 1
        last_key = ""
        words.append(word)
    return fields, words, n


def _fields(text: str) -> dict[str, str]:
    """``key=value`` fields of a field list; H= gets its full "name (helo) [ip]:port" value."""
    fields = dict(_FIELD_RE.findall(text))
    if "H" in fields:
        h = _H_RE.search(text)
        if h is not None:
            fields["H"] = h.group(1).rstrip(" :")
    return fields


def _quoted_values_end(rest: str) -> int:
    """Index of the closing quote of the last quoted ``key="value"`` (-1 if none)."""
    end = 0
    for m in _QUOTED_VALUE_RE.finditer(rest):
        end = m.end()
    return end - 1


def _parse_arrival(out: EximLine, rest: str) -> EximLine:
    # "<= alice@example.com H=mail.example.net (helo) [192.0.2.1]:4711 I=[192.0.2.2]:25 P=esmtps
    #  X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no A=dovecot_login:alice S=1234 id=abc@x T="Hello"
    #  from <alice@example.com> for bob@example.com carol@example.org"
    sp = rest.find(" ", 3)
    out.address = rest[3:sp] if sp > 0 else rest[3:]
    if out.address == "<>":
        out.address = ""
    if sp < 0:
        return out
    # "for" and "from" come after the quoted subject; a " for " inside the subject is not the list.
    last_quote = rest.rfind('"')
    tail_at = len(rest)
    i = rest.rfind(" for ")
    if 0 <= i < last_quote:
        # 'T="Thanks for it"' (no list), or a quoted local part in the list: 'for "a b"@example.com'
        last_quote = _quoted_values_end(rest)
    if i > last_quote:
        tail = rest[i + 5 :]
        out.recipients = _RECIPIENT_RE.findall(tail) if '"' in tail else tail.split()
        tail_at = i
    j = rest.rfind(" from <", 0, tail_at)
    if j > last_quote:
        k = rest.find(">", j)
        if k > 0:
            out.fields = _fields(rest[sp:j])
            out.fields.setdefault("from", rest[j + 7 : k])
            return out
        tail_at = j
    out.fields = _fields(rest[sp:tail_at])
    return out


def _parse_outcome(out: EximLine, rest: str) -> EximLine:
    # "=> bob <bob@example.com> R=localuser T=local_delivery"
    # "== bob@example.net R=dnslookup T=remote_smtp defer (-44) H=mx.example.net [192.0.2.3]: SMTP error ..."
    # "** bob@example.net <bob@example.net> R=dnslookup T=remote_smtp H=mx [192.0.2.3] : SMTP error ..."
    body = rest[3:]
    m = (_DELIVERED_ADDR_RE if out.kind == DELIVERY else _ADDR_RE).match(body)
    if m is None:
        out.kind = UNKNOWN
        return out
    out.address = m["addr"]
    out.parent = m["parent"] or ""
    out.orig = m["orig"] or ""
    pos = m.end()
    if out.kind == DELIVERY:
        if pos == len(body) and not out.orig and "): " in out.address:
            # "=> blackhole (DATA ACL discarded recipients): <log_message>" (receive.c): no fields follow
            head, _, message = out.address.partition("): ")
            address, paren, parent = head.partition(" (")
            if paren:
                out.address, out.parent, out.message = address, parent, message
        else:
            out.fields = _fields(body[pos:])
        return out
    # The error text follows the first ": " after the address ("[ip]: ", "(-44): ", " : ", "addr: ").
    colon = body.find(": ", pos - 1 if pos else 0)
    if colon < 0:
        fields_text, out.message = body[pos:], ""
    else:
        fields_text, out.message = body[pos:colon], body[colon + 2 :].strip()
    fields = _fields(fields_text)
    out.fields = fields
    if out.address.endswith(":"):
        out.address = out.address[:-1]
    if out.kind == DEFER:
        # "defer (-44)" / "routing defer (-56)": keep the errno for the record
        d = fields_text.find("defer (")
        if d >= 0:
            e = fields_text.find(")", d)
            if e > 0:
                fields["errno"] = fields_text[d + 7 : e]
    if "H" not in fields and " H=" in out.message:
        # "defer (110): Connection timed out H=mx [192.0.2.1] I=[127.0.0.1]:1234 DT=5s: SMTP timeout after
        # initial connection": the host's fields sit inside the text; keep the host, drop them from the text.
        hm = _H_RE.search(out.message)
        if hm:
            fields["H"] = hm.group(1).rstrip(" :")
            inner = _INNER_FIELDS_RE.match(out.message, hm.start())
            if inner is not None:
                out.message = out.message[: hm.start()] + ": " + out.message[inner.end() :]
    # Exim 4.96 logs the delivery time after a failure's text: "...: 550 5.1.1 User unknown DT=0.000s"
    trailing = _TRAILING_DT_RE.search(out.message)
    if trailing is not None:
        fields.setdefault("DT", trailing.group(1))
        out.message = out.message[: trailing.start()]
    return out


def _parse_rejection(out: EximLine, rest: str, m: re.Match[str]) -> EximLine:
    # "H=(yakult.com.tw) [202.132.70.178]:3755 I=[1.2.3.4]:25 F=<x@y> rejected RCPT <dir@ml3.ru>: relay not permitted"
    out.kind = REJECTED
    out.fields, _, _ = _read_fields(rest[: m.start()], 0, False)
    what = m["what"]
    out.flag = what
    addr = (m["addr"] or "").strip("<>")
    if what == "RCPT":
        out.address = addr
    elif what == "MAIL":
        out.fields.setdefault("F", addr)
    out.message = (m["reason"] or "").strip() or "rejected " + what
    return out


def parse_exim_line_py(line: str) -> EximLine:
    """Parse one Exim main-log line (no trailing newline needed): the reference implementation.

    ``parse_exim_line`` is the compiled fast path (_eximc.c) where it was built, which reads the common
    line forms itself and hands every other line to this function.
    """
    line = line.rstrip()  # also trailing blanks: the address regexes end in "\Z", not "\s*\Z"
    if not line.strip():
        return EximLine(NOTE)
    m = _PREFIX_RE.match(line)
    part = parts = 0
    if m is None or _looks_syslog(line, m):
        s = _SYSLOG_RE.match(line)
        if s is None:
            return EximLine(UNKNOWN)
        inner = line[s.end() :]
        if s["part"]:
            part, parts = int(s["part"]), int(s["parts"])
        m2 = _PREFIX_RE.match(inner)
        if m2 is not None:
            line, m = inner, m2
        else:
            ts = s["iso"]
            if ts is None:
                return EximLine(UNKNOWN, message=inner, part=part, parts=parts)
            out = EximLine(NOTE, time=local_epoch(ts.replace("T", " ")), part=part, parts=parts)
            return _parse_body(out, inner)
    if m["part"]:
        part, parts = int(m["part"]), int(m["parts"])
    out = EximLine(NOTE, time=local_epoch(m["ts"], m["tz"]), msgid=m["msgid"] or "", part=part, parts=parts)
    return _parse_body(out, line[m.end() :])


def _looks_syslog(line: str, m: re.Match[str]) -> bool:
    # "2019-10-22 03:39:17 mx1.fqdn.local exim[29786]: ..." — an ISO syslog stamp, then host and program
    if m["msgid"]:
        return False
    rest = line[m.end() : m.end() + 80]
    if "exim" not in rest:
        return False
    sp = rest.find(" ")
    return sp > 0 and not m["msgid"] and rest[sp + 1 : sp + 5] == "exim" and ": " in rest


def _parse_body(out: EximLine, rest: str) -> EximLine:
    flag = rest[:3]
    if out.msgid:
        if flag == "<= ":
            out.kind = ARRIVAL
            out.flag = "<="
            return _parse_arrival(out, rest)
        if flag[:2] in DELIVERY_FLAGS and flag[2:] == " ":
            out.kind = DELIVERY
            out.flag = flag[:2]
            return _parse_outcome(out, rest)
        if flag == "== ":
            out.kind = DEFER
            out.flag = "=="
            return _parse_outcome(out, rest)
        if flag == "** ":
            out.kind = FAILURE
            out.flag = "**"
            return _parse_outcome(out, rest)
        if rest.startswith("Completed"):
            out.kind = COMPLETED
            return out
        if rest.startswith(("Frozen", "frozen")):
            out.kind = FROZEN
            out.message = rest
            return out
        if rest.startswith("unfrozen"):
            out.kind = UNFROZEN
            return out
        if rest.startswith("cancelled by"):
            out.kind = CANCELLED
            out.message = rest
            return out
        if rest.startswith("removed by") or rest.startswith("has been removed"):
            out.kind = REMOVED
            out.message = rest
            return out
        if rest.startswith("Sender identification"):
            # cPanel: "Sender identification U=alice D=example.com S=alice@example.com"
            out.kind = SENDER_ID
            out.fields, _, _ = _read_fields(rest, 21, False)
            return out
        if "SpamAssassin" in rest or rest.startswith("SA: "):
            # cPanel: 'Warning: "SpamAssassin as cpaneleximscanner detected message as NOT spam (-0.1)"'
            sm = _SPAM_SCORE_RE.search(rest) if "SpamAssassin" in rest else _SA_SCORE_RE.search(rest)
            if sm:
                out.kind = SPAM_SCORE
                out.message = sm["score"]
                return out
    if " rejected " in rest or rest.startswith("rejected "):
        rm = _REJECT_RE.search(rest)
        if rm is not None:
            what = rm["what"]
            if what in ("EHLO", "HELO", "connection"):
                out.kind = NOTE
                return out
            return _parse_rejection(out, rest, rm)
    if rest.startswith(_NOTE_PREFIXES) or "authenticator failed" in rest or "sender verify" in rest:
        out.kind = NOTE
        return out
    if out.msgid:
        # Any other line about a known message (DKIM, TLS, "SMTP error from remote..." notes, ...)
        out.kind = NOTE
        return out
    out.kind = UNKNOWN
    out.message = rest
    return out


def _compiled_parser() -> Callable[[str], EximLine] | None:
    """The compiled fast path, set up; None where it was not built or TRACKDELIVERY_PURE_PYTHON is set."""
    if os.environ.get("TRACKDELIVERY_PURE_PYTHON"):
        return None
    try:
        from . import _eximc  # type: ignore[attr-defined]
    except ImportError:
        return None
    kinds = {name: name for name in (ARRIVAL, DELIVERY, DEFER, FAILURE, COMPLETED, NOTE, UNKNOWN, SPAM_SCORE, REJECTED)}
    _eximc.setup(EximLine, kinds, _NOTE_PREFIXES, local_epoch, parse_exim_line_py)
    parse: Callable[[str], EximLine] = _eximc.parse
    return parse


COMPILED = _compiled_parser()
parse_exim_line: Callable[[str], EximLine] = COMPILED or parse_exim_line_py


def compiled_helper(name: str) -> Callable[..., Any] | None:
    """One of _eximc's helpers (split_host_fast, extract_dsn_fast); None where the fast path is not in use."""
    if COMPILED is None:
        return None
    from . import _eximc  # type: ignore[attr-defined]

    helper: Callable[..., Any] = getattr(_eximc, name)
    return helper


# The common H= shapes (printable ASCII) in one pass; None for the others, which split_host_py reads.
_split_host_fast = compiled_helper("split_host_fast")
