"""Search latency over a large database: the first page (and its total) as the API asks for it.

    python bench/search_bench.py --events 1000000          # generates and ingests a log big enough
    python bench/search_bench.py --db existing.sqlite3     # or measures an existing database

Each query is what /api/v1/search runs: search.iter_rows(limit 50) plus search.count for the total,
in-process (no HTTP), median of 5 runs after one warm-up, in milliseconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from trackdelivery.search import Scope, SearchFilter, count, iter_rows  # noqa: E402
from trackdelivery.store.sqlite import Store  # noqa: E402

EVENTS_PER_LINE = 0.37  # what bench/gen_exim.py's mix gives


def build(db: Path, events: int, workdir: Path) -> None:
    lines = int(events / EVENTS_PER_LINE)
    log = workdir / "exim_mainlog"
    print(f"generating {lines:,} lines ...", flush=True)
    subprocess.run([sys.executable, str(REPO / "bench" / "gen_exim.py"), "--lines", str(lines), "--days", "10",
                    "--out", str(log)], check=True, stderr=subprocess.DEVNULL)
    print("ingesting ...", flush=True)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    subprocess.run([sys.executable, "-m", "trackdelivery", "--db", str(db), "ingest", "--no-progress", str(log)],
                   check=True, env=env)


def timed(db, f: SearchFilter) -> tuple[float, int, int]:  # type: ignore[no-untyped-def]
    def once() -> tuple[int, int]:
        rows = list(iter_rows(db, f))
        return len(rows), count(db, f)

    once()
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        page, total = once()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), page, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", help="measure this database instead of building one")
    ap.add_argument("--events", type=int, default=1_000_000, help="events to build (default 1,000,000)")
    ap.add_argument("--keep", help="directory to build in and keep (default: a temporary one)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.keep or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        db = Path(args.db) if args.db else workdir / "search-bench.sqlite3"
        if not args.db:
            build(db, args.events, workdir)
        store = Store(db, readonly=True)
        q = store.db.execute
        total = q("SELECT count(*) FROM events").fetchone()[0]
        recipient = q("SELECT recipient FROM events WHERE type = 'success' ORDER BY id DESC LIMIT 1 OFFSET 1000"
                      ).fetchone()[0]
        sender = q("SELECT email FROM events WHERE email != '' ORDER BY id LIMIT 1 OFFSET 5000").fetchone()[0]
        domain = recipient.rpartition("@")[2]
        newest = q("SELECT max(actionunixtime) FROM events").fetchone()[0]
        msgid = q("SELECT msgid FROM events WHERE type = 'failure' ORDER BY id LIMIT 1 OFFSET 500").fetchone()[0]
        host = q("SELECT host FROM events WHERE host != '' ORDER BY id LIMIT 1 OFFSET 5000").fetchone()[0]
        queries = [
            ("everything, newest first", SearchFilter()),
            ("recipient or sender, exact", SearchFilter(address=recipient)),
            ("recipient, begins with", SearchFilter(recipient=recipient[:4], match="begins")),
            ("sender, exact", SearchFilter(sender=sender)),
            ("blocked & failed", SearchFilter(types=("failure", "rejected"))),
            ("last 24 hours", SearchFilter(since=newest - 86400)),
            ("account scope (1 domain)", SearchFilter(scope=Scope(domains=(domain,)))),
            ("account scope + address", SearchFilter(address=recipient, scope=Scope(domains=(domain,)))),
            ("mailbox scope", SearchFilter(scope=Scope(addresses=(recipient,)))),
            ("recipient or sender, contains (trigram index)", SearchFilter(address=domain.split(".")[0],
                                                                            match="contains")),
            ("one message and its bounces (show)", SearchFilter(msgid=msgid)),
            ("remote or client host, exact (no index)", SearchFilter(host=host)),
            ("sort by size", SearchFilter(sort="size")),
            ("text contains (full scan)", SearchFilter(text="mailbox full")),
        ]
        print(f"\n{total:,} events in {db} ({db.stat().st_size / 1e6:,.0f} MB)\n")
        print("| query | first page ms | rows | total |\n|---|---|---|---|")
        for name, f in queries:
            ms, page, matched = timed(store.db, f)
            print(f"| {name} | {ms:.1f} | {page} | {matched:,} |")
        store.close()


if __name__ == "__main__":
    main()
