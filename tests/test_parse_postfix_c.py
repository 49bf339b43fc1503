"""The compiled fast path of the Postfix parser (parse/_postfixc.c) against the Python reference.

``_postfixc.fast(line, year_hint)`` either reads a line itself or answers None (the line is the Python
parser's). Wherever it reads one, its ``PostfixLine`` must equal ``parse_postfix_line_py``'s: checked on
every line of every corpus, on a generated benchmark log, and on mutated lines. It must also read most
lines of a busy server's log itself, or it would be no faster.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest
import test_parse_exim_c
from hypothesis import given, settings
from hypothesis import strategies as st

from trackdelivery.parse import postfix

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def fast():
    assert postfix.COMPILED is not None, (
        "the compiled Postfix parser (trackdelivery.parse._postfixc) is not built: pip install -e . needs a "
        "C compiler and the Python headers"
    )
    from trackdelivery.parse import _postfixc

    return _postfixc.fast


def compare(fast, lines: list[str], year: int | None = 2026) -> int:
    """Every line the fast path reads gives the reference's result; returns how many it read."""
    read = 0
    for line in lines:
        got = fast(line, year)
        if got is None:
            continue
        read += 1
        assert got == postfix.parse_postfix_line_py(line, year), line
    return read


def corpus_lines(path: Path) -> list[str]:
    return path.read_bytes().decode("utf-8", "replace").replace("\x00", "\ufffd").splitlines()


def test_the_compiled_parser_is_what_parse_postfix_line_uses(fast):
    assert postfix.parse_postfix_line is postfix.COMPILED
    line = "Jun  3 10:40:57 mail postfix/qmgr[204]: 4AA091855DA0: removed"
    assert fast(line, 2026) is not None
    assert fast(line, year_hint=2026) == postfix.parse_postfix_line_py(line, 2026)
    # no year hint: the year is guessed by Python
    assert fast(line) is None
    assert postfix.parse_postfix_line(line) == postfix.parse_postfix_line_py(line)
    reject = ("Jun  3 10:40:57 mail postfix/smtpd[1]: NOQUEUE: reject: RCPT from x[192.0.2.1]: 554 5.7.1 "
              "<b@example.org>: Relay access denied; from=<a@example.net> to=<b@example.org> proto=ESMTP helo=<x>")
    assert fast(reject, 2026) == postfix.parse_postfix_line_py(reject, 2026)
    assert (fast(reject, 2026).kind, fast(reject, 2026).fields["client_ip"], fast(reject, 2026).fields["helo"]) == (
        postfix.REJECT, "192.0.2.1", "x")
    check = ("Jun  3 10:40:57 mail postfix/cleanup[2]: NOQUEUE: reject: header Subject: hi from x[192.0.2.1]; "
             "from=<a@example.net> to=<b@example.org> proto=ESMTP helo=<x>: 5.7.1 no")
    assert fast(check, 2026) is None  # header and body checks: Python's
    assert postfix.parse_postfix_line(check, 2026) == postfix.parse_postfix_line_py(check, 2026)
    with pytest.raises(TypeError):
        fast(line, "2026")


def test_every_corpus_line_reads_the_same(fast, corpora: Path):
    postfix_lines = read_postfix = 0
    for path in sorted(corpora.rglob("*")):
        if not path.is_file():
            continue
        lines = corpus_lines(path)
        read = compare(fast, lines)
        compare(fast, lines, None)
        compare(fast, lines, 1999)
        if path.relative_to(corpora).parts[0] == "postfix":
            postfix_lines += len(lines)
            read_postfix += read
    assert postfix_lines > 10_000
    assert read_postfix / postfix_lines > 0.5, (read_postfix, postfix_lines)


@pytest.mark.parametrize("iso", [False, True])
def test_a_generated_busy_server_log_reads_the_same_and_mostly_in_c(fast, tmp_path: Path, iso: bool):
    log = tmp_path / "maillog"
    subprocess.run(
        [sys.executable, str(REPO / "bench" / "gen_postfix.py"), "--lines", "30000", "--seed", "5", "--out", str(log)]
        + (["--iso"] if iso else []),
        check=True,
        capture_output=True,
    )
    lines = corpus_lines(log)
    assert len(lines) >= 30_000
    read = compare(fast, lines)
    # what it leaves: pickup, notifications, dnsblog, expiries
    assert read / len(lines) > 0.98, (read, len(lines))


