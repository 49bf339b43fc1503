#!/usr/bin/env python3
"""Benchmark trackdelivery against Exim's eximstats on the same large Exim main log, in one run.

Measures, each tool as a child process pinned to one CPU (``taskset``): wall seconds, lines per
second and peak resident memory (``ru_maxrss`` of the child, from ``os.wait4``); then search latency
(first page, best of 3) on the database the ingest built. Prints markdown tables.

    python bench/run_exim.py --lines 1000000               # generate, ingest, eximstats, searches
    python bench/run_exim.py --log /var/log/exim_mainlog   # an existing log instead
    python bench/run_exim.py --lines 200000 --keep /tmp/bench --cmd ".venv/bin/trackdelivery"

Stdlib only. See bench/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import json
import lzma
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
GENERATOR = HERE / "gen_exim.py"
MISSING_ADDRESS = "nobody@no-such-domain.example"
TEXT_QUERIES = ("Quota exceeded", "zen.spamhaus.org")


@dataclass
class Run:
    """One measured child process (wall and CPU time, peak RSS)."""

    name: str
    argv: list[str]
    returncode: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    max_rss_kib: int = 0
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def peak_mb(self) -> float:
        return self.max_rss_kib / 1024  # ru_maxrss is in KiB on Linux


def measure(
    name: str, argv: list[str], workdir: Path, env: dict[str, str] | None = None, pin: list[str] | None = None
) -> Run:
    """Run ``argv`` to completion; wall time, the child's own CPU time and peak RSS via os.wait4.

    Output goes to files, not pipes, so a chatty child can never block on a full pipe while we wait.
    ``taskset`` execs the command in the same process, so wait4 sees the tool itself.
    """
    full = (pin or []) + argv
    out_path, err_path = workdir / f"{name}.stdout", workdir / f"{name}.stderr"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        began = time.perf_counter()
        try:
            proc = subprocess.Popen(full, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        except OSError as exc:
            return Run(name, full, returncode=127, stderr=f"cannot start {full[0]!r}: {exc}")
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)  # tell Popen the child is already reaped
    return Run(
        name,
        full,
        proc.returncode,
        seconds,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss,
        out_path.read_text(errors="replace"),
        err_path.read_text(errors="replace"),
    )


def open_log(path: Path):  # noqa: ANN201 - a binary file object
    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(path.suffix, open)
    return opener(path, "rb")


def count_lines(path: Path) -> int:
    lines = 0
    with open_log(path) as fh:
        while chunk := fh.read(1 << 22):
            lines += chunk.count(b"\n")
    return lines


# "2026-11-01 00:00:07 [121936] 1xNIzX-000Vig-LJ => zoe369@example-mail.net R=dkim_lookuphost ..."
# "... 1xNJ09-000Vip-Hy => admin <admin@design-studio-example.com> R=virtual_user ..."
DELIVERY = re.compile(rb" (?:=>|->) (?:\S+ <)?([^\s<>@]+@[^\s<>]+?)>? R=")


def pick_recipients(
    path: Path, max_lines: int = 300_000, delivery: re.Pattern[bytes] = DELIVERY
) -> list[tuple[str, str]]:
    """Recipients to search for, read from the log: a busy one, a typical one, a rare one, a missing one.

    ``delivery`` finds the recipient of a delivery line (group 1); Postfix's runner passes its own.
    """
    seen: Counter[bytes] = Counter()
    with open_log(path) as fh:
        for n, line in enumerate(fh):
            if n >= max_lines:
                break
            m = delivery.search(line)
            if m:
                seen[m.group(1)] += 1
    picks: list[tuple[str, str]] = []
    if seen:
        ranked = seen.most_common()
        picks.append(("busiest recipient", ranked[0][0].decode(errors="replace")))
        picks.append(("median recipient", ranked[len(ranked) // 2][0].decode(errors="replace")))
        picks.append(("rare recipient", ranked[-1][0].decode(errors="replace")))
    picks.append(("missing recipient", MISSING_ADDRESS))
    return picks


# A 23-character id of Exim >= 4.97 ("1smkL5-00000000e65-24eQ") and the parts that make it a unique
# 16-character one ("1smkL5-000e65-eQ"): Debian 12's eximstats (4.96) reads ids as 16 characters.
LONG_ID = re.compile(rb"\b([0-9A-Za-z]{6})-[0-9A-Za-z]{5}([0-9A-Za-z]{6})-[0-9A-Za-z]{2}([0-9A-Za-z]{2})\b")
LONG_ID_LINE = re.compile(
    rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: [-+]\d{4})?(?: \[\d+\])? "
    rb"[0-9A-Za-z]{6}-[0-9A-Za-z]{11}-[0-9A-Za-z]{4} ",
    re.M,
)


def has_long_ids(path: Path) -> bool:
    with open_log(path) as fh:
        return LONG_ID_LINE.search(fh.read(1 << 23)) is not None


def copy_with_short_ids(source: Path, target: Path) -> None:
    """A copy of the log that eximstats 4.96 can read: every 23-character id shortened to 16."""
    with open_log(source) as src, open(target, "wb") as dst:
        while lines := src.readlines(1 << 22):
            dst.write(LONG_ID.sub(rb"\1-\2-\3", b"".join(lines)))


def parse_eximstats(report: str) -> dict[str, int]:
    """Message counts from eximstats' "Grand total summary" (text output)."""
    counts: dict[str, int] = {}
    m = re.search(r"^\s+Received\s+\S+\s+(\d+)\s+\d+\s+(\d+)\s+[\d.]+%\s+(\d+)\s", report, re.M)
    if m:
        counts.update(received=int(m.group(1)), delayed=int(m.group(2)), failed=int(m.group(3)))
    m = re.search(r"^\s+Delivered\s+\S+\s+(\d+)\s+(\d+)", report, re.M)
    if m:
        counts.update(delivered_messages=int(m.group(1)), delivered_addresses=int(m.group(2)))
    m = re.search(r"^\s+Rejects\s+(\d+)", report, re.M)
    if m:
        counts["rejects"] = int(m.group(1))
    return counts


