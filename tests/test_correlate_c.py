"""The compiled fast paths of the correlators (_correlc.c) against Correlator.feed and
PostfixCorrelator.feed, the references.

Two correlators read the same lines, one through ``feed`` and one through ``feeder()`` (the compiled
feed, which hands the lines it does not take to ``feed``). Every batch they hand over must be the same,
field by field: events, their ids and messages, messages with their lines and waiting recipients,
deleted events, changed texts, counts, and what each feed returned. Checked on every corpus file, on
generated busy server logs, with a tiny cache (evictions and store loads), and on mutated lines.
"""

from __future__ import annotations

import dataclasses
import os
import random
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from trackdelivery import correlate, correlate_postfix
from trackdelivery.correlate import Batch, Correlator, MessageState
from trackdelivery.correlate_postfix import PostfixCorrelator
from trackdelivery.parse import exim, postfix

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compiled():
    assert correlate.COMPILED_FEED is not None, (
        "the compiled Exim correlator (trackdelivery._correlc) is not built: pip install -e . needs a C "
        "compiler and the Python headers"
    )
    return correlate.COMPILED_FEED


def state_fields(s: MessageState) -> tuple[Any, ...]:
    return tuple(
        (f.name, getattr(s, f.name) if f.name != "pending" else {k: list(v) for k, v in s.pending.items()})
        for f in dataclasses.fields(MessageState)
    )


def batch_view(b: Batch) -> dict[str, Any]:
    return {
        "events": {i: dataclasses.astuple(e) for i, e in b.events.items()},
        "event_message": dict(b.event_message),
        "messages": {i: state_fields(s) for i, s in b.messages.items()},
        "by_msgid": {k: s.id for k, s in b.by_msgid.items()},
        "deleted": list(b.deleted_events),
        "texts": dict(b.updated_messages_text),
        "raw": dict(b.event_raw),
    }


def copied(s: MessageState) -> MessageState:
    """A state as the store would give it back: its own lists and dicts."""
    own = {f.name: getattr(s, f.name) for f in dataclasses.fields(MessageState)}
    own.update(raw=list(s.raw), pending={k: list(v) for k, v in s.pending.items()}, attempts=dict(s.attempts))
    return MessageState(**own)


class Store:
    """What the store would give back for a message that left the cache: its last committed state."""

    def __init__(self) -> None:
        self.saved: dict[str, MessageState] = {}
        self.loads = 0

    def commit(self, batch: Batch) -> None:
        for s in batch.messages.values():
            self.saved[s.msgid] = copied(s)

    def load(self, msgid: str) -> MessageState | None:
        self.loads += 1
        saved = self.saved.get(msgid)
        return None if saved is None else copied(saved)


class EximSub(Correlator):
    """A subclass (with an instance dict): the compiled feed reads its attributes through getattr."""


class PostfixSub(PostfixCorrelator):
    pass


