#!/usr/bin/env python3
"""Benchmark trackdelivery against Postfix's pflogsumm on the same large Postfix log, in one run.

Measures, each tool as a child process pinned to one CPU (``taskset``): wall seconds, CPU seconds,
lines per second and peak resident memory (``ru_maxrss`` of the child, from ``os.wait4``); then the
first-page latency of a few searches on the database the ingest built. Prints markdown tables.

    python bench/run_postfix.py --lines 1000000              # generate, ingest, pflogsumm, searches
    python bench/run_postfix.py --log /var/log/mail.log      # an existing log instead
    python bench/run_postfix.py --lines 300000 --keep /tmp/pfbench --cmd ".venv/bin/trackdelivery"

Stdlib only (the measuring helpers are run_exim.py's). See bench/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from run_exim import (
    Run,
    best,
    best_of,
    count_lines,
    failure_note,
    human_size,
    interleaved,
    measure,
    pick_recipients,
    rounds_note,
    trackdelivery_command,
    warm_up,
)

HERE = Path(__file__).resolve().parent
GENERATOR = HERE / "gen_postfix.py"
TEXT_QUERIES = ("Greylisted", "zen.spamhaus.org")
PFLOGSUMM_TOTALS = ("received", "delivered", "forwarded", "deferred", "bounced", "rejected", "held", "discarded")


def parse_pflogsumm(report: str) -> dict[str, int]:
    """The "Grand Totals" message counts of a pflogsumm report (plus "deferrals")."""
    counts: dict[str, int] = {}
    for name in PFLOGSUMM_TOTALS:
        m = re.search(rf"^\s*(\d+)([km]?)\s+{name}\b", report, re.M)
        if m:
            counts[name] = int(m.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[m.group(2)]
    m = re.search(r"\((\d+)\s+deferrals\)", report)
    if m:
        counts["deferrals"] = int(m.group(1))
    return counts


# "postfix/smtp[2011]: CF1BD10002: to=<vera893@mail-example.org>, relay=..."
DELIVERY = re.compile(rb": to=<([^<>@\s]+@[^<>\s]+)>, (?:orig_to=<[^>]*>, )?relay=")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    src = p.add_mutually_exclusive_group()
    src.add_argument("--lines", type=int, default=1_000_000,
                     help="generate a log of about this many lines (default 1000000)")  # fmt: skip
    src.add_argument("--log", type=Path, help="use this Postfix log instead of generating one")
    p.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    p.add_argument("--days", type=float, default=1.0, help="days the generated log covers (default 1)")
    p.add_argument("--start", default="2026-11-01", help="first day of the generated log (default 2026-11-01)")
    p.add_argument("--keep", type=Path, metavar="DIR", help="work in DIR and keep the log, database and outputs")
    p.add_argument("--cmd", help="trackdelivery command (default: trackdelivery on PATH, else python -m trackdelivery)")
    p.add_argument("--pflogsumm", default=shutil.which("pflogsumm") or "/usr/sbin/pflogsumm",
                   help="pflogsumm program (default: on PATH, else /usr/sbin/pflogsumm)")  # fmt: skip
    p.add_argument("--cpu", default="0", help="CPU to pin every measured process to with taskset (default 0)")
    p.add_argument("--no-pin", action="store_true", help="do not pin to one CPU")
    p.add_argument("--skip-searches", action="store_true", help="do not time searches")
    p.add_argument("--repeat", type=int, default=3, help="search timings: best of this many runs (default 3)")
    p.add_argument("--rounds", type=int, default=3,
                   help="run ingest and pflogsumm this many times each, alternately, and report the best of each "
                        "(default 3; the machine's speed drifts, and alternating lets both see the same drift)")  # fmt: skip
    p.add_argument("--json", type=Path, metavar="FILE", help="also write every number to FILE as JSON")
    return p.parse_args(argv)


@dataclass
class Bench:
    args: argparse.Namespace
    workdir: Path
    pin: list[str]
    log: Path = Path()
    lines: int = 0
    size: int = 0
    generated: dict = field(default_factory=dict)
    rows: list[tuple[str, Run]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    results: dict = field(default_factory=dict)

    @property
    def td(self) -> list[str]:
        return trackdelivery_command(self.args.cmd)

    @property
    def db(self) -> Path:
        return self.workdir / "bench.sqlite3"

    @property
    def env(self) -> dict[str, str]:
        return dict(os.environ, TRACKDELIVERY_DB=str(self.db))


def make_log(b: Bench) -> bool:
    args = b.args
    if args.log:
        b.log = args.log.resolve()
        if not b.log.is_file():
            print(f"run_postfix: no such log file: {b.log}", file=sys.stderr)
            return False
    else:
        b.log = b.workdir / "maillog"
        options = {"--lines": args.lines, "--seed": args.seed, "--start": args.start, "--days": args.days,
                   "--out": b.log}  # fmt: skip
        argv = [sys.executable, str(GENERATOR), *(str(x) for pair in options.items() for x in pair)]
        gen = measure("gen_postfix.py", argv, b.workdir, pin=b.pin)
        if not gen.ok:
            print(failure_note(gen), file=sys.stderr)  # type: ignore[arg-type]
            return False
        b.generated = json.loads(gen.stderr.strip().splitlines()[-1])
        b.rows.append(("gen_postfix.py (writes the log)", gen))
        b.results["generator"] = {"seconds": gen.seconds, "peak_mb": gen.peak_mb, "counts": b.generated}
    b.lines = b.generated.get("lines") or count_lines(b.log)
    b.size = b.log.stat().st_size
    b.results.update(log=str(b.log), lines=b.lines, bytes=b.size)
    print(f"log: {b.log} ({b.lines:,} lines, {human_size(b.size)})", file=sys.stderr)
    return True


def time_ingest(b: Bench) -> Run:
    for stale in (b.db, Path(f"{b.db}-wal"), Path(f"{b.db}-shm")):
        stale.unlink(missing_ok=True)
    print(f"trackdelivery ingest ({shlex.join(b.td)}) ...", file=sys.stderr)
    return measure("trackdelivery-ingest", [*b.td, "--db", str(b.db), "ingest", str(b.log)], b.workdir, b.env,
                   b.pin)  # fmt: skip


def run_ingest(b: Bench, ingest: Run) -> tuple[Run, dict]:
    b.rows.append((best_of("trackdelivery ingest", b.args.rounds), ingest))
    stats: dict = {}
    if not ingest.ok:
        b.notes.append(failure_note(ingest))  # type: ignore[arg-type]
    else:
        run = measure("trackdelivery-stats", [*b.td, "--db", str(b.db), "stats", "--format", "json"], b.workdir,
                      b.env)  # fmt: skip
        try:
            stats = json.loads(run.stdout) if run.ok else {}
        except json.JSONDecodeError:
            stats = {}
    b.results["trackdelivery"] = {"ok": ingest.ok, "seconds": ingest.seconds, "cpu_seconds": ingest.cpu_seconds,
                                  "peak_mb": ingest.peak_mb, "stats": stats,
                                  "db_bytes": b.db.stat().st_size if b.db.exists() else 0}  # fmt: skip
    return ingest, stats


def pflogsumm_timer(b: Bench) -> Callable[[], Run] | None:
    exe = b.args.pflogsumm
    if not Path(exe).exists() and not shutil.which(exe):
        b.notes.append(f"\npflogsumm not found ({exe}): install Debian's pflogsumm.\n")
        return None

    def timer() -> Run:
        print("pflogsumm ...", file=sys.stderr)
        # The default report (what an administrator runs daily); its size does not depend on the log's.
        return measure("pflogsumm", [exe, str(b.log)], b.workdir, pin=b.pin)

    return timer


def run_pflogsumm(b: Bench, run: Run) -> tuple[Run, dict[str, int]]:
    b.rows.append((best_of("pflogsumm", b.args.rounds), run))
    counts = parse_pflogsumm(run.stdout) if run.ok else {}
    if not run.ok:
        b.notes.append(failure_note(run))  # type: ignore[arg-type]
    b.results["pflogsumm"] = {"ok": run.ok, "seconds": run.seconds, "cpu_seconds": run.cpu_seconds,
                              "peak_mb": run.peak_mb, "counts": counts}  # fmt: skip
    return run, counts


def run_searches(b: Bench) -> list[tuple[str, float, int | None, Run]]:
    print("searches ...", file=sys.stderr)
    picks = pick_recipients(b.log, delivery=DELIVERY)
    queries = [(f"{label}: --recipient {addr}", ["--recipient", addr]) for label, addr in picks]
    queries += [(f"--text {text!r}", ["--text", text]) for text in TEXT_QUERIES]
    found = []
    for label, filters in queries:
        argv = [*b.td, "--db", str(b.db), "search", *filters, "--limit", "50", "--format", "json"]
        best = min((measure("trackdelivery-search", argv, b.workdir, b.env, b.pin) for _ in range(b.args.repeat)),
                   key=lambda r: r.seconds)  # fmt: skip
        try:
            rows: int | None = len(json.loads(best.stdout)) if best.ok else None
        except json.JSONDecodeError:
            rows = None
        found.append((label, best.seconds, rows, best))
    b.results["searches"] = [{"query": q, "seconds": s, "rows": n} for q, s, n, _r in found]
    return found


def print_timings(b: Bench, ingest: Run | None, summary: Run | None) -> None:
    origin = f" (generated: seed {b.args.seed}, {b.args.days:g} day(s))" if b.generated else ""
    print(f"\n### Postfix log: {b.lines:,} lines, {human_size(b.size)}{origin}\n")
    print("| tool | seconds | CPU seconds | lines/s | peak RSS MB |")
    print("|---|---:|---:|---:|---:|")
    for name, run in b.rows:
        if run.ok:
            print(f"| {name} | {run.seconds:.2f} | {run.cpu_seconds:.2f} | {b.lines / run.seconds:,.0f} "
                  f"| {run.peak_mb:.0f} |")  # fmt: skip
        else:
            print(f"| {name} | failed (exit {run.returncode}) | – | – | – |")
    if ingest is not None and summary is not None and ingest.ok and summary.ok:
        ratio = ingest.seconds / summary.seconds
        cpu_ratio = ingest.cpu_seconds / summary.cpu_seconds if summary.cpu_seconds else 0.0
        b.results["time_ratio_trackdelivery_pflogsumm"] = ratio
        b.results["cpu_ratio_trackdelivery_pflogsumm"] = cpu_ratio
        print(f"\ntrackdelivery ingest / pflogsumm: **{ratio:.2f}×** wall time, {cpu_ratio:.2f}× CPU time")
    print(f"\nEach process pinned to CPU {b.args.cpu} (taskset)." if b.pin
          else "\nNot pinned to one CPU (taskset missing, or --no-pin).")  # fmt: skip


def print_counts(generated: dict, theirs: dict[str, int], tool: dict) -> None:
    """The generator's tally, pflogsumm's Grand Totals and ``trackdelivery stats`` side by side."""
    want = generated.get("pflogsumm_expected", {}).get
    events = tool.get("events") if isinstance(tool.get("events"), dict) else {}
    rows = [  # what, generator (= what pflogsumm should say), pflogsumm, trackdelivery
        ("received (smtpd client= + pickup)", want("received"), theirs.get("received"), None),
        ("delivered (status=sent) / success events", want("delivered"), theirs.get("delivered"),
         events.get("success")),
        ("deferrals (status=deferred) / defer events", want("deferrals"), theirs.get("deferrals"),
         events.get("defer")),
        ("deferred messages", want("deferred"), theirs.get("deferred"), None),
        ("bounced (status=bounced)", want("bounced"), theirs.get("bounced"), None),
        ("failure events (bounced + expired recipients)",
         (generated.get("bounced", 0) + generated.get("expired", 0)) if generated else None, None,
         events.get("failure")),
        ("rejected / rejected events", want("rejected"), theirs.get("rejected"), events.get("rejected")),
        ("discarded / filtered events", want("discarded"), theirs.get("discarded"), events.get("filtered")),
        ("inprogress events (recipients still queued)", None, None, events.get("inprogress")),
        ("messages (queue ids with an arrival)", None, None, tool.get("messages")),
        ("lines", generated.get("lines"), None, tool.get("lines")),
    ]  # fmt: skip
    print("\n### Counts\n")
    print("| what | generator | pflogsumm | trackdelivery |")
    print("|---|---:|---:|---:|")
    for label, *values in rows:
        if all(v is None for v in values):
            continue
        cells = ["" if v is None else f"{v:,}" for v in values]
        if values[0] is not None and values[1] is not None and values[0] != values[1]:
            cells[1] += " ≠"
        if values[0] is not None and values[2] is not None and values[0] != values[2]:
            cells[2] += " ≠"
        print(f"| {label} | " + " | ".join(cells) + " |")
    if tool.get("unparsed"):
        print(f"\ntrackdelivery could not parse {tool['unparsed']:,} lines.")
    print("\npflogsumm counts deliveries to the content filter (127.0.0.1:10024) and the filter's re-injected "
          "copies as separate received and delivered messages; so do we (the two are linked by parent_msgid).")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="trackdelivery-pfbench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    pin = ["taskset", "-c", args.cpu] if not args.no_pin and shutil.which("taskset") else []
    b = Bench(args, workdir, pin, results={"workdir": str(workdir), "pinned_cpu": args.cpu if pin else None})
    try:
        if not make_log(b):
            return 2 if args.log else 1
        warm_up(b.td, workdir)
        timers: dict[str, Callable[[], Run]] = {"trackdelivery ingest": lambda: time_ingest(b)}
        summary_timer = pflogsumm_timer(b)
        if summary_timer is not None:
            timers["pflogsumm"] = summary_timer
        named = dict(zip(timers, interleaved(args.rounds, list(timers.values())), strict=True))
        b.results["round_seconds"] = {name: [r.seconds for r in each] for name, each in named.items()}
        ingest, stats = run_ingest(b, best(named["trackdelivery ingest"]))
        summary, counts = run_pflogsumm(b, best(named["pflogsumm"])) if "pflogsumm" in named else (None, {})
        found = run_searches(b) if ingest.ok and not args.skip_searches else []
        print_timings(b, ingest, summary)
        if rounds_note(named):
            print(f"\n{rounds_note(named)}")
        print_counts(b.generated, counts, stats)
        if found:
            print("\n### Search latency (first page: --limit 50 --format json; each a whole process)\n")
            print("| query | rows | seconds |")
            print("|---|---:|---:|")
            for label, seconds, rows, run in found:
                print(f"| {label} | {'failed' if not run.ok else rows} | {seconds:.3f} |")
        for note in b.notes:
            print(note)
        b.results["self_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if args.json:
            args.json.write_text(json.dumps(b.results, indent=2))
        return 1 if b.notes else 0
    finally:
        if args.keep:
            print(f"\n(kept {workdir})", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
