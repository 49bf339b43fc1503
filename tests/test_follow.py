"""Following live logs: new lines, partial lines, every kind of rotation, restarts and kill -9."""

from __future__ import annotations

import gzip
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO
from test_ingest import message_lines

from trackdelivery.follow import Follower
from trackdelivery.ingest import ingest_files
from trackdelivery.store.sqlite import Store


def snapshot(db: Path) -> list:
    """Everything a user could see, in a stable order (ids may differ between runs)."""
    with Store(db) as store:
        events = store.db.execute(
            "SELECT type, msgid, email, recipient, actionunixtime, message, attempt FROM events"
            " ORDER BY msgid, type, recipient, actionunixtime"
        ).fetchall()
        messages = [(msgid, state, store.raw_lines(i))
                    for i, msgid, state in store.db.execute("SELECT id, msgid, state FROM messages ORDER BY msgid")]
    return [events, messages]


def reference(tmp_path: Path, lines: list[str]) -> list:
    log = tmp_path / "all-lines.log"
    log.write_text("".join(line + "\n" for line in lines))
    db = tmp_path / "reference.sqlite3"
    with Store(db) as store:
        ingest_files(store, [str(log)], server="test")
    return snapshot(db)


def append(path: Path, lines: list[str]) -> None:
    with path.open("a") as f:
        f.write("".join(line + "\n" for line in lines))


def deferred_then_delivered(i: int) -> list[str]:
    msgid = f"1tD{i % 1000:03d}-{i:011d}-DeFr"
    t = f"2026-11-16 12:{(i // 60) % 60:02d}:{i % 60:02d}"
    return [
        f"{t} {msgid} <= a{i}@example.net H=mx.example.net [192.0.2.1] P=esmtp S=10 for b{i}@example.com c{i}@example.com",
        f"{t} {msgid} == b{i}@example.com R=dnslookup T=remote_smtp defer (-44) H=mx [203.0.113.1]: "
        f"SMTP error from remote mail server after RCPT TO:<b{i}@example.com>: 451 4.7.1 Greylisted",
        f"{t} {msgid} => c{i} <c{i}@example.com> R=localuser T=local_delivery",
    ]


def finish(i: int) -> list[str]:
    msgid = f"1tD{i % 1000:03d}-{i:011d}-DeFr"
    t = f"2026-11-16 13:{(i // 60) % 60:02d}:{i % 60:02d}"
    return [f"{t} {msgid} => b{i}@example.com R=dnslookup T=remote_smtp H=mx [203.0.113.1] C=\"250 OK\"",
            f"{t} {msgid} Completed"]


def test_new_lines_are_read_and_a_partial_line_waits(tmp_path: Path, db_path: Path) -> None:
    log = tmp_path / "exim_mainlog"
    lines = deferred_then_delivered(1)
    log.write_text(lines[0] + "\n" + lines[1][:30])
    with Store(db_path) as store:
        follower = Follower(store, [str(log)], server="test")
        assert follower.poll() == 1
        with log.open("a") as f:
            f.write(lines[1][30:] + "\n" + lines[2] + "\n")
        assert follower.poll() == 2
        append(log, finish(1))
        assert follower.poll() == 2
        follower.close()
    assert snapshot(db_path) == reference(tmp_path, lines + finish(1))


def test_rotation_by_rename_then_compression_loses_nothing(tmp_path: Path, db_path: Path) -> None:
    log = tmp_path / "exim_mainlog"
    first, late, second = deferred_then_delivered(1), ["2026-11-16 12:00:05 1tD001-00000000001-DeFr Frozen"], finish(1)
    append(log, first)
    with Store(db_path) as store:
        follower = Follower(store, [str(log)], server="test")
        follower.poll()
        os.rename(log, tmp_path / "exim_mainlog.1")
        append(tmp_path / "exim_mainlog.1", late)  # the server wrote once more before reopening
        append(log, second)
        follower.poll()
        follower.poll()
        with open(tmp_path / "exim_mainlog.1", "rb") as f, gzip.open(tmp_path / "exim_mainlog.1.gz", "wb") as g:
            shutil.copyfileobj(f, g)
        os.unlink(tmp_path / "exim_mainlog.1")
        follower.poll()
        follower.close()
    assert snapshot(db_path) == reference(tmp_path, first + late + second)