def run_both(
    lines: list[str], cache_size: int = 20_000, batch_lines: int = 500, fmt: str = "exim", empty: bool = True,
    subclass: bool = False,
) -> tuple[int, int]:
    """Feed ``lines`` to both paths, comparing every batch; returns (lines, lines the compiled path took).

    ``subclass``: the compiled feed gets an instance of a subclass of the correlator, whose attributes it
    cannot read in place (they are read in place for the correlator's own class)."""
    stores = Store(), Store()
    if fmt == "exim":
        pure = Correlator(stores[0].load, 1, 1, server="mx", cache_size=cache_size, stored_until=None)
        fast = (EximSub if subclass else Correlator)(
            stores[1].load, 1, 1, server="mx", cache_size=cache_size, stored_until=None)
        parse = exim.parse_exim_line
        common = (exim.DELIVERY, exim.DEFER, exim.FAILURE, exim.COMPLETED)
    else:
        pure = PostfixCorrelator(stores[0].load, 1, 1, cache_size=cache_size, store_was_empty=empty)
        fast = (PostfixSub if subclass else PostfixCorrelator)(
            stores[1].load, 1, 1, cache_size=cache_size, store_was_empty=empty)
        years = postfix.SyslogYear(1_790_000_000), postfix.SyslogYear(1_790_000_000)
        parsers = years[0].parse, years[1].parse
        common = (postfix.DELIVERY, postfix.QUEUED, postfix.REMOVED, postfix.MESSAGE_ID)
    if subclass:
        compiled = correlate.COMPILED_FEED if fmt == "exim" else correlate_postfix.COMPILED_FEED
        assert compiled is not None and fast.feeder() == fast.feed  # ingest would use the Python feed
        feed = types.MethodType(compiled, fast)
    else:
        feed = fast.feeder()
    assert feed != fast.feed
    taken = 0
    for n, text in enumerate(lines, 1):
        if fmt == "exim":
            parsed, again = parse(text), parse(text)
            msgid = parsed.msgid
        else:
            parsed, again = parsers[0](text), parsers[1](text)
            msgid = parsed.queue_id
        kind = parsed.kind
        in_cache = msgid in fast._cache
        assert feed(again, text) == pure.feed(parsed, text), text
        taken += in_cache and kind in common
        if n % batch_lines == 0 or n == len(lines):
            a, b = pure.take_batch(), fast.take_batch()
            assert batch_view(b) == batch_view(a), f"batch ending at line {n}"
            stores[0].commit(a)
            stores[1].commit(b)
            assert fast.events_by_type == pure.events_by_type
            assert (fast._next_event_id, fast._next_message_id) == (
                pure._next_event_id,
                pure._next_message_id,
            )
            assert list(fast._cache) == list(pure._cache)
            assert list(fast._evicted) == list(pure._evicted)
            if fmt != "exim":
                assert (fast._tls, fast._parents, fast._listed, fast._host) == (
                    pure._tls, pure._parents, pure._listed, pure._host)
    assert stores[1].loads == stores[0].loads
    return len(lines), taken


def corpus_lines(path: Path) -> list[str]:
    return path.read_bytes().decode("utf-8", "replace").replace("\x00", "\ufffd").splitlines()


def test_ingest_uses_the_compiled_feed_for_exim(compiled):
    c = Correlator(lambda msgid: None, 1, 1)
    assert c.feeder().__func__ is compiled  # type: ignore[attr-defined]

    class Sub(Correlator):
        pass

    sub = Sub(lambda msgid: None, 1, 1)
    assert sub.feeder() == sub.feed  # a subclass (Postfix's) keeps its own feed


def test_every_exim_corpus_file_gives_the_same_batches(compiled, corpora: Path):
    total = taken = files = 0
    for path in sorted(corpora.rglob("*")):
        if not path.is_file() or "exim" not in path.relative_to(corpora).parts[0]:
            continue
        lines, took = run_both(corpus_lines(path), batch_lines=97)
        total, taken, files = total + lines, taken + took, files + 1
    assert files > 20
    assert taken > 3000, taken  # the compiled path really ran


def test_a_generated_busy_log_gives_the_same_batches_and_runs_mostly_compiled(compiled, tmp_path: Path):
    log = tmp_path / "mainlog"
    subprocess.run(
        [sys.executable, str(REPO / "bench" / "gen_exim.py"), "--lines", "30000", "--seed", "11",
         "--id-form", "mixed", "--out", str(log)],
        check=True, capture_output=True,
    )  # fmt: skip
    lines = corpus_lines(log)
    total, taken = run_both(lines, batch_lines=2500)
    # deliveries, deferrals, failures and Completed are over half of a busy server's lines
    assert taken > 0.4 * total, (taken, total)


def test_a_tiny_cache_evicts_loads_and_still_gives_the_same_batches(compiled, tmp_path: Path):
    log = tmp_path / "mainlog"
    subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "gen_exim.py"),
            "--lines",
            "8000",
            "--seed",
            "3",
            "--out",
            str(log),
        ],
        check=True,
        capture_output=True,
    )
    run_both(corpus_lines(log), cache_size=5, batch_lines=300)