def trackdelivery_command(cmd: str | None) -> list[str]:
    if cmd:
        return shlex.split(cmd)
    found = shutil.which("trackdelivery")
    return [found] if found else [sys.executable, "-m", "trackdelivery"]


def warm_up(td: list[str], workdir: Path) -> None:
    """One untimed ``--version`` run that may write the bytecode cache (.pyc), as the first run after any
    install does. Where PYTHONDONTWRITEBYTECODE is set (some sandboxes and CI images) every timed start
    would otherwise compile the package's modules from source again: 30-50 ms a process."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    measure("trackdelivery-warm-up", [*td, "--version"], workdir, env)


def human_size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def failure_note(run: Run) -> str:
    return (
        f"\n**{run.name} failed** (exit {run.returncode}): `{shlex.join(run.argv)}`\n\n```\n"
        f"{tail(run.stderr) or tail(run.stdout) or '(no output)'}\n```\n"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--lines",
        type=int,
        default=1_000_000,
        help="generate a log of about this many lines (default 1000000)",
    )
    src.add_argument("--log", type=Path, help="use this Exim main log instead of generating one")
    p.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    p.add_argument("--days", type=float, default=1.0, help="days the generated log covers (default 1)")
    p.add_argument(
        "--start", default="2026-11-01", help="first day of the generated log (default 2026-11-01)"
    )
    p.add_argument(
        "--id-form",
        choices=("old", "new", "mixed"),
        default="old",
        help="message ids of the generated log (default old, so both tools read the very same file; "
        "with 23-character ids eximstats, which reads ids as 16 characters, gets a shortened copy)",
    )
    p.add_argument(
        "--keep", type=Path, metavar="DIR", help="work in DIR and keep the log, database and outputs"
    )
    p.add_argument(
        "--cmd", help="trackdelivery command (default: trackdelivery on PATH, else python -m trackdelivery)"
    )
    p.add_argument(
        "--eximstats",
        default=shutil.which("eximstats") or "/usr/sbin/eximstats",
        help="eximstats program (default: on PATH, else /usr/sbin/eximstats)",
    )
    p.add_argument("--cpu", default="0", help="CPU to pin every measured process to with taskset (default 0)")
    p.add_argument("--no-pin", action="store_true", help="do not pin to one CPU")
    p.add_argument("--skip-trackdelivery", action="store_true", help="only generate and run eximstats")
    p.add_argument("--skip-eximstats", action="store_true", help="do not run eximstats")
    p.add_argument("--repeat", type=int, default=3, help="search timings: best of this many runs (default 3)")
    p.add_argument("--rounds", type=int, default=3,
                   help="run ingest and eximstats this many times each, alternately, and report the best of each "
                        "(default 3; the machine's speed drifts, and alternating lets both see the same drift)")  # fmt: skip
    p.add_argument("--json", type=Path, metavar="FILE", help="also write every number to FILE as JSON")
    return p.parse_args(argv)


@dataclass
class Bench:
    """One benchmark run: its options, where it works, and what it found so far."""

    args: argparse.Namespace
    workdir: Path
    pin: list[str]
    log: Path = Path()
    lines: int = 0
    size: int = 0
    generated: dict = field(default_factory=dict)  # gen_exim.py's own counts
    rows: list[tuple[str, Run]] = field(default_factory=list)  # the timing table
    notes: list[str] = field(default_factory=list)  # failures, printed after the tables
    results: dict = field(default_factory=dict)  # everything, for --json
    exigrep: dict[str, Run] = field(default_factory=dict)  # address → exigrep's run, beside its search
    rounds_note: str = ""  # every round's time, with --rounds

    @property
    def td(self) -> list[str]:
        return trackdelivery_command(self.args.cmd)

    @property
    def db(self) -> Path:
        return self.workdir / "bench.sqlite3"

    @property
    def env(self) -> dict[str, str]:
        return dict(os.environ, TRACKDELIVERY_DB=str(self.db))

    def failed(self, run: Run) -> None:
        self.notes.append(failure_note(run))


def make_log(b: Bench) -> bool:
    """Generate the log (timed: the generator gets a row too), or check the one given."""
    args = b.args
    if args.log:
        b.log = args.log.resolve()
        if not b.log.is_file():
            print(f"run_exim: no such log file: {b.log}", file=sys.stderr)
            return False
    else:
        b.log = b.workdir / "exim_mainlog"
        options = {"--lines": args.lines, "--seed": args.seed, "--start": args.start, "--days": args.days,
                   "--id-form": args.id_form, "--out": b.log}  # fmt: skip
        argv = [sys.executable, str(GENERATOR), *(str(x) for pair in options.items() for x in pair)]
        gen = measure("gen_exim.py", argv, b.workdir, pin=b.pin)
        if not gen.ok:
            print(failure_note(gen), file=sys.stderr)
            return False
        b.generated = json.loads(gen.stderr.strip().splitlines()[-1])
        b.rows.append(("gen_exim.py (writes the log)", gen))
        b.results["generator"] = {"seconds": gen.seconds, "peak_mb": gen.peak_mb, "counts": b.generated}
    b.lines = b.generated.get("lines") or count_lines(b.log)
    b.size = b.log.stat().st_size
    b.results.update(log=str(b.log), lines=b.lines, bytes=b.size)
    print(f"log: {b.log} ({b.lines:,} lines, {human_size(b.size)})", file=sys.stderr)
    return True


def interleaved(rounds: int, timers: list[Callable[[], Run]]) -> list[list[Run]]:
    """Each timer's runs, ``rounds`` of each in turn (a drifting machine slows them all alike)."""
    runs: list[list[Run]] = [[] for _ in timers]
    for _ in range(max(1, rounds)):
        for i, timer in enumerate(timers):
            runs[i].append(timer())
    return runs


