"""The compiled fast path of the Exim parser (parse/_eximc.c) against the Python reference.

``_eximc.fast(line)`` either reads a line itself or answers None (the line is the Python parser's).
Wherever it reads one, its ``EximLine`` must equal ``parse_exim_line_py``'s: checked on every line of
every corpus, on a generated benchmark log, and on hundreds of thousands of mutated lines. The
compiled parser must also read most lines itself, or it would be no faster.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_parse_exim_fuzz import REAL_LOOKING_LINES

from trackdelivery import explain
from trackdelivery.explain import extract_dsn, extract_dsn_py
from trackdelivery.parse import exim

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def fast():
    assert exim.COMPILED is not None, (
        "the compiled Exim parser (trackdelivery.parse._eximc) is not built: pip install -e . needs a C "
        "compiler and the Python headers"
    )
    from trackdelivery.parse import _eximc

    return _eximc.fast


def compare(fast, lines: list[str]) -> int:
    """Every line the fast path reads gives the reference's result; returns how many it read."""
    read = 0
    for line in lines:
        got = fast(line)
        if got is None:
            continue
        read += 1
        assert got == exim.parse_exim_line_py(line), line
    return read


def corpus_lines(path: Path) -> list[str]:
    # decoded the way ingest decodes a line
    return path.read_bytes().decode("utf-8", "replace").replace("\x00", "\ufffd").splitlines()


def test_the_compiled_parser_is_what_parse_exim_line_uses(fast):
    assert exim.parse_exim_line is exim.COMPILED
    line = "2026-11-16 10:00:00 1ZeQYq-0000Wm-1V => bob@example.org R=dnslookup T=remote_smtp"
    assert fast(line) is not None
    # a line it leaves to Python still gets the Python parser's answer through parse_exim_line
    frozen = "2026-11-16 10:00:06 1ZeQYq-0000Wm-1V Frozen (delivery error message)"
    assert fast(frozen) is None
    assert exim.parse_exim_line(frozen) == exim.parse_exim_line_py(frozen)
    assert exim.parse_exim_line(frozen).kind == exim.FROZEN
    rejected = "2026-11-16 10:00:06 H=(helo) [192.0.2.20]:25 F=<a@example.net> rejected RCPT <b@example.org>: no"
    assert fast(rejected) == exim.parse_exim_line_py(rejected)
    assert (fast(rejected).kind, fast(rejected).fields["H"], fast(rejected).address) == (
        exim.REJECTED, "(helo) [192.0.2.20]:25", "b@example.org")


def test_every_corpus_line_reads_the_same(fast, corpora: Path):
    exim_lines = read_exim = 0
    files = [p for p in sorted(corpora.rglob("*")) if p.is_file()]
    assert len(files) > 50
    for path in files:
        lines = corpus_lines(path)
        read = compare(fast, lines)
        if "exim" in path.relative_to(corpora).parts[0]:
            exim_lines += len(lines)
            read_exim += read
    # The Exim corpora are mostly test-suite logs full of odd forms; still, most lines are read in C.
    assert exim_lines > 20_000
    assert read_exim / exim_lines > 0.6, (read_exim, exim_lines)


def test_a_generated_busy_server_log_reads_the_same_and_almost_all_in_c(fast, tmp_path: Path):
    log = tmp_path / "exim_mainlog"
    subprocess.run(
        [sys.executable, str(REPO / "bench" / "gen_exim.py"), "--lines", "40000", "--seed", "7", "--out", str(log)],
        check=True,
        capture_output=True,
    )
    lines = corpus_lines(log)
    assert len(lines) >= 40_000
    read = compare(fast, lines)
    # what it leaves: frozen messages, and the few odd lines of the generator
    assert read / len(lines) > 0.99, (read, len(lines))