def mutated(
    rng: random.Random, base: list[str], first: int, id_word: int, ids: list[str], id_end: str,
    rewrites: list[tuple[str, list[str]]],
) -> list[str]:
    """20,000 lines of ``base`` with a word from ``first`` on dropped, doubled or emptied, the id (word
    ``id_word``) swapped for another message's, or a text rewritten (old, one of the new ones)."""
    lines = []
    for _ in range(20_000):
        line = rng.choice(base)
        op = rng.randrange(5 + len(rewrites))
        if op >= 5:
            old, new = rewrites[op - 5]
            line = line.replace(old, rng.choice(new))
        words = line.split(" ")
        if op == 0 and len(words) > first + 1:
            del words[rng.randrange(first, len(words))]
        elif op == 1 and len(words) > first:
            i = rng.randrange(first, len(words))
            words.insert(i, words[i])
        elif op == 2 and len(words) > first:
            i = rng.randrange(first, len(words))
            words[i] = words[i].split("=")[0] + "=" if "=" in words[i] else ""
        elif op == 3 and len(words) > id_word and ids and words[id_word].endswith(id_end):
            words[id_word] = rng.choice(ids) + id_end  # another message's id: lines out of their story
        lines.append(" ".join(words))
    return lines


def test_mutated_lines_give_the_same_batches(compiled, corpora: Path):
    """Lines of real logs with fields dropped, doubled, emptied or shuffled between messages."""
    base = [line for path in sorted((corpora / "exim").rglob("*")) if path.is_file() for line in corpus_lines(path)]
    assert len(base) > 1000
    msgids = [m for m in (exim.parse_exim_line(line).msgid for line in base[:5000]) if m]
    flags = ["=>", "->", "**", "==", "*>", ">>", "Completed"]
    rewrites = [(f" {flag} ", [f" {other} " for other in flags]) for flag in flags]
    run_both(mutated(random.Random(5), base, 3, 2, msgids, "", rewrites), cache_size=50, batch_lines=211)


def test_exim_corner_cases_give_the_same_batches(compiled):
    """Durations (too long, mixed, odd), quoted replies and subjects with escapes, authenticated and local
    senders, bounces, blackholes, bypassed and archived deliveries, spam scores that are not numbers."""
    t = "2026-11-16 10:00:0"
    durations = ["999999999999999w", "1w2d3h4m5s", "12x3s", "", "\u0663s", "0s", "9999999999999999s", "5m5m"]
    scores = ["12.5", "nan", "1e5", "-0.1"]
    senders = ["<>", "s@Example.NET", "s2@example.net"]
    protocols = ["esmtpsa", "local", "esmtp"]
    logins = ["A=dovecot_login:alice", "U=bob", "A=plain", ""]
    transports = ["remote_smtp", "**bypassed**", "archiver_x", "t"]
    replies = ['"250 2.0.0 ok"', '"250 2.0.0 q\\"x"', "250-unquoted", '"a\\\\b"']
    lines = []
    for i, qt in enumerate(durations):
        msgid = f"1tCorn-{i:011d}-AAAA"
        spam = f'Warning: "SpamAssassin as x detected message as spam ({scores[i % 4]})"'
        arrival = (
            f"<= {senders[i % 3]} H=(helo) [192.0.2.{i}]:25 P={protocols[i % 3]} {logins[i % 4]} S={i}00 "
            f'R=1tPrnt-00000000001-AAAA T="Subj \\"q\\" {i}" id=m{i}@x for B{i}@example.org b{i}@example.org '
            f"c{i}@example.org"
        )
        delivery = (
            f"=> b{i}@example.org R=r T={transports[i % 4]} H=mx.example.org [192.0.2.9] X=TLS1.3 "
            f"C={replies[i % 4]} QT={qt} DT=1s"
        )
        lines += [
            f"{t}1 {msgid} {spam}",
            f"{t}1 {msgid} {arrival}",
            f"{t}2 {msgid} {delivery}",
            f"{t}3 {msgid} == c{i}@example.org R=r T=t defer (-44): SMTP error: 451 4.7.1 Greylisted",
            f"{t}4 {msgid} ** c{i}@example.org R=r T=t: SMTP error: 550 5.1.1 unknown user",
            f"{t}4 {msgid} {'*>' if i % 2 else '=>'} :blackhole: <d{i}@example.org> R=bh",
            f"{t}5 {msgid} Completed QT={qt}",
        ]
    # SMTP-time rejections: senders with and without angle brackets, logins, no client at all, and one of
    # a message (its id: Python's)
    for i, sender in enumerate(["F=<a@x.example>", "F=<>", "F=<", "F=>", "F=plain@x.example", ""]):
        client = ["H=(helo) [192.0.2.1]:4711", "H=[192.0.2.2]", "H=mx.example (h) [192.0.2.3]", ""][i % 4]
        lines.append(f"{t}6 {client} {logins[i % 4]} {sender} rejected RCPT <r{i}@example.org>: relay not permitted")
    lines.append(f"{t}7 1tCorn-00000000000-AAAA H=[192.0.2.5] F=<a@b.example> rejected after DATA: spam")
    run_both(lines, batch_lines=5)
    run_both(lines, cache_size=2, batch_lines=3)
    correlator = Correlator(Store().load, 1, 1, server="mx", stored_until=None)
    feed = correlator.feeder()
    for text in lines[-7:-1]:
        feed(exim.parse_exim_line(text), text)
    rejected = list(correlator.take_batch().events.values())
    assert [(e.email, e.sender, e.senderauth, e.senderip) for e in rejected] == [
        ("a@x.example", "alice", "dovecot_login", "192.0.2.1"), ("", "bob", "", "192.0.2.2"), ("<", "", "plain", "192.0.2.3"),
        (">", "", "", ""), ("plain@x.example", "alice", "dovecot_login", "192.0.2.1"), ("", "bob", "", "192.0.2.2")]
    assert {e.reason for e in rejected} == {"relay_denied"}


