"""Follow latency: how long after a line is appended to the log it is visible to a search.

Starts `trackdelivery follow` on a fresh log, appends one message arrival at a time (at a steady
rate), and polls the database the way the web page does (search by msgid through search.py) until each
one is visible. Prints p50 / p95 / p99 / max in milliseconds.

    python bench/latency.py [--count 300] [--interval 0.05]
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

from trackdelivery.search import SearchFilter, count  # noqa: E402
from trackdelivery.store.sqlite import Store  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=300, help="lines to append and time (default 300)")
    ap.add_argument("--interval", type=float, default=0.05, help="seconds between appends (default 0.05)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log, db = Path(tmp, "exim_mainlog"), Path(tmp, "db.sqlite3")
        log.touch()
        Store(db).close()
        env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
        proc = subprocess.Popen([sys.executable, "-m", "trackdelivery", "--db", str(db), "follow", str(log)],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(1.0)
            reader = Store(db, readonly=True)
            latencies = []
            for i in range(args.count):
                msgid = f"1tLat{i % 10}-{i:011d}-LaTe"
                stamp = time.strftime("%Y-%m-%d %H:%M:%S")
                line = (f"{stamp} {msgid} <= a{i}@example.net H=mx.example.net [192.0.2.1] P=esmtp S=10 "
                        f"for b{i}@example.com\n")
                written = time.perf_counter()
                with log.open("a") as f:
                    f.write(line)
                while count(reader.db, SearchFilter(msgid=msgid)) == 0:
                    if time.perf_counter() - written > 10:
                        raise SystemExit(f"line {i} not visible after 10 s")
                    time.sleep(0.005)
                latencies.append((time.perf_counter() - written) * 1000)
                time.sleep(args.interval)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    print(f"| lines | p50 ms | p95 ms | p99 ms | max ms |\n|---|---|---|---|---|\n"
          f"| {len(latencies)} | {q[49]:.0f} | {q[94]:.0f} | {q[98]:.0f} | {latencies[-1]:.0f} |")


if __name__ == "__main__":
    main()