# Pieces that steer the parser's decisions: quoting, escapes, hosts, lists, the address's lookaheads.
PIECES = [
    " ", "  ", '"', '\\"', "\\", "\\\\", "(", ")", "<", ">", "<>", ":", ": ", " :", " H=", " H=(", " H=[",
    " H=mx DS [192.0.2.1]:25*", "(helo (x))", " for ", " from <", " from <a@b> for x y", " DT=1.5s", " DT=3",
    " defer (", " defer (-44)", " routing defer", "R=", " T=", ' T="a b"', ' C="250 \\"Ok\\""', " PRDR", " K ",
    "[", "]", "]:25", "]:", "*", "=", "DS ", " (x)", " <y>", ":blackhole:", "): ", " (", "SpamAssassin",
    "(-1.2)", '(-1.2)"', "(3)", "score=", "score=-", "score=4.5", " rejected ", "rejected ", "exim", "exim[1]: ",
    "Completed", "Frozen", "SA: ", "\t", "\x1c", "\xa0", "\u00e9", "\u3000", "\u0663", "1", "-", ".", "_", "a=b",
    " I=[::1]:25", " X=TLS1.3:A:256", " S=12", "@", "\r", "[1/2] ", " +0100", " [123]", ".123",
    "rejected RCPT", "rejected MAIL", "RCPT", "MAIL", "after DATA", "by local_scan()", "by non-SMTP ACL", "ACL",
    "(by ", "by x ACL)", "EHLO", "HELO", "connection", " F=<a@b>", " H=(h) [1.2.3.4]:5", "<a b>", "<<a>>",
]
TEMPLATES = [line for line in REAL_LOOKING_LINES if line[:4].isdigit()] + [
    "2026-11-16 10:00:02 1ZeQYq-0000Wm-1V -> carol@example.org (bob@example.org) <alice@example.org> "
    "R=virtual_aliases T=local_delivery",
    "2026-11-16 10:00:02 1ZeQYq-0000Wm-1V >> /var/mail/bob <bob@example.org> R=file T=address_file",
    "2026-11-16 10:00:02 1ZeQYq-0000Wm-1V *> bob@example.org R=dnslookup T=remote_smtp H=mx [192.0.2.1]",
    "2026-11-16 10:00:02 1ZeQYq-0000Wm-1V ** bob@example.org R=x T=y: SMTP error from remote mail server "
    "after RCPT TO:<bob@example.org>: 550 No such user DT=0.5s",
    "2026-11-16 10:00:02 1ZeQYq-0000Wm-1V == bob@example.org: retry time not reached",
    "2026-11-16 10:00:03 SMTP connection from [192.0.2.9]:1234 I=[198.51.100.5]:25 (TCP/IP connection count = 1)",
    "2026-11-16 10:00:03 Start queue run: pid=123",
    "2026-11-16 10:00:03 something nobody has seen",
    "2026-11-16 10:00:03 H=(helo.example) [192.0.2.9]:4711 I=[198.51.100.5]:25 F=<a@example.net> rejected RCPT"
    " <b@example.org>: relay not permitted",
    "2026-11-16 10:00:03 H=mx.example.net [192.0.2.9] F=<> rejected MAIL <>: Access denied",
    "2026-11-16 10:00:03 1ZeQYq-0000Wm-1V H=[192.0.2.9] F=<a@b.example> rejected after DATA: spam (score 12.5)",
    "2026-11-16 10:00:03 1ZeQYq-0000Wm-1V rejected by local_scan(): bad",
    "2026-11-16 10:00:03 1ZeQYq-0000Wm-1V F=<a@b> rejected by non-SMTP ACL: cannot send",
    "2026-11-16 10:00:03 H=[192.0.2.9] F=<a@b> temporarily rejected (by check_rcpt ACL): try later",
    "2026-11-16 10:00:03 H=(x) [192.0.2.9] rejected EHLO or HELO x: syntactically invalid",
    "2026-11-16 10:00:03 H=[192.0.2.9] rejected connection in \"connect\" ACL",
    "2026-11-16 10:00:03 H=[192.0.2.9] U=x P=esmtp F=<a@b> rejected RCPT b@c",
]