def test_copytruncate_reads_the_tail_from_the_copy(tmp_path: Path, db_path: Path) -> None:
    log = tmp_path / "exim_mainlog"
    head, tail, after = deferred_then_delivered(1), deferred_then_delivered(2), finish(1) + finish(2)
    append(log, head)
    with Store(db_path) as store:
        follower = Follower(store, [str(log)], server="test")
        follower.poll()
        append(log, tail)  # written after our last read, then copied and truncated
        shutil.copyfile(log, tmp_path / "exim_mainlog.1")
        with log.open("r+") as f:
            f.truncate(0)
        append(log, after)
        follower.poll()
        follower.close()
    assert snapshot(db_path) == reference(tmp_path, head + tail + after)


def test_delete_and_recreate(tmp_path: Path, db_path: Path) -> None:
    log = tmp_path / "exim_mainlog"
    before, after = deferred_then_delivered(1), finish(1)
    append(log, before)
    with Store(db_path) as store:
        follower = Follower(store, [str(log)], server="test")
        follower.poll()
        log.unlink()
        follower.poll()
        append(log, after)
        follower.poll()
        follower.close()
    assert snapshot(db_path) == reference(tmp_path, before + after)


def test_restart_catches_up_on_rotations_while_down(tmp_path: Path, db_path: Path) -> None:
    log = tmp_path / "exim_mainlog"
    part1, part2, part3 = message_lines(5), message_lines(5, start=5), message_lines(5, start=10)
    append(log, part1)
    with Store(db_path) as store:
        follower = Follower(store, [str(log)], server="test")
        follower.poll()
        follower.close()
    # While we were down: more lines, a rotation with compression, and a new file.
    append(log, part2)
    with open(log, "rb") as f, gzip.open(tmp_path / "exim_mainlog.1.gz", "wb") as g:
        shutil.copyfileobj(f, g)
    log.unlink()
    append(log, part3)
    with Store(db_path) as store:
        follower = Follower(store, [str(log)], server="test")
        follower.catch_up()
        follower.poll()
        follower.close()
    assert snapshot(db_path) == reference(tmp_path, part1 + part2 + part3)


def test_many_rotations_both_ways_while_writing(tmp_path: Path, db_path: Path) -> None:
    """A writer that rotates by rename and by copytruncate many times; the result equals one ingest."""
    rng = random.Random(4)
    log = tmp_path / "exim_mainlog"
    written: list[str] = []
    log.touch()
    with Store(db_path) as store:
        follower = Follower(store, [str(log)], server="test")
        for i in range(60):
            chunk = deferred_then_delivered(i)
            if i >= 3:
                chunk += finish(i - 3)
            for line in chunk:
                append(log, [line])
                written.append(line)
                if rng.random() < 0.3:
                    follower.poll()
            if i % 6 == 2:
                rotated = tmp_path / f"exim_mainlog.{i}"
                os.rename(log, rotated)
                log.touch()
            elif i % 6 == 5:
                shutil.copyfile(log, tmp_path / f"exim_mainlog.{i}")
                with log.open("r+") as f:
                    f.truncate(0)
        for _ in range(3):
            follower.poll()
        time.sleep(2.1)  # let renamed files go quiet
        follower.poll()
        follower.close()
    assert snapshot(db_path) == reference(tmp_path, written)


def test_sigkill_at_random_moments_changes_nothing(tmp_path: Path) -> None:
    """At least 20 kill -9 of a real follower process while the log grows and rotates."""
    rng = random.Random(20)
    log = tmp_path / "exim_mainlog"
    db = tmp_path / "killed.sqlite3"
    written: list[str] = []
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, "-m", "trackdelivery", "--db", str(db), "follow", "--server", "test",
           "--poll", "0.05", str(log)]
    log.touch()
    kills = 0
    n = 0
    for round_ in range(22):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + rng.uniform(0.3, 1.2)
        while time.monotonic() < deadline:
            batch = message_lines(40, start=n) + deferred_then_delivered(n)
            n += 40
            append(log, batch)
            written += batch
            time.sleep(0.02)
        if round_ % 7 == 3:
            os.rename(log, tmp_path / f"exim_mainlog.{round_}")
            log.touch()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
    # A last, uninterrupted run to the end.
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(4)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert kills >= 20
    assert snapshot(db) == reference(tmp_path, written)