def best(runs: list[Run]) -> Run:
    """The fastest run; a failed one, if any, so that the failure is reported."""
    return min(runs, key=lambda run: (run.ok, run.seconds))


def rounds_note(named: dict[str, list[Run]]) -> str:
    """'Each round: trackdelivery ingest 22.6, 24.5 s; eximstats 5.9, 6.2 s' (empty for single runs)."""
    parts = [f"{name} {', '.join(f'{r.seconds:.2f}' for r in runs)} s" for name, runs in named.items() if len(runs) > 1]
    return f"Each round, in order: {'; '.join(parts)}." if parts else ""


def best_of(label: str, rounds: int) -> str:
    return f"{label} (best of {rounds})" if rounds > 1 else label


def time_ingest(b: Bench) -> Run:
    """``trackdelivery ingest`` of the whole log into a fresh database."""
    for stale in (b.db, Path(f"{b.db}-wal"), Path(f"{b.db}-shm")):
        stale.unlink(missing_ok=True)  # ingest is idempotent: a second run would measure nothing
    print(f"trackdelivery ingest ({shlex.join(b.td)}) ...", file=sys.stderr)
    return measure("trackdelivery-ingest", [*b.td, "--db", str(b.db), "ingest", str(b.log)], b.workdir, b.env, b.pin)


