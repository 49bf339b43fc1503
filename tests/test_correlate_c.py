"""The compiled fast path of the Exim correlator (_correlc.c) against Correlator.feed, the reference.

Two correlators read the same lines, one through ``Correlator.feed`` and one through ``feeder()``
(the compiled feed for deliveries, deferrals, failures and Completed lines of a cached message, and
``Correlator.feed`` for everything else). Every batch they hand over must be the same, field by field:
events, their ids and messages, messages with their lines and waiting recipients, deleted events,
changed texts, counts, and what each feed returned. Checked on every corpus file, on generated busy
server logs, with a tiny cache (evictions and store loads), and on mutated lines.
"""

from __future__ import annotations

import dataclasses
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from trackdelivery import correlate
from trackdelivery.correlate import Batch, Correlator, MessageState
from trackdelivery.parse import exim

REPO = Path(__file__).resolve().parent.parent
CORPUS_EXIM = ("exim",)


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


class Store:
    """What the store would give back for a message that left the cache: its last committed state."""

    def __init__(self) -> None:
        self.saved: dict[str, MessageState] = {}
        self.loads = 0

    def commit(self, batch: Batch) -> None:
        for s in batch.messages.values():
            self.saved[s.msgid] = MessageState(
                **{
                    f.name: getattr(s, f.name)
                    for f in dataclasses.fields(MessageState)
                    if f.name not in ("raw", "pending", "attempts")
                },
                raw=list(s.raw),
                pending={k: list(v) for k, v in s.pending.items()},
                attempts=dict(s.attempts),
            )

    def load(self, msgid: str) -> MessageState | None:
        self.loads += 1
        saved = self.saved.get(msgid)
        if saved is None:
            return None
        return MessageState(
            **{
                f.name: getattr(saved, f.name)
                for f in dataclasses.fields(MessageState)
                if f.name not in ("raw", "pending", "attempts")
            },
            raw=list(saved.raw),
            pending={k: list(v) for k, v in saved.pending.items()},
            attempts=dict(saved.attempts),
        )


def run_both(lines: list[str], cache_size: int = 20_000, batch_lines: int = 500) -> tuple[int, int]:
    """Feed ``lines`` to both paths, comparing every batch; returns (lines, lines the compiled path took)."""
    stores = Store(), Store()
    pure = Correlator(stores[0].load, 1, 1, server="mx", cache_size=cache_size, stored_until=None)
    fast = Correlator(stores[1].load, 1, 1, server="mx", cache_size=cache_size, stored_until=None)
    feed = fast.feeder()
    assert feed != fast.feed
    taken = 0
    for n, text in enumerate(lines, 1):
        parsed = exim.parse_exim_line(text)
        if parsed.kind == exim.UNKNOWN:
            continue
        kind, msgid = parsed.kind, parsed.msgid
        in_cache = msgid in fast._cache
        assert feed(exim.parse_exim_line(text), text) == pure.feed(parsed, text), text
        taken += in_cache and kind in (exim.DELIVERY, exim.DEFER, exim.FAILURE, exim.COMPLETED)
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


def test_mutated_lines_give_the_same_batches(compiled, corpora: Path):
    """Lines of real logs with fields dropped, doubled, emptied or shuffled between messages."""
    rng = random.Random(5)
    base = [
        line
        for path in sorted((corpora / "exim").rglob("*"))
        if path.is_file()
        for line in corpus_lines(path)
    ]
    assert len(base) > 1000
    msgids = [exim.parse_exim_line(line).msgid for line in base[:5000]]
    msgids = [m for m in msgids if m]
    mutated = []
    for _ in range(20_000):
        line = rng.choice(base)
        words = line.split(" ")
        op = rng.randrange(6)
        if op == 0 and len(words) > 4:
            del words[rng.randrange(3, len(words))]
        elif op == 1 and len(words) > 3:
            i = rng.randrange(3, len(words))
            words.insert(i, words[i])
        elif op == 2 and len(words) > 3:
            i = rng.randrange(3, len(words))
            words[i] = words[i].split("=")[0] + "=" if "=" in words[i] else ""
        elif op == 3 and len(words) > 2 and msgids:
            words[2] = rng.choice(msgids)  # another message's id: lines out of their story
        elif op == 4 and len(words) > 3:
            words[3] = rng.choice(["=>", "->", "**", "==", "*>", ">>", "Completed"])
        mutated.append(" ".join(words))
    run_both(mutated, cache_size=50, batch_lines=211)


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