PIECES = [
    " ", "  ", ":", ": ", ", ", "=", "<", ">", "<>", "[", "]", "]:25", "(", ")", "()", "to=<", ", relay=",
    ", status=", "status=sent ", "(250 Ok)", "from=<", ">, size=", ", nrcpt=", "message-id=", "removed",
    "client=", "orig_client=", "sasl_username=", "connect from ", "TLS connection established ", "from ",
    "to ", " with cipher ", " (256/", "Anonymous ", "proxy-", "NOQUEUE: ", "reject: ", "postsuper", "smtpd",
    "dnsblog", "postfix/", "-out/", "[123]", "4AA091855DA0", "3mPVKl0Mhjz7sXv", "Z", "+01:00", "+0100", ".123",
    ",5", "T", "\t", "\r", "\xa0", "\u00e9", "1", "9", "Feb", "  ", "31",
    "milter-reject: ", "RCPT", "END-OF-MESSAGE", " from ", "local: ", "]:587: ", "; from=<", "; to=<", "; proto=",
    " to=<", " proto=SMTP", ", proto=", " helo=<", "helo=<", "header ", "body ", "discard: ", "-",
]
TEMPLATES = [
    "Jun  3 10:40:57 mail postfix/submission/smtpd[9708]: 4AA091855DA0: client=mx.example.net[192.0.2.7]:25, "
    "sasl_method=PLAIN, sasl_username=alice@example.com",
    "Jun 13 10:40:57 mail postfix/qmgr[204]: 4AA091855DA0: from=<alice@example.com>, size=1234, nrcpt=2 "
    "(queue active)",
    "2022-01-08T19:42:12.572958+00:00 mail postfix/smtp[19191]: 4AA091855DA0: to=<bob@example.org>, "
    "orig_to=<b@example.org>, relay=mx[192.0.2.9]:25, delay=0.3, delays=0.1/0/0.1/0.1, dsn=2.0.0, "
    "status=sent (250 2.0.0 Ok: queued as 4E8FF30001C8)",
    "2022-01-08 19:42:12 mail postfix/cleanup[1]: 3mPVKl0Mhjz7sXv: message-id=<a@b>",
    "Jun  3 10:40:57 mail postfix/qmgr[204]: 4AA091855DA0: removed",
    "Jun  3 10:40:57 mail postfix/smtpd[1]: connect from unknown[192.0.2.1]",
    "Jun  3 10:40:57 mail postfix/smtp[2]: Trusted TLS connection established to mx.example.org[192.0.2.2]:25: "
    "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
    "Jun  3 10:40:57 mail postfix/smtpd[1]: disconnect from unknown[192.0.2.1] ehlo=1 quit=1 commands=2",
    "Jun  3 10:40:57 mail dovecot: imap-login: Login: user=<a@example.com>",
    "2022-01-08T19:42:12+0100 mail postfix/local[3]: 4AA091855DA0: to=<bob@example.org>, relay=local, "
    "delay=0.1, status=bounced (unknown user)",
    "Jun  3 10:40:57 mail postfix/smtpd[1]: NOQUEUE: reject: RCPT from unknown[192.0.2.1]:4711: 450 4.7.1 "
    "<b@example.org>: Recipient address rejected: Greylisted; from=<a@example.net> to=<b@example.org> proto=ESMTP "
    "helo=<x.example>",
    "Jun  3 10:40:57 mail postfix/postscreen[7]: NOQUEUE: reject: RCPT from [192.0.2.1]:5555: 550 5.7.1 Service "
    "unavailable; client [192.0.2.1] blocked using zen.spamhaus.org; from=<a@b>, to=<c@d>, proto=ESMTP, helo=<h>",
    "Jun  3 10:40:57 mail postfix/smtpd[1]: NOQUEUE: milter-reject: END-OF-MESSAGE from x[192.0.2.1]: 5.7.1 "
    "Spam; from=<> to=<c@d> proto=SMTP",
    "Jun  3 10:40:57 mail postfix/sendmail[1]: NOQUEUE: reject: MAIL from local: 553 5.1.3 bad; proto=local",
    "Jun  3 10:40:57 mail postfix/smtpd[1]: NOQUEUE: lost connection after RCPT from x[192.0.2.1]",
]


def mutate(rng: random.Random, line: str) -> str:
    return test_parse_exim_c.mutate(rng, line, PIECES)