def run_ingest(b: Bench, ingest: Run) -> tuple[Run, dict]:
    """Record an ingest's run, then ``stats --format json`` of the database it built (not timed)."""
    b.rows.append((best_of("trackdelivery ingest", b.args.rounds), ingest))
    stats: dict = {}
    if not ingest.ok:
        b.failed(ingest)
    else:
        run = measure(
            "trackdelivery-stats", [*b.td, "--db", str(b.db), "stats", "--format", "json"], b.workdir, b.env
        )
        try:
            stats = json.loads(run.stdout) if run.ok else {}
        except json.JSONDecodeError:
            pass
        if not run.ok:
            b.failed(run)
    b.results["trackdelivery"] = {"ok": ingest.ok, "seconds": ingest.seconds, "peak_mb": ingest.peak_mb,
                                  "stats": stats, "db_bytes": b.db.stat().st_size if b.db.exists() else 0}  # fmt: skip
    return ingest, stats


def eximstats_timer(b: Bench) -> Callable[[], Run] | None:
    """What times one eximstats run on the log (None, with a note, where eximstats is missing)."""
    exe = b.args.eximstats
    if not Path(exe).exists() and not shutil.which(exe):
        b.notes.append(f"\neximstats not found ({exe}): install Debian's exim4-base.\n")
        return None
    log = b.log
    if has_long_ids(log):
        log = b.workdir / "exim_mainlog.short-ids"
        print(f"23-character ids: eximstats reads a copy with 16-character ids ({log})", file=sys.stderr)
        copy_with_short_ids(b.log, log)
        b.results["eximstats_log_short_ids"] = str(log)

    def timer() -> Run:
        print("eximstats ...", file=sys.stderr)
        # Its report is a few KB: a file instead of /dev/null costs nothing measurable, and is checked.
        return measure("eximstats", [exe, "-nr", "-t0", "-txt", str(log)], b.workdir, pin=b.pin)

    return timer


def run_eximstats(b: Bench, run: Run) -> tuple[Run, dict[str, int]]:
    b.rows.append((best_of("eximstats -nr -t0 -txt", b.args.rounds), run))
    counts = parse_eximstats(run.stdout) if run.ok else {}
    if not run.ok:
        b.failed(run)
    b.results["eximstats"] = {"ok": run.ok, "seconds": run.seconds, "peak_mb": run.peak_mb, "counts": counts}
    return run, counts


def run_exigrep(b: Bench, picks: list[tuple[str, str]]) -> dict[str, Run]:
    """Exim's own way to find a recipient's mail: ``exigrep -l ADDRESS LOG`` (reads the whole log), once each."""
    exe = shutil.which("exigrep") or "/usr/sbin/exigrep"
    if not Path(exe).exists():
        b.notes.append("\nexigrep not found: install Debian's exim4-base.\n")
        return {}
    log = b.results.get("eximstats_log_short_ids", str(b.log))  # 4.96 reads 16-character ids only
    print("exigrep ...", file=sys.stderr)
    runs = {}
    for _label, address in picks:
        run = measure("exigrep", [exe, "-l", address, log], b.workdir, pin=b.pin)
        if run.returncode not in (0, 1):  # 1: nothing found
            b.failed(run)
        runs[address] = run
    b.results["exigrep"] = {address: run.seconds for address, run in runs.items()}
    return runs


def run_searches(b: Bench) -> list[tuple[str, float, int | None, Run]]:
    """First-page latency of a few searches, each a whole process, best of --repeat."""
    print("searches ...", file=sys.stderr)
    repeat = b.args.repeat
    startup = min((measure("trackdelivery-version", [*b.td, "--version"], b.workdir, b.env) for _ in range(repeat)),
                  key=lambda r: r.seconds)  # fmt: skip
    picks = pick_recipients(b.log)
    b.exigrep = run_exigrep(b, picks)
    queries = [(f"{label}: --recipient {addr}", ["--recipient", addr]) for label, addr in picks]
    queries += [(f"--text {text!r}", ["--text", text]) for text in TEXT_QUERIES]
    domain = picks[0][1].rpartition("@")[2] if len(picks) > 1 else "example.com"
    queries.append((f"--recipient {domain} --match contains", ["--recipient", domain, "--match", "contains"]))
    found = []
    for label, filters in queries:
        argv = [*b.td, "--db", str(b.db), "search", *filters, "--limit", "50", "--format", "json"]
        best = min((measure("trackdelivery-search", argv, b.workdir, b.env, b.pin) for _ in range(repeat)),
                   key=lambda r: r.seconds)  # fmt: skip
        try:
            rows: int | None = len(json.loads(best.stdout)) if best.ok else None
        except json.JSONDecodeError:
            rows = None
        if not best.ok:
            b.failed(best)
        found.append((label, best.seconds, rows, best))
    b.results["searches"] = {"startup_seconds": startup.seconds,
                             "queries": [{"query": q, "seconds": s, "rows": n, "ok": r.ok} for q, s, n, r in found]}  # fmt: skip
    return found