def mutate(rng: random.Random, line: str, pieces: list[str] = PIECES) -> str:
    """1 to 4 random edits: a piece inserted, a few characters deleted, or the rest cut off."""
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(line))
        roll = rng.random()
        if roll < 0.6:
            line = line[:at] + rng.choice(pieces) + line[at:]
        elif roll < 0.85:
            line = line[:at] + line[at + rng.randint(1, 12) :]
        else:
            line = line[:at]
    return line


def test_mutated_lines_read_the_same(fast):
    """200,000 seeded mutations of real line forms: a wrong fast path cannot hide from this many."""
    rng = random.Random(20261201)
    lines = [mutate(rng, rng.choice(TEMPLATES)) for _ in range(200_000)]
    read = compare(fast, lines)
    assert read > 80_000  # most mutations stay lines the fast path reads
    for line in lines[:20_000]:
        assert exim.parse_exim_line(line) == exim.parse_exim_line_py(line), line


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(TEMPLATES), st.lists(st.tuples(st.integers(0, 400), st.sampled_from(PIECES)), max_size=5))
def test_hypothesis_mutations_read_the_same(template, edits):
    assert exim.COMPILED is not None
    from trackdelivery.parse import _eximc

    line = template
    for at, piece in edits:
        at %= len(line) + 1
        line = line[:at] + piece + line[at:]
    got = _eximc.fast(line)
    assert got is None or got == exim.parse_exim_line_py(line)
    assert exim.parse_exim_line(line) == exim.parse_exim_line_py(line)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(sorted(set("".join(PIECES)) | set("abc019@. -:"))), max_size=120))
def test_hypothesis_any_text_after_a_prefix_reads_the_same(body):
    from trackdelivery.parse import _eximc

    for prefix in ("2026-11-16 10:00:00 1ZeQYq-0000Wm-1V ", "2026-11-16 10:00:00 "):
        line = prefix + body
        got = _eximc.fast(line)
        assert got is None or got == exim.parse_exim_line_py(line), line


def test_the_time_of_a_line_is_read_in_the_local_zone_like_python(fast):
    for line in (
        "2026-03-29 01:59:59 1ZeQYq-0000Wm-1V Completed",
        "2026-03-29 02:30:00 1ZeQYq-0000Wm-1V Completed",
        "2026-11-16 10:00:00.123 +0530 1ZeQYq-0000Wm-1V Completed",
        "2026-13-16 10:00:00 1ZeQYq-0000Wm-1V Completed",  # no such month: no time
        "2026-11-16 10:00:59 1ZeQYq-0000Wm-1V Completed",
    ):
        got = fast(line)
        assert got is not None and got == exim.parse_exim_line_py(line), line
    assert fast("2026-13-16 10:00:00 1ZeQYq-0000Wm-1V Completed").time is None


def test_pure_python_can_be_asked_for():
    """TRACKDELIVERY_PURE_PYTHON=1 turns both fast paths off (for comparing, or after a suspected bug)."""
    code = (
        "from trackdelivery.parse import exim, postfix; "
        "print(exim.COMPILED is None, exim.parse_exim_line is exim.parse_exim_line_py, "
        "postfix.COMPILED is None, postfix.parse_postfix_line is postfix.parse_postfix_line_py)"
    )
    env = {**os.environ, "TRACKDELIVERY_PURE_PYTHON": "1"}
    pure = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert pure.stdout.split() == ["True"] * 4
    env.pop("TRACKDELIVERY_PURE_PYTHON")
    compiled = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert compiled.stdout.split() == ["False"] * 4


# -- the helpers the correlators call for every delivery: split_host_fast, extract_dsn_fast --------------