def test_mutated_lines_read_the_same(fast):
    """100,000 seeded mutations of real line forms, with and without a year hint."""
    rng = random.Random(20261202)
    lines = [mutate(rng, rng.choice(TEMPLATES)) for _ in range(100_000)]
    assert compare(fast, lines) > 25_000
    compare(fast, lines[:20_000], None)
    for line in lines[:10_000]:
        assert postfix.parse_postfix_line(line, 2026) == postfix.parse_postfix_line_py(line, 2026), line


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(TEMPLATES), st.lists(st.tuples(st.integers(0, 300), st.sampled_from(PIECES)), max_size=5))
def test_hypothesis_mutations_read_the_same(template, edits):
    from trackdelivery.parse import _postfixc

    line = template
    for at, piece in edits:
        at %= len(line) + 1
        line = line[:at] + piece + line[at:]
    got = _postfixc.fast(line, 2026)
    assert got is None or got == postfix.parse_postfix_line_py(line, 2026)
    assert postfix.parse_postfix_line(line, 2026) == postfix.parse_postfix_line_py(line, 2026)


def test_pickup_bounce_notices_and_dnsblog_read_the_same(fast):
    """The forms added to the compiled parser, with the pieces that steer split(" "), strip("<>"), the
    notices' prefixes and _DNSBLOG_RE."""
    head = "Jun  3 10:40:57 mail postfix/{}[2]: "
    pickups = ["uid=0 from=<root>", "sender=root", "uid=33  from=<<nagios>>", "uid= from=<>", "uid=0 x y=1=2 from=<a b>",
               "sender=<x> uid=5 sender=y", "uid=0 from=<root", "uid=0 from=root>", "uid==", "sender= from=<a>"]
    notices = ["sender non-delivery notification: 766F310031", "sender delay notification: 766F310031",
               "sender delivery status notification: 1A", "postmaster non-delivery notification: 2B",
               "postmaster delay notification:   3C", "sender non-delivery notification: ",
               "sender non-delivery notification:", "sender non-delivery notification: a b",
               "postmaster tea notification: 4D", "sender  delay notification: 5E"]
    dnsblog = ["addr 192.0.2.1 listed by domain zen.spamhaus.org as 127.0.0.4",
               "addr 192.0.2.1 listed by domain zen.spamhaus.org as 127.0.0.4 (extra)",
               "addr  192.0.2.1 listed by domain z as 1", "addr 192.0.2.1 listed by domain  z as 1",
               "addr 192.0.2.1 listed by domain z as ", "addr 192.0.2.1 listed by domain z as",
               "addr 192.0.2.1 listed by z as 1", "addr x listed by domain y as z", "addr  listed by domain y as z",
               "addr 192.0.2.1 listed by domain z as  1", "something else entirely"]
    lines = [head.format("pickup") + "A857610008: " + body for body in pickups]
    lines += [head.format("bounce") + "C43891002E: " + body for body in notices]
    lines += [head.format("smtp") + "C43891002E: " + notices[0]]  # not bounce(8): a note, Python's
    lines += [head.format("dnsblog") + body for body in dnsblog]
    assert compare(fast, lines, 2026) == 27  # all but the four notices that are none and the smtp line
    kinds = [fast(line, 2026) for line in lines]
    assert [line.kind for line in kinds[:10]] == ["pickup"] * 10
    assert kinds[0].fields == {"uid": "0", "from": "root"} and kinds[5].fields == {"from": "y", "uid": "5"}
    assert kinds[10].kind == "notification" and kinds[10].fields == {
        "notification": "sender non-delivery notification", "notice_id": "766F310031"}
    assert kinds[14].message == "3C"
    assert [line.kind for line in kinds[-11:]] == ["dnsbl", "dnsbl"] + ["note"] * 5 + ["dnsbl"] + ["note"] * 3
    assert kinds[-11].fields == {"ip": "192.0.2.1", "list": "zen.spamhaus.org", "reply": "127.0.0.4"}


def test_a_control_character_anywhere_is_left_to_python(fast):
    """Lines with a control character are the Python parser's (its \\s and \\w differ there): the compiled
    check reads eight bytes at a time, so every character below 0x20 is put at every position."""
    base = "Jun  3 10:40:57 mail postfix/smtp[2]: 4AA091855DA0: to=<b@example.org>, relay=mx[192.0.2.9]:25, " \
        "delay=1, dsn=2.0.0, status=sent (250 ok)"
    for code in range(0x20):
        for at in range(len(base)):
            line = base[:at] + chr(code) + base[at:]
            if line.rstrip() != base:  # (a trailing one is stripped, as str.rstrip() does)
                assert fast(line, 2026) is None, (code, at)
    assert compare(fast, [base], 2026) == 1