def test_pure_python_can_be_asked_for():
    code = "from trackdelivery import correlate; print(correlate.COMPILED_FEED is None)"
    env = {**os.environ, "TRACKDELIVERY_PURE_PYTHON": "1"}
    pure = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert pure.stdout.strip() == "True"
    env.pop("TRACKDELIVERY_PURE_PYTHON")
    compiled = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert compiled.stdout.strip() == "False"


# -- Postfix -------------------------------------------------------------------------------------


def test_ingest_uses_the_compiled_feed_for_postfix(compiled):
    assert correlate_postfix.COMPILED_FEED is not None
    c = PostfixCorrelator(lambda msgid: None, 1, 1)
    assert c.feeder().__func__ is correlate_postfix.COMPILED_FEED  # type: ignore[attr-defined]


def test_every_postfix_corpus_file_gives_the_same_batches(compiled, corpora: Path):
    total = taken = files = 0
    for path in sorted(corpora.rglob("*")):
        if not path.is_file() or "postfix" not in path.relative_to(corpora).parts[0]:
            continue
        lines, took = run_both(corpus_lines(path), batch_lines=89, fmt="postfix")
        total, taken, files = total + lines, taken + took, files + 1
    assert files > 20
    assert taken > 500, taken


def test_a_generated_busy_postfix_log_gives_the_same_batches(compiled, tmp_path: Path):
    log = tmp_path / "maillog"
    subprocess.run(
        [sys.executable, str(REPO / "bench" / "gen_postfix.py"), "--lines", "30000", "--seed", "13", "--out", str(log)],
        check=True, capture_output=True,
    )
    total, taken = run_both(corpus_lines(log), batch_lines=2500, fmt="postfix")
    assert taken > 0.3 * total, (taken, total)
    run_both(corpus_lines(log)[:8000], cache_size=5, batch_lines=300, fmt="postfix")  # evictions, loads
    run_both(corpus_lines(log)[:8000], batch_lines=300, fmt="postfix", empty=False)  # every new id looked up


