"""Fuzzing the Exim parser with hypothesis: whatever the input, it returns an ``EximLine``, never raises."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from trackdelivery.parse.exim import (
    ARRIVAL,
    CANCELLED,
    COMPLETED,
    DEFER,
    DELIVERY,
    FAILURE,
    FROZEN,
    NOTE,
    REJECTED,
    REMOVED,
    SENDER_ID,
    SPAM_SCORE,
    UNFROZEN,
    UNKNOWN,
    EximLine,
    parse_exim_line,
    split_host,
    unquote,
)

ALL_KINDS = {
    ARRIVAL,
    DELIVERY,
    DEFER,
    FAILURE,
    COMPLETED,
    REJECTED,
    SPAM_SCORE,
    SENDER_ID,
    FROZEN,
    UNFROZEN,
    CANCELLED,
    REMOVED,
    NOTE,
    UNKNOWN,
}
FUZZ = settings(max_examples=300, deadline=None)

# Hand-written in Exim's format (documentation addresses, made-up ids), one of each common form.
ID = "1vQk7Z-00000002aB3-x9Yz"
REAL_LOOKING_LINES = [
    f"2026-11-16 10:00:00 {ID} <= alice@example.com H=mail.example.net (client.example.net) "
    "[192.0.2.13]:54321 I=[198.51.100.5]:587 P=esmtpsa X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no "
    'A=dovecot_login:alice@example.com S=4321 id=42@example.com T="Hello \\"you\\" f\u00fcr" '
    "from <alice@example.com> for bob@example.net carol@example.net",
    f"2026-11-16 10:00:01 1vQk8A-00000002aC4-Lm2N <= <> R={ID} U=mailnull P=local S=2000 "
    'T="Mail delivery failed" for alice@example.com',
    f"2026-11-16 10:00:02.345 +0100 [4242] {ID} => bob@example.org (sales@example.net) "
    "<info@example.net> R=dnslookup T=remote_smtp H=mx.example.org DS [198.51.100.7]:25* "
    'X=TLS1.2:ECDHE_RSA_AES_128_GCM_SHA256:128 CV=yes C="250 2.0.0 \\"Ok\\": queued as 4Xy7Z" QT=3s DT=1s',
    "2026-11-16 10:00:02 1ZeQYq-0000Wm-1V => |/usr/local/bin/ticket-import --queue support "
    "<support@example.net> R=system_aliases T=address_pipe",
    "2026-11-16 10:00:02 1ZeQYq-0000Wm-1V => :blackhole: <nobody@example.net> R=blackhole_aliases",
    "2026-11-16 10:00:02 1ZeQYq-0000Wm-1V => blackhole (DATA ACL discarded recipients): spam",
    f"2026-11-16 10:00:03 {ID} == bob@example.org R=dnslookup T=remote_smtp defer (-44) "
    "H=mx.example.org [198.51.100.7]: SMTP error from remote mail server after RCPT TO:<bob@example.org>: "
    "451 4.7.1 Greylisted",
    f"2026-11-16 10:00:03 {ID} == bob@example.org routing defer (-56): domain is in queue_domains",
    f"2026-11-16 10:00:03 {ID} == bob@example.org R=dnslookup T=remote_smtp defer (dd): "
    "Connection timed out H=mx.example.org [198.51.100.7]: SMTP timeout after EHLO client.example.com",
    f"2026-11-16 10:00:04 {ID} ** frank@example.org <frank@example.org> R=dnslookup "
    "T=remote_smtp H=mx.example.org [198.51.100.7] : SMTP error from remote mail server after RCPT "
    "TO:<frank@example.org>: 550 5.1.1 User unknown",
    f"2026-11-16 10:00:04 {ID} ** nobody@example.invalid: Unrouteable address",
    f"2026-11-16 10:00:05 {ID} Completed QT=5s",
    f"2026-11-16 10:00:05 {ID} cancelled by system filter: not wanted",
    "2026-11-16 10:00:06 H=(helo.example.net) [192.0.2.20]:40000 I=[198.51.100.5]:25 F=<spammer@example.net> "
    "rejected RCPT <victim@example.org>: relay not permitted",
    f"2026-11-16 10:00:06 {ID} F=<spammer@example.net> H=(helo) [192.0.2.21] P=esmtp "
    "rejected by local_scan(): Rejected",
    f'2026-11-16 10:00:07 {ID} Warning: "SpamAssassin as cpaneleximscanner detected message '
    'as NOT spam (-0.3)"',
    f"2026-11-16 10:00:07 {ID} SA: Action: flagged as Spam but accepted: score=8.2 required=5.0",
    f"2026-11-16 10:00:07 {ID} Sender identification U=alice D=example.com S=alice@example.com",
    f"Nov 16 10:00:00 mail exim[123]: [1/2] 2026-11-16 10:00:00 [123] {ID} <= alice@example.com "
    'H=[192.0.2.10] P=smtp S=10 T="long',
    "2026-11-16 10:00:00 mail.example.com exim[29786]: dovecot_login authenticator failed for (User) "
    "[192.0.2.37]: 535 Incorrect authentication data",
]
FLAGS = ["<= ", "=> ", "-> ", ">> ", "*> ", "== ", "** ", "Completed", "rejected RCPT ", "SA: ", "Warning: "]


def check(text: str) -> EximLine:
    result = parse_exim_line(text)
    assert isinstance(result, EximLine)
    assert result.kind in ALL_KINDS
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in result.fields.items())
    assert all(isinstance(r, str) for r in result.recipients)
    return result


@FUZZ
@given(st.text())
def test_never_raises_on_arbitrary_text(text):
    check(text)


@FUZZ
@given(st.binary())
def test_never_raises_on_arbitrary_bytes_decoded_with_replacement(raw):
    check(raw.decode("utf-8", errors="replace"))


@FUZZ
@given(st.sampled_from(REAL_LOOKING_LINES), st.data())
def test_never_raises_on_real_lines_truncated_anywhere(line, data):
    cut = data.draw(st.integers(min_value=0, max_value=len(line)))
    check(line[:cut])


@FUZZ
@given(
    st.sampled_from(REAL_LOOKING_LINES),
    st.lists(st.tuples(st.integers(min_value=0), st.text(min_size=1, max_size=8)), min_size=1, max_size=6),
)
def test_never_raises_on_real_lines_with_random_characters_inserted(line, insertions):
    for position, chars in insertions:
        at = position % (len(line) + 1)
        line = line[:at] + chars + line[at:]
    check(line)


@FUZZ
@given(
    st.sampled_from(REAL_LOOKING_LINES),
    st.lists(st.integers(min_value=0), min_size=1, max_size=6),
    st.sampled_from(['"', "\\", "(", ")", "<", ">", "[", "]", ":", " ", "=", "\t", "\x00", "\ufffd"]),
)
def test_never_raises_on_real_lines_with_syntax_characters_inserted(line, positions, char):
    for position in positions:
        at = position % (len(line) + 1)
        line = line[:at] + char + line[at:]
    check(line)


@FUZZ
@given(st.sampled_from(REAL_LOOKING_LINES), st.data())
def test_never_raises_on_real_lines_with_a_span_deleted(line, data):
    start = data.draw(st.integers(min_value=0, max_value=len(line)))
    end = data.draw(st.integers(min_value=start, max_value=len(line)))
    check(line[:start] + line[end:])


@FUZZ
@given(st.sampled_from(FLAGS), st.text())
def test_never_raises_on_a_valid_prefix_and_flag_followed_by_anything(flag, tail):
    check(f"2026-11-16 10:00:00 {ID} " + flag + tail)


@FUZZ
@given(st.text())
def test_host_splitting_and_unquoting_never_raise(text):
    assert len(split_host(text)) == 4
    assert isinstance(unquote(text), str)
    assert isinstance(unquote('"' + text + '"'), str)


# Host values built from the characters that matter to H= parsing, and real shapes with parts changed.
_HOST_PIECES = st.sampled_from(["mx", "a.b", "D", "S", "DS", " ", "(", ")", "[", "]", ":", "*", "25", "1.2.3.4", "::1"])
_HOST_SHAPES = [
    "".join(parts)
    for parts in itertools.product(
        ["", "mx.example.com ", "DS ", "a(b) ", "x]y ", "mx DS ", "ab* "],
        ["", "(helo) ", "(he(l)o) ", "(a b) ", "() ", "(x)"],
        ["[192.0.2.1]", "[::1]:25", "[1.2.3.4]:x_1*", "[]", ""],
        ["", "*", " ", ":"],
    )
]


def _full_split(value: str) -> tuple[str, str, str, str]:
    from trackdelivery.parse.exim import _HOST_RE

    full = _HOST_RE.match(value)
    return tuple(full.groups("")) if full else (value, "", "", "")  # type: ignore[return-value]


def test_the_fast_host_split_agrees_with_the_full_one_on_every_shape() -> None:
    differ = [value for value in _HOST_SHAPES if split_host(value) != _full_split(value)]
    assert len(_HOST_SHAPES) == 840 and differ == []


@FUZZ
@given(st.lists(_HOST_PIECES, max_size=12).map("".join))
def test_the_fast_host_split_agrees_with_the_full_one(value):
    assert split_host(value) == _full_split(value)