def test_a_line_nothing_holds_is_made_again_in_place_and_one_that_is_held_is_not(fast):
    """The parser makes the next line in the last one when nothing else holds it or its fields (the ingest
    drops each line once fed): no object or dict allocated per line. A line kept anywhere stays as it was."""
    first = "Jun  3 10:40:57 mail postfix/smtp[2]: 4AA091855DA0: to=<b@example.org>, relay=mx[192.0.2.9]:25, " \
        "delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)"
    second = "Jun  3 10:40:58 mail postfix/qmgr[204]: 4AA091855DA1: removed"
    third = "Jun  3 10:40:59 mail postfix/smtpd[9]: connect from x.example[192.0.2.1]"
    kept = fast(first, 2026)
    address = id(kept)
    again = fast(second, 2026)  # the first is held: a new object
    assert id(again) != address and kept == postfix.parse_postfix_line_py(first, 2026)
    del kept
    reused = fast(third, 2026)  # the second is held; the first (dropped) is not the spare any more
    assert reused == postfix.parse_postfix_line_py(third, 2026)
    del again, reused
    made = fast(first, 2026)
    address = id(made)
    assert sys.getrefcount(made) == 3  # made, the argument, and the parser's own: it keeps the last line
    del made
    assert id(fast(second, 2026)) == address  # dropped: made again in place ...
    line = fast(third, 2026)
    assert line == postfix.parse_postfix_line_py(third, 2026)  # ... with nothing left of the line before
    fields = line.fields
    del line
    other = fast(first, 2026)  # its fields are held: neither it nor they are reused
    assert other.fields is not fields and fields == postfix.parse_postfix_line_py(third, 2026).fields
    assert other == postfix.parse_postfix_line_py(first, 2026)


def test_syslog_year_reads_the_same_through_new_year(fast):
    lines = [
        "Dec 31 23:59:58 mail postfix/qmgr[1]: 4AA091855DA0: removed",
        "Jan  1 00:00:01 mail postfix/qmgr[1]: 4AA091855DA1: removed",
        "Dec 31 23:59:59 mail postfix/qmgr[1]: 4AA091855DA2: removed",
        "Jan  1 00:00:02 mail postfix/qmgr[1]: 4AA091855DA3: removed",
    ]
    reference = 1830297600.0  # 2028-01-01 UTC
    compiled = postfix.SyslogYear(reference)
    got = [compiled.parse(line) for line in lines]
    import trackdelivery.parse.postfix as module

    saved = module.parse_postfix_line
    module.parse_postfix_line = postfix.parse_postfix_line_py
    try:
        python = postfix.SyslogYear(reference)
        want = [python.parse(line) for line in lines]
    finally:
        module.parse_postfix_line = saved
    assert got == want
    assert got[0].time < got[1].time  # New Year: the year went up
    assert got[2].time < got[1].time  # a December line logged late: the year before


def test_noqueue_rejections_read_the_same(fast):
    """Rejection lines built from the pieces that steer _STAGE_RE, _find_trailer and _TRAILER_RE."""
    rng = random.Random(7)
    stages = ["RCPT", "MAIL", "END-OF-MESSAGE", "DATA", "x-y", "", "RC PT", "RCPT1"]
    clients = ["x[1.2.3.4]", "unknown[192.0.2.1]:4711", "[1.2.3.4]:25", "local", "x[1.2.3.4]:", "x[1.2.3.4]:2a",
               "x[1.2.3.4", "x [1]", "a[b]c[d]", "[]", "x[1.2.3.4]:25:", "localx", "x[::1]:25"]
    reasons = ["554 5.7.1 <b@x>: Relay access denied", "", "  spaced  ", "a; b", "x; from=<y", "z ; to=<"]
    trailers = ["", "; from=<a@b> to=<c@d> proto=ESMTP helo=<h>", "; from=<>, to=<c@d>, proto=ESMTP, helo=<h>",
                "; to=<c@d> proto=SMTP", "; proto=ESMTP", "; from=<a", "; from=<a> proto= helo=<h>",
                "; from=<a>,, to=<b>", "; from=<a>  to=<b>", "; helo=<x>", "; proto=A,B helo=<x", "; to=<b>; from=<a>"]
    read = with_client = 0
    for _ in range(20_000):
        line = ("Jun  3 10:40:57 mail postfix/smtpd[1]: NOQUEUE: " + rng.choice(["reject: ", "milter-reject: "])
                + rng.choice(stages) + rng.choice([" from ", " from"]) + rng.choice(clients) + rng.choice([": ", ":", " : "])
                + rng.choice(reasons) + rng.choice(trailers) + rng.choice(["", " ", "x"]))
        ours = fast(line, 2026)
        assert ours is not None and ours == postfix.parse_postfix_line_py(line, 2026), line
        read += 1
        with_client += "stage" in ours.fields
    assert with_client > 1_000, with_client