def test_mutated_postfix_lines_give_the_same_batches(compiled, corpora: Path, tmp_path: Path):
    log = tmp_path / "maillog"
    subprocess.run(
        [sys.executable, str(REPO / "bench" / "gen_postfix.py"), "--lines", "5000", "--seed", "2", "--out", str(log)],
        check=True, capture_output=True,
    )
    base = corpus_lines(log) + [
        line for path in sorted((corpora / "postfix").rglob("*")) if path.is_file() for line in corpus_lines(path)
    ]
    qids = [q for q in (postfix.parse_postfix_line(line, year_hint=2026).queue_id for line in base[:5000]) if q]
    rewrites = [
        ("status=sent", ["status=deferred", "status=bounced", "status=sent"]),
        ("relay=", ["relay=none, x=", "relay=127.0.0.1[127.0.0.1]:10025, x=", "relay=private/dovecot-lmtp, x=",
                    "relay="]),
    ]  # fmt: skip
    run_both(mutated(random.Random(9), base, 5, 5, qids, ":", rewrites), cache_size=50, batch_lines=211, fmt="postfix")


def test_postfix_corner_cases_give_the_same_batches(compiled):
    """A status text that is empty, hostile delays, a TLS session with another port of the same peer,
    local and socket relays, a discard, and more TLS sessions than are remembered."""
    head = "Nov  1 00:00:0{s} mail postfix/{prog}[{pid}]: "
    lines = []
    for i, (delay, text, relay, service, tls_port) in enumerate([
        ("1.4", "", "mx.example.org[192.0.2.9]:25", "smtp", "25"),
        ("1e300", "250 ok", "mx.example.org[192.0.2.9]:25", "smtp", "26"),
        ("inf", "250 ok", "127.0.0.1[127.0.0.1]:10024", "smtp", "10025"),
        ("-3", "", "none", "discard", ""),
        ("nan", "delivered to maildir", "local", "local", ""),
        ("9007199254740993", "250 ok", "mail.example.net[private/dovecot-lmtp]", "lmtp", ""),
        ("", "250 2.0.0 Ok: queued as ", "[192.0.2.7]:25", "smtp", "25"),
        ("0.5", "forwarded as 2C9C5D1A2F)", "local", "local", ""),
    ]):
        qid = f"A{i:05d}B0001"
        lines += [
            head.format(s=1, prog="smtpd", pid=100 + i) + f"{qid}: client=unknown[198.51.100.{i}]",
            head.format(s=1, prog="qmgr", pid=9) + f"{qid}: from=<a{i}@example.net>, size={100 + i}, nrcpt=1 (queue active)",
        ]
        if tls_port:
            lines.append(head.format(s=2, prog=service, pid=200 + i) + "Trusted TLS connection established to "
                         f"x[{relay.split('[')[-1].split(']')[0]}]:{tls_port}: TLSv1.3 with cipher X (256/256 bits)")
        lines += [
            head.format(s=3, prog=service, pid=200 + i) + f"{qid}: to=<b{i}@example.org>, relay={relay}, "
            f"delay={delay}, delays=0/0/0/0, dsn=2.0.0, status=sent ({text})".replace(" ()", ""),
            head.format(s=4, prog="qmgr", pid=9) + f"{qid}: removed",
        ]
    # more processes with TLS sessions than PostfixCorrelator remembers, then one that had one
    for pid in range(10_050):
        lines.append(head.format(s=5, prog="smtpd", pid=20_000 + pid) + "Anonymous TLS connection established "
                     f"from c{pid}.example.net[203.0.113.{pid % 250}]: TLSv1.3 with cipher Y (256/256 bits)")
    lines += [
        head.format(s=6, prog="smtpd", pid=20_001) + "C00000B0001: client=c1.example.net[203.0.113.1]",
        head.format(s=6, prog="smtpd", pid=30_049) + "C00000B0002: client=c1.example.net[203.0.113.49]",
    ]
    # NOQUEUE rejections: a client dnsblog saw on a list (named unless the text names it), an unknown
    # client (its HELO shows), no trailer at all
    lines += [
        head.format(s=7, prog="dnsblog", pid=50) + "addr 198.51.100.7 listed by domain bl.example as 127.0.0.2",
        head.format(s=7, prog="postscreen", pid=51) + "NOQUEUE: reject: RCPT from [198.51.100.7]:4711: 550 5.7.1 "
        "Service unavailable; from=<a@x.example>, to=<b@example.org>, proto=ESMTP, helo=<x.example>",
        head.format(s=7, prog="postscreen", pid=51) + "NOQUEUE: reject: RCPT from [198.51.100.7]:4712: 550 5.7.1 "
        "Service unavailable; client [198.51.100.7] blocked using bl.example; from=<a@x.example>, to=<c@example.org>",
        head.format(s=7, prog="postscreen", pid=51) + "NOQUEUE: reject: RCPT from [198.51.100.8]:4713: 450 4.7.1 "
        "later; from=<>, to=<d@example.org>, proto=SMTP",
        head.format(s=7, prog="smtpd", pid=52) + "NOQUEUE: reject: RCPT from unknown[198.51.100.9]: 554 5.7.1 "
        "<e@example.org>: Relay access denied; from=<a@x.example> to=<e@example.org> proto=ESMTP helo=<h.example>",
        head.format(s=7, prog="smtpd", pid=52) + "NOQUEUE: milter-reject: END-OF-MESSAGE from x[198.51.100.9]: 5.7.1 "
        "spam",
    ]
    # deferrals and bounces: a recipient in mixed case deferred twice (its waiting text replaced), one
    # deferred under its orig_to, a SOFTBOUNCE, a reply without a dsn= (read from the text), an empty one,
    # a bounce, and a deferral logged after the message was removed (no one is left waiting)
    qid = "D00000B0001"
    delivery = head.format(s=8, prog="smtp", pid=60) + qid + ": to=<{to}>,{orig} relay=mx.example.org[192.0.2.9]:25, " \
        "delay=3, delays=0/0/0/3,{dsn} status={status} ({text})"
    lines += [
        head.format(s=8, prog="pickup", pid=59) + f"{qid}: uid=0 from=<root>",
        head.format(s=8, prog="qmgr", pid=9) + f"{qid}: from=<root@example.net>, size=10, nrcpt=4 (queue active)",
        delivery.format(to="Bob@Example.ORG", orig="", dsn=" dsn=4.2.2,", status="deferred",
                        text="452 4.2.2 Mailbox full"),
        delivery.format(to="Bob@Example.ORG", orig="", dsn=" dsn=4.7.1,", status="deferred",
                        text="451 4.7.1 Greylisted, try later"),
        delivery.format(to="c@example.org", orig=" orig_to=<Info@Example.org>,", dsn=" dsn=4.4.1,",
                        status="SOFTBOUNCE", text="connect to mx.example.org[192.0.2.9]:25: Connection refused"),
        delivery.format(to="d@example.org", orig="", dsn="", status="deferred", text="421 4.7.0 Try again later"),
        delivery.format(to="e@example.org", orig="", dsn=" dsn=4.0.0,", status="deferred", text=""),
        delivery.format(to="Bob@Example.ORG", orig="", dsn=" dsn=5.1.1,", status="bounced",
                        text="550 5.1.1 <Bob@Example.ORG>: Recipient address rejected: User unknown"),
        head.format(s=9, prog="qmgr", pid=9) + f"{qid}: removed",
        delivery.format(to="f@example.org", orig="", dsn=" dsn=4.4.2,", status="deferred", text="lost connection"),
    ]
    # content-filter hops: a re-injection with its own TLS session and login (kept), one linked by a second
    # parent too (the first link stays), and a reply naming the message's own id
    tls = "Anonymous TLS connection established from {peer}: TLSv1.3 with cipher {cipher} (256/256 bits)"
    hop = ": to=<b@example.org>, relay=127.0.0.1[127.0.0.1]:10024, delay=1, delays=0/0/0/1, dsn=2.0.0, " \
        "status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as {child})"
    lines += [
        head.format(s=9, prog="smtpd", pid=70) + tls.format(peer="mx.example.net[192.0.2.70]", cipher="P"),
        head.format(s=9, prog="smtpd", pid=70) + "F00000B0001: client=mx.example.net[192.0.2.70], "
        "sasl_method=PLAIN, sasl_username=alice",
        head.format(s=9, prog="qmgr", pid=9) + "F00000B0001: from=<a@example.net>, size=10, nrcpt=1 (queue active)",
        head.format(s=9, prog="smtpd", pid=71) + tls.format(peer="localhost[127.0.0.1]", cipher="C"),
        head.format(s=9, prog="smtpd", pid=71) + "F00000B0002: client=localhost[127.0.0.1], sasl_method=LOGIN, "
        "sasl_username=bob",
        head.format(s=9, prog="qmgr", pid=9) + "F00000B0002: from=<a@example.net>, size=12, nrcpt=1 (queue active)",
        head.format(s=9, prog="smtp", pid=72) + "F00000B0001" + hop.format(child="F00000B0002"),
        head.format(s=9, prog="smtpd", pid=73) + "F00000B0003: client=mx.example.net[192.0.2.73]",
        head.format(s=9, prog="qmgr", pid=9) + "F00000B0003: from=<c@example.net>, size=10, nrcpt=1 (queue active)",
        head.format(s=9, prog="smtp", pid=72) + "F00000B0003" + hop.format(child="F00000B0002"),
        head.format(s=9, prog="smtp", pid=72) + "F00000B0003" + hop.format(child="F00000B0003"),
        head.format(s=9, prog="smtpd", pid=74) + "F00000B0004: client=localhost[127.0.0.1]",
        head.format(s=9, prog="qmgr", pid=9) + "F00000B0004: from=<c@example.net>, size=12, nrcpt=1 (queue active)",
        head.format(s=9, prog="smtp", pid=72) + "F00000B0001" + hop.format(child="F00000B0004"),
    ]
    run_both(lines, batch_lines=7, fmt="postfix")
    run_both(lines, batch_lines=10_000, fmt="postfix")
    correlator = PostfixCorrelator(Store().load, 1, 1, store_was_empty=True)
    feed, parse = correlator.feeder(), postfix.SyslogYear(1_790_000_000).parse
    for text in lines[-30:-24]:
        feed(parse(text), text)
    rejected = [e for e in correlator.take_batch().events.values() if e.type == "rejected"]
    assert [e.message for e in rejected[:2]] == [
        "550 5.7.1 Service unavailable (client listed by bl.example)",
        "550 5.7.1 Service unavailable; client [198.51.100.7] blocked using bl.example"]
    assert (rejected[3].senderhost, rejected[3].protocol, rejected[3].reason) == ("h.example", "esmtp", "relay_denied")