HOST_PIECES = [" ", "(", ")", "[", "]", ":", "*", "_", "x", "25", ".", "DS ", "\t", "\x1c", "\x7f", "\u00e9", "::1"]
DSN_PIECES = ["2", "4", "5", ".", "0", "7", "8", "9", "1", "12", "123", "1234", " ", "_", "a", "-", "=", "\u00e9",
              "\u0663", "\t"]


@pytest.fixture(scope="module")
def helpers():
    split_host_fast, extract_dsn_fast = exim.compiled_helper("split_host_fast"), exim.compiled_helper("extract_dsn_fast")
    assert split_host_fast is not None and extract_dsn_fast is not None, "trackdelivery.parse._eximc is not built"
    assert exim._split_host_fast is split_host_fast and explain._extract_dsn_fast is extract_dsn_fast  # in use
    return split_host_fast, extract_dsn_fast


def _corpus_values(corpora: Path) -> tuple[set[str], set[str]]:
    """Every H= value and every defer/failure/rejection text of the Exim corpora, as the parser reads them."""
    hosts: set[str] = set()
    texts: set[str] = set()
    for path in sorted((corpora / "exim").rglob("*")):
        if not path.is_file():
            continue
        for line in corpus_lines(path):
            parsed = exim.parse_exim_line_py(line)
            hosts.update(v for k, v in parsed.fields.items() if k in ("H", "I"))
            if parsed.message:
                texts.add(parsed.message)
            if "C" in parsed.fields:
                texts.add(exim.unquote(parsed.fields["C"]))
    return hosts, texts


def test_host_and_status_code_helpers_agree_with_python_on_every_corpus_value(helpers, corpora: Path):
    split_host_fast, extract_dsn_fast = helpers
    hosts, texts = _corpus_values(corpora)
    assert len(hosts) > 150 and len(texts) > 1000
    read = [h for h in hosts if split_host_fast(h) is not None]
    assert all(split_host_fast(h) == exim.split_host_py(h) for h in read)
    assert all(exim.split_host(h) == exim.split_host_py(h) for h in hosts)
    assert len(read) / len(hosts) > 0.9, (len(read), len(hosts))
    assert all(extract_dsn_fast(t) in (None, extract_dsn_py(t)) for t in texts)
    assert all(extract_dsn(t) == extract_dsn_py(t) for t in texts)
    assert sum(extract_dsn_fast(t) not in (None, "") for t in texts) > 10  # real codes found in C


def test_host_and_status_code_helpers_agree_with_python_on_mutations(helpers):
    split_host_fast, extract_dsn_fast = helpers
    rng = random.Random(2026_12_02)
    host_templates = ["mx.example.com [192.0.2.1]:25", "(helo) [192.0.2.1]", "mx (helo) [::1]:x_1*", "[192.0.2.7]",
                      "mx.example.org DS [192.0.2.7]:25", "a (b) [c]:d*"]
    read = 0
    for _ in range(100_000):
        value = mutate(rng, rng.choice(host_templates), HOST_PIECES)
        got = split_host_fast(value)
        if got is not None:
            read += 1
            assert got == exim.split_host_py(value), value
    assert read > 10_000
    dsn_templates = ["550 5.1.1 <bob@example.org>: user unknown", "451-4.7.1 greylisted", "dsn=2.0.0, status=sent",
                     "x5.1.1", "a.5.1.1", "5.1.1234 5.2.2", "4.4.7.1", "5.1.1.2", "2.0.0.", "550 5.7.1"]
    found = 0
    for _ in range(100_000):
        text = mutate(rng, rng.choice(dsn_templates), DSN_PIECES)
        got = extract_dsn_fast(text)
        if got is None:
            assert not text.isascii()
        else:
            found += got != ""
            assert got == extract_dsn_py(text), text
    assert found > 20_000
    long_text = "x" * 3997 + " 5.1.1"  # the code straddles explain._MAX_CHARS: cut off, as in Python
    assert extract_dsn_fast(long_text) == extract_dsn_py(long_text) == ""


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(HOST_PIECES + DSN_PIECES + ["mx", "[1.2.3.4]", "(h)"]), max_size=14).map("".join))
def test_host_and_status_code_helpers_agree_with_python_on_any_text(helpers, text):
    split_host_fast, extract_dsn_fast = helpers
    assert split_host_fast(text) in (None, exim.split_host_py(text))
    assert extract_dsn_fast(text) in (None, extract_dsn_py(text))


