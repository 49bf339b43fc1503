"""eximstats (Debian's exim4-base) as an independent oracle: our counts must agree with its summary.

Definitional differences, each handled explicitly below:
- eximstats 4.96 reads message ids at a fixed 16-character width, so it cannot see lines with the
  23-character ids of Exim >= 4.97. The test feeds both tools the same copy of the log with every
  23-character id shortened to a unique 16-character one.
- eximstats ignores `*>` (delivery suppressed by -N) and `>>` (cutthrough) lines; we record them as
  filtered / success events, so those lines are subtracted from our delivered addresses.
- An ACL discard (`=> blackhole (DATA ACL discarded recipients)`) is one line for eximstats and one
  filtered event per recipient for us.
- "Failed" and "Delayed" in eximstats count message ids with at least one `**` / `==` line whose
  arrival was seen; our failures from `cancelled by` / `removed by` are not `**` lines. These two are
  compared on generated logs where ids are unique (the Exim test suite reuses ids).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from trackdelivery.ingest import ingest_files
from trackdelivery.store.sqlite import Store

LONG_ID = re.compile(rb"\b([0-9A-Za-z]{6})-[0-9A-Za-z]{5}([0-9A-Za-z]{6})-[0-9A-Za-z]{2}([0-9A-Za-z]{2})\b")
RECEIVED = re.compile(r"^\s*Received\s+\S+\s+(\d+)\s+\S+\s+(\d+)\s+\S+\s+(\d+)", re.M)
DELIVERED = re.compile(r"^\s*Delivered\s+\S+\s+(\d+)\s+(\d+)", re.M)


def eximstats(log: Path) -> dict[str, int]:
    exe = shutil.which("eximstats") or "/usr/sbin/eximstats"
    if not Path(exe).exists():
        pytest.fail("eximstats is missing: install Debian's exim4-base (make test does this as root).")
    out = subprocess.run([exe, "-nr", "-t0", "-txt", str(log)], capture_output=True, text=True, check=True).stdout
    received, delivered = RECEIVED.search(out), DELIVERED.search(out)
    assert received and delivered, out[:2000]
    return {
        "received": int(received.group(1)),
        "delayed": int(received.group(2)),
        "failed": int(received.group(3)),
        "delivered_messages": int(delivered.group(1)),
        "delivered_addresses": int(delivered.group(2)),
    }


def short_ids(source: Path, target: Path) -> Path:
    target.write_bytes(LONG_ID.sub(rb"\1-\2-\3", source.read_bytes()))
    return target


def ours(log: Path, db: Path) -> dict[str, int]:
    with Store(db) as store:
        ingest_files(store, [str(log)], server="oracle")
        q = store.db.execute
        received = q("SELECT count(*) FROM messages WHERE sendunixtime IS NOT NULL").fetchone()[0]
        delivered = q("SELECT count(*) FROM events WHERE type IN ('success', 'filtered', 'archive')"
                      " AND message NOT LIKE 'Discarded by the %'").fetchone()[0]
        delivered += q("SELECT count(DISTINCT message_ref) FROM events WHERE message LIKE 'Discarded by the %'"
                       ).fetchone()[0]
        failed = q(
            "SELECT count(DISTINCT e.message_ref) FROM events e JOIN messages m ON m.id = e.message_ref"
            " WHERE e.type = 'failure' AND m.sendunixtime IS NOT NULL"
            " AND e.message NOT LIKE 'cancelled by%' AND e.message NOT LIKE 'removed by%'"
        ).fetchone()[0]
        delayed = q(
            "SELECT count(DISTINCT e.message_ref) FROM events e JOIN messages m ON m.id = e.message_ref"
            " WHERE e.type = 'defer' AND m.sendunixtime IS NOT NULL"
        ).fetchone()[0]
    return {"received": received, "delivered": delivered, "failed": failed, "delayed": delayed}


def suppressed_delivery_lines(log: Path) -> int:
    """`*>` and `>>` lines: deliveries to us, invisible to eximstats."""
    pattern = re.compile(rb"^\S+ \S+ (?:\[\d+\] )?\S+ (?:\*>|>>) ", re.M)
    return len(pattern.findall(log.read_bytes()))


def test_exim_testsuite_received_and_delivered_agree(corpora: Path, tmp_path: Path) -> None:
    log = short_ids(corpora / "exim" / "exim-testsuite" / "ALL-mainlog-concatenated.log", tmp_path / "mainlog")
    theirs = eximstats(log)
    mine = ours(log, tmp_path / "db.sqlite3")
    assert theirs["received"] > 3000
    assert mine["received"] == theirs["received"]
    assert mine["delivered"] - suppressed_delivery_lines(log) == theirs["delivered_addresses"]


@pytest.mark.parametrize("name", ["exim-mainlog-2016-04-28", "extracted-from-specs.log"])
def test_alaveteli_logs_agree(corpora: Path, tmp_path: Path, name: str) -> None:
    log = corpora / "exim" / "alaveteli" / name
    theirs = eximstats(log)
    mine = ours(log, tmp_path / "db.sqlite3")
    assert mine["received"] == theirs["received"]
    assert mine["delivered"] - suppressed_delivery_lines(log) == theirs["delivered_addresses"]
    assert mine["failed"] == theirs["failed"]


def test_generated_busy_server_log_agrees_on_every_total(tmp_path: Path) -> None:
    log = tmp_path / "exim_mainlog"
    subprocess.run(
        [sys.executable, str(REPO / "bench" / "gen_exim.py"), "--lines", "60000", "--seed", "7",
         "--id-form", "old", "--out", str(log)],
        check=True, capture_output=True,
    )
    theirs = eximstats(log)
    mine = ours(log, tmp_path / "db.sqlite3")
    assert theirs["received"] > 5000 and theirs["failed"] > 50 and theirs["delayed"] > 200
    assert mine["received"] == theirs["received"]
    assert mine["delivered"] - suppressed_delivery_lines(log) == theirs["delivered_addresses"]
    assert mine["failed"] == theirs["failed"]
    assert mine["delayed"] == theirs["delayed"]