@pytest.mark.parametrize("fmt", ["exim", "postfix"])
def test_a_subclass_of_the_correlator_gives_the_same_batches_through_getattr(compiled, corpora: Path, fmt: str):
    """The compiled feeds read and write the correlator's own attributes in its slots; for any other class
    they go through getattr/setattr, and the batches are the same."""
    paths = [p for p in sorted(corpora.rglob("*")) if p.is_file() and p.relative_to(corpora).parts[0] == fmt]
    lines = [line for p in paths[:40] for line in corpus_lines(p)]
    total, taken = run_both(lines, batch_lines=97, fmt=fmt, subclass=True)
    assert total > 2000 and taken > 300, (total, taken)


def test_the_compiled_feeds_read_no_slot_of_an_object_that_is_no_correlator(compiled):
    line = postfix.SyslogYear(1_790_000_000).parse(
        "Nov  1 00:00:01 mx postfix/qmgr[2]: 4AA091855DA0: from=<a@example.org>, size=1, nrcpt=1 (queue active)")
    exim_line = exim.parse_exim_line("2026-11-16 10:00:01 1tA000-00000000001-AAAA Completed")

    class Impostor:  # as many slots as the correlators have, at the same offsets, none of their names
        __slots__ = tuple(f"s{i}" for i in range(20))

        def __init__(self) -> None:
            for name in self.__slots__:
                setattr(self, name, 7)

    for feed, parsed in ((correlate_postfix.COMPILED_FEED, line), (correlate.COMPILED_FEED, exim_line)):
        assert feed is not None
        with pytest.raises(AttributeError):  # getattr's answer, not whatever lies at a slot's offset
            feed(Impostor(), parsed, "raw")