ARRIVAL = ('2026-11-16 10:00:00 1ZeQYq-0000Wm-1V <= a@b.example H=mx.example (helo) [192.0.2.1]:25 P=esmtp S=1'
           ' id=x@y T="{subject}" for c@d.example e@f.example')


def test_an_arrival_with_non_ascii_only_in_its_subject_is_read_in_c(fast):
    for subject in ("Caf\u00e9 \u3054\u6ce8\u6587 \U0001f342", "\u0663\u00b2 \\\"quoted\\\" \u216b", "x\u0301y\ufffd"):
        line = ARRIVAL.format(subject=subject)
        assert fast(line) is not None and fast(line) == exim.parse_exim_line_py(line), subject
        assert fast(line).fields["T"] == f'"{subject}"'
    left_to_python = [
        ARRIVAL.format(subject="x").replace("a@b.example", "\u00e9@b.example"),  # in the sender
        ARRIVAL.format(subject="x").replace("(helo)", "(h\u00e9lo)"),  # in H=
        ARRIVAL.format(subject="x") + "\xa0",  # trailing Unicode whitespace: str.rstrip takes it
        ARRIVAL.format(subject="a\u3000b"),  # Unicode whitespace or unprintable anywhere: not worth the doubt
        ARRIVAL.format(subject="a\u2028b"),
        # the first " H=" is inside the subject, and its port would run on over a non-ASCII \w
        '2026-11-16 10:00:00 1ZeQYq-0000Wm-1V <= a@b T="x H=mx DS [192.0.2.1]:\u00df25*" H=mx [1.2.3.4]:25 T="y" for c@d',
        # not an arrival: a delivery's quoted T= is read by other rules
        '2026-11-16 10:00:02 1ZeQYq-0000Wm-1V => bob@example.org R=dnslookup T="r\u00e9mote" H=mx [192.0.2.1]',
    ]
    for line in left_to_python:
        assert fast(line) is None, line
        assert exim.parse_exim_line(line) == exim.parse_exim_line_py(line)


WIDE = ["\u00e9", "\u00df", "\u3054", "\u2013", "\U0001f342", "\u00b0", "\u2116", "\xa0", "\u3000", "\u0663", "\u200b",
        "\u0301", "\ufffd", "\u216b", "\u00b2", "\u2028", "\x85", "\u00ad"]


def test_non_ascii_lines_read_the_same(fast):
    rng = random.Random(11)
    arrivals = [t for t in TEMPLATES if " <= " in t] + [
        ARRIVAL.format(subject="Re: \\\"x\\\" y"),
        '2026-11-16 10:00:00 1ZeQYq-0000Wm-1V <= a@b T="x" H=mx [1.2.3.4]:25 T="y" for c@d',
    ]
    checked = read = 0
    for _ in range(30_000):
        line = rng.choice(arrivals)
        quote = line.find('T="')
        for _ in range(rng.randint(1, 4)):
            end = line.find('"', quote + 3)
            at = rng.randint(quote + 3, end if end > 0 else len(line)) if quote >= 0 and rng.random() < 0.6 else \
                rng.randint(0, len(line))
            line = line[:at] + rng.choice(WIDE + PIECES[:20]) + line[at:]
        if rng.random() < 0.2:
            line = mutate(rng, line)
        checked += 1
        ours = fast(line)
        if ours is not None:
            read += 1
            assert ours == exim.parse_exim_line_py(line), line
    assert read > 3_000, (read, checked)