def test_a_file_that_shrinks_in_place_is_not_read_twice(tmp_path: Path, db_path: Path) -> None:
    log = tmp_path / "exim_mainlog"
    lines = message_lines(6)
    append(log, lines)
    with Store(db_path) as store:
        follower = Follower(store, [str(log)], server="test")
        follower.poll()
        text = log.read_text()
        log.write_text(text[: len(text) // 2].rsplit("\n", 1)[0] + "\n")  # cut in place, no copy
        follower.poll()
        more = message_lines(2, start=50)
        append(log, more)
        follower.poll()
        follower.close()
        assert follower.shrunk == 1
    assert snapshot(db_path) == reference(tmp_path, lines + more)


def test_clock_jumping_backwards_keeps_every_event(tmp_path: Path, db_path: Path) -> None:
    log = tmp_path / "exim_mainlog"
    later = message_lines(3, start=7200, day="2026-11-16")
    earlier = message_lines(3, start=10, day="2026-11-16")  # the clock was set back two hours
    append(log, later + earlier)
    with Store(db_path) as store:
        follower = Follower(store, [str(log)], server="test")
        follower.poll()
        follower.close()
    assert snapshot(db_path) == reference(tmp_path, later + earlier)
    assert len(snapshot(db_path)[0]) == 6


def test_retention_purges_old_events_once_a_day(tmp_path: Path, db_path: Path) -> None:
    log = tmp_path / "exim_mainlog"
    append(log, message_lines(3, day="2020-01-01") + message_lines(2, start=100, day=time.strftime("%Y-%m-%d")))
    with Store(db_path) as store:
        follower = Follower(store, [str(log)], server="test", retention_days=30)
        follower.poll()
        follower._maybe_purge()
        kept = store.db.execute("SELECT count(*) FROM events").fetchone()[0]
        append(log, message_lines(1, start=200, day="2020-01-02"))
        follower.poll()
        follower._maybe_purge()  # within the same day: no second purge
        after = store.db.execute("SELECT count(*) FROM events").fetchone()[0]
        follower.close()
    assert kept == 2
    assert after == 3


def test_status_shows_files_offsets_and_lag(tmp_path: Path, cli) -> None:
    import json

    log = tmp_path / "exim_mainlog"
    append(log, message_lines(2) + ["garbage line"])
    cli("ingest", str(log))
    append(log, message_lines(1, start=9))
    status = json.loads(cli("status", "--format", "json").stdout)
    [entry] = status["files"]
    assert entry["path"] == str(log)
    assert entry["lines"] == 7 and entry["unparsed"] == 1
    assert entry["lag_bytes"] == len("".join(line + "\n" for line in message_lines(1, start=9)))
    assert "bytes behind" in cli("status").stdout


def test_a_first_start_on_a_large_log_reads_it_in_bulk(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from trackdelivery import ingest

    lines = message_lines(100)  # 100 messages, 300 lines
    log = tmp_path / "exim_mainlog"
    log.write_text("\n".join(lines) + "\n")
    deferred: list[str] = []
    defer = Store.defer_indexes
    monkeypatch.setattr(Store, "defer_indexes", lambda store: (deferred.append(store.path.name), defer(store))[1])
    databases = {}
    for name, threshold in (("bulk", 1), ("kept", 1 << 40)):  # BULK_MIN_BYTES: this log is large, or not
        monkeypatch.setattr(ingest, "BULK_MIN_BYTES", threshold)
        databases[name] = db = tmp_path / f"{name}.sqlite3"
        with Store(db) as store:
            follower = Follower(store, [str(log)], server="test")
            assert follower.read_backlog() == len(lines)
            assert not store.indexes_deferred()
            follower.close()
    assert deferred == ["bulk.sqlite3"]
    rows = {}
    for name, db in databases.items():
        with Store(db) as store:
            rows[name] = store.db.execute("SELECT * FROM events ORDER BY id").fetchall()
            indexes = store.db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'index' "
                                       "AND tbl_name = 'events'").fetchone()[0]
        assert indexes == 10
    assert len(rows["bulk"]) == 100 and rows["bulk"] == rows["kept"]