def test_without_the_compiled_helpers_the_feed_asks_their_python_wrappers(compiled, corpora: Path):
    """split_host and extract_dsn: the compiled feed calls their compiled helpers directly, and the Python
    functions where a helper was not built; both ways give the Python correlator's batches."""
    from trackdelivery import (
        _correlc,  # type: ignore[attr-defined]
        explain,
    )

    paths = [p for p in sorted(corpora.rglob("*")) if p.is_file() and p.relative_to(corpora).parts[0] == "exim"]
    lines = [line for p in paths[:30] for line in corpus_lines(p)]
    host_fields, extract_dsn = correlate._host_fields, explain.extract_dsn
    asked: dict[bool, list[str]] = {True: [], False: []}
    try:
        for helpers in (True, False):
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(correlate, "_host_fields", lambda v, h=helpers: (asked[h].append("host"), host_fields(v))[1])
                mp.setattr(explain, "extract_dsn", lambda t, h=helpers: (asked[h].append("dsn"), extract_dsn(t))[1])
                correlate._compiled_feed()  # set up again, with these Python functions
                if not helpers:
                    _correlc.setup_helpers(None, None)
                total, taken = run_both(lines, batch_lines=97)  # the same batches as the Python correlator's
                assert total > 2000 and taken > 300
    finally:
        correlate._compiled_feed()  # as imported
    # Without the helpers the compiled feed asks the Python functions too (a thousand times more here).
    for what in ("host", "dsn"):
        with_helpers, without = asked[True].count(what), asked[False].count(what)
        assert without > with_helpers + 500 and with_helpers > 100, (what, with_helpers, without)