def print_timings(b: Bench, ingest: Run | None, exim: Run | None) -> None:
    ids = f", ids {b.args.id_form}" if b.generated else ""
    origin = f" (generated: seed {b.args.seed}, {b.args.days:g} day(s){ids})" if b.generated else ""
    print(f"\n### Exim main log: {b.lines:,} lines, {human_size(b.size)}{origin}\n")
    print("| tool | lines | file size | seconds | lines/s | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, run in b.rows:
        if run.ok:
            print(f"| {name} | {b.lines:,} | {human_size(b.size)} | {run.seconds:.2f} | {b.lines / run.seconds:,.0f} "
                  f"| {run.peak_mb:.0f} |")  # fmt: skip
        else:
            print(f"| {name} | {b.lines:,} | {human_size(b.size)} | failed (exit {run.returncode}) | – | – |")
    if ingest is not None and exim is not None and ingest.ok and exim.ok:
        ratio = ingest.seconds / exim.seconds
        b.results["time_ratio_trackdelivery_eximstats"] = ratio
        print(f"\ntrackdelivery ingest / eximstats time: **{ratio:.2f}×**")
    if b.rounds_note:
        print(f"\n{b.rounds_note}")
    if b.pin:
        print(f"\nEach process pinned to CPU {b.args.cpu} (taskset); peak RSS is the child's ru_maxrss.")
    else:
        print("\nNot pinned to one CPU (taskset missing, or --no-pin).")
    if "eximstats_log_short_ids" in b.results:
        print("\neximstats (Exim 4.96) reads message ids as 16 characters, so it was given a copy of the log with "
              "every 23-character id shortened to 16 (a few % fewer bytes); trackdelivery read the original.")  # fmt: skip


def print_searches(b: Bench, found: list[tuple[str, float, int | None, Run]]) -> None:
    startup = b.results["searches"]["startup_seconds"]
    print(f"\n### Search latency (first page: --limit 50 --format json; best of {b.args.repeat}; each a whole "
          f"process: `trackdelivery --version` alone takes {startup:.2f} s)\n")  # fmt: skip
    print("| query | rows | seconds | `exigrep -l` seconds |")
    print("|---|---:|---:|---:|")
    for label, seconds, rows, run in found:
        shown = "failed" if not run.ok else ("?" if rows is None else str(rows))
        address = label.rpartition("--recipient ")[2]
        grep = b.exigrep.get(address)
        print(f"| {label} | {shown} | {seconds:.3f} | {f'{grep.seconds:.2f}' if grep is not None else ''} |")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="trackdelivery-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    pin = ["taskset", "-c", args.cpu] if not args.no_pin and shutil.which("taskset") else []
    b = Bench(args, workdir, pin, results={"workdir": str(workdir), "pinned_cpu": args.cpu if pin else None})
    try:
        if not make_log(b):
            return 2 if args.log else 1
        timers: dict[str, Callable[[], Run]] = {}
        if not args.skip_trackdelivery:
            warm_up(b.td, workdir)
            timers["trackdelivery ingest"] = lambda: time_ingest(b)
        exim_timer = eximstats_timer(b) if not args.skip_eximstats else None
        if exim_timer is not None:
            timers["eximstats"] = exim_timer
        named = dict(zip(timers, interleaved(args.rounds, list(timers.values())), strict=True))
        b.results["round_seconds"] = {name: [r.seconds for r in each] for name, each in named.items()}
        b.rounds_note = rounds_note(named)
        ingest, stats = run_ingest(b, best(named["trackdelivery ingest"])) if "trackdelivery ingest" in named else (None, {})
        exim, exim_counts = run_eximstats(b, best(named["eximstats"])) if "eximstats" in named else (None, {})
        found = run_searches(b) if ingest is not None and ingest.ok else []

        print_timings(b, ingest, exim)
        if b.generated or exim_counts or stats:
            print_counts(b.generated, exim_counts, stats, short_ids="eximstats_log_short_ids" in b.results)
        if found:
            print_searches(b, found)
        for note in b.notes:
            print(note)
        if args.json:
            args.json.write_text(json.dumps(b.results, indent=2))
        return 1 if b.notes else 0
    finally:
        if args.keep:
            print(f"\n(kept {workdir})", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def print_counts(generated: dict, exim: dict[str, int], tool: dict, short_ids: bool) -> None:
    """What each side counted: the generator's own tally, eximstats' summary, ``trackdelivery stats``."""
    gen = generated.get
    want = generated.get("eximstats_expected", {}).get
    if short_ids and generated:  # eximstats saw every message: it should agree with the whole tally
        want = {
            "received": gen("messages"),
            "delivered_messages": gen("deliveries"),
            "delivered_addresses": gen("addresses"),
            "delayed": gen("delayed_messages"),
            "failed": gen("failed_messages"),
            "rejects": gen("rejections") + gen("blackholed"),
        }.get
    events = tool.get("events") if isinstance(tool.get("events"), dict) else {}

    def minus(a: int | None, b: int | None) -> int | None:
        return None if a is None or b is None else a - b

    def plus(a: int | None, b: int | None) -> int | None:
        return None if a is None or b is None else a + b

    rows = [  # what, generator, what eximstats should print, eximstats, trackdelivery
        (
            "messages received (`<=`)",
            gen("messages"),
            want("received"),
            exim.get("received"),
            tool.get("messages"),
        ),
        (
            "deliveries (`=>`)",
            gen("deliveries"),
            want("delivered_messages"),
            exim.get("delivered_messages"),
            None,
        ),
        (
            "delivered addresses (`=>` + `->`)",
            gen("addresses"),
            want("delivered_addresses"),
            exim.get("delivered_addresses"),
            None,
        ),
        (
            "success events (addresses − :blackhole:)",
            minus(gen("addresses"), gen("blackholed")),
            None,
            None,
            events.get("success"),
        ),
        ("filtered events (:blackhole:)", gen("blackholed"), None, None, events.get("filtered")),
        ("defer events (`==` lines)", gen("deferrals"), None, None, events.get("defer")),
        ("messages delayed", gen("delayed_messages"), want("delayed"), exim.get("delayed"), None),
        ("failure events (`**` lines)", gen("failures"), None, None, events.get("failure")),
        ("messages failed", gen("failed_messages"), want("failed"), exim.get("failed"), None),
        (
            "rejected events (RCPT + after DATA)",
            plus(gen("rejected_rcpt"), gen("rejected_after_data")),
            None,
            None,
            events.get("rejected"),
        ),
        (
            "eximstats Rejects (+ dropped calls, :blackhole:)",
            None,
            want("rejects"),
            exim.get("rejects"),
            None,
        ),
        (
            "inprogress (recipients without outcome)",
            gen("pending_recipients"),
            None,
            None,
            events.get("inprogress"),
        ),
        ("lines", gen("lines"), None, None, tool.get("lines")),
    ]
    print("\n### Counts\n")
    print("| what | generator | eximstats should say | eximstats | trackdelivery |")
    print("|---|---:|---:|---:|---:|")
    for label, *values in rows:
        if all(v is None for v in values):
            continue
        cells = ["" if v is None else f"{v:,}" for v in values]
        if values[1] is not None and values[2] is not None and values[1] != values[2]:
            cells[2] += " ≠"
        if values[0] is not None and values[3] is not None and values[0] != values[3]:
            cells[3] += " ≠"
        print(f"| {label} | " + " | ".join(cells) + " |")
    if tool.get("unparsed"):
        print(f"\ntrackdelivery could not parse {tool['unparsed']:,} lines.")
    print(
        "\neximstats counts a `=>` line without `T=` (:blackhole:) as a delivery *and* a rejection (reason "
        '"Unknown"), and "SMTP call ... dropped" lines as rejections.'
    )


if __name__ == "__main__":
    sys.exit(main())