def test_replies_and_hosts_the_compiled_helpers_leave_to_python(compiled):
    """Non-ASCII replies and host names: extract_dsn's and split_host's compiled helpers answer None, and
    the feed then asks the Python functions; the batches are the Python correlator's."""
    from trackdelivery import explain

    reply = 'C="250 2.0.0 Ok: queued as Ünïcode-42"'
    assert explain._extract_dsn_fast is not None and explain._extract_dsn_fast(reply) is None
    assert exim._split_host_fast is not None and exim._split_host_fast("mx.exämple.org [192.0.2.7]") is None
    lines = [
        "2026-11-16 10:00:00 1tU000-00000000001-AAAA <= a@example.net H=mx.exämple.net (hélo) [192.0.2.1]"
        " P=esmtp S=10 for b@example.org c@example.org",
        "2026-11-16 10:00:01 1tU000-00000000001-AAAA => b@example.org R=dnslookup T=remote_smtp"
        f" H=mx.exämple.org [192.0.2.7] {reply}",
        "2026-11-16 10:00:01 1tU000-00000000001-AAAA == c@example.org R=dnslookup T=remote_smtp defer (-44)"
        ' H=mx.example.org [192.0.2.8]: SMTP error from remote mail server after RCPT TO:<c@example.org>:'
        " 451 4.7.1 Grëylisted, try later",
        "2026-11-16 10:00:02 1tU000-00000000001-AAAA Completed",
    ]
    fast = Correlator(lambda msgid: None, 1, 1, server="mx")
    for line in lines:
        fast.feeder()(exim.parse_exim_line(line), line)
    events = sorted(fast.take_batch().events.values(), key=lambda e: e.recipient)
    assert [(e.recipient, e.type, e.dsn, e.host) for e in events] == [
        ("b@example.org", "success", "2.0.0", "mx.exämple.org"), ("c@example.org", "defer", "4.7.1", "mx.example.org")]
    assert events[0].message.endswith("Ünïcode-42")
    run_both(lines, batch_lines=2)
