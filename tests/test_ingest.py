"""Ingest: idempotent checkpoints, rotated and compressed sets, bad input, resuming after kill -9."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, write_log

from trackdelivery.ingest import ingest_files
from trackdelivery.store.sqlite import Store


def message_lines(n: int, start: int = 0, day: str = "2026-11-16") -> list[str]:
    """n complete messages (arrival, delivery, Completed) with distinct 23-char ids."""
    lines = []
    for i in range(start, start + n):
        msgid = f"1tX{i % 1000:03d}-{i:011d}-AbCd"
        hh, mm, ss = (i // 3600) % 24, (i // 60) % 60, i % 60
        t = f"{day} {hh:02d}:{mm:02d}:{ss:02d}"
        lines += [
            f"{t} {msgid} <= s{i}@example.net H=mx.example.net [192.0.2.1] P=esmtp S={100 + i} for r{i}@example.com",
            f"{t} {msgid} => r{i} <r{i}@example.com> R=localuser T=local_delivery",
            f"{t} {msgid} Completed",
        ]
    return lines


def counts(db: Path) -> dict:
    with Store(db) as store:
        events = store.db.execute("SELECT type, count(*) FROM events GROUP BY type").fetchall()
        messages = store.db.execute("SELECT count(*) FROM messages").fetchone()[0]
    return {"events": dict(events), "messages": messages}


def test_reingesting_a_file_adds_nothing(tmp_path: Path, db_path: Path) -> None:
    log = write_log(tmp_path / "exim_mainlog", message_lines(50))
    with Store(db_path) as store:
        first = ingest_files(store, [str(log)])
        second = ingest_files(store, [str(log)])
    assert first.lines == 150 and first.events == {"success": 50}
    assert second.lines == 0 and second.events == {}
    assert counts(db_path) == {"events": {"success": 50}, "messages": 50}


def test_appended_lines_are_read_from_the_checkpoint(tmp_path: Path, db_path: Path) -> None:
    log = write_log(tmp_path / "exim_mainlog", message_lines(10))
    with Store(db_path) as store:
        ingest_files(store, [str(log)])
        with log.open("a") as f:
            f.write("\n".join(message_lines(5, start=10)) + "\n")
        again = ingest_files(store, [str(log)])
    assert again.lines == 15
    assert counts(db_path)["events"] == {"success": 15}


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress], ids=["gz", "bz2", "xz"])
def test_rotated_compressed_copy_continues_where_it_stopped(tmp_path: Path, db_path: Path, compress) -> None:
    lines = message_lines(40)
    log = write_log(tmp_path / "exim_mainlog", lines[:60])
    with Store(db_path) as store:
        ingest_files(store, [str(log)])
        # The server wrote more, then logrotate renamed and compressed the file; a new file started.
        full = ("\n".join(lines) + "\n").encode()
        (tmp_path / "exim_mainlog.1.x").write_bytes(compress(full))
        log.unlink()
        new = write_log(tmp_path / "exim_mainlog", message_lines(5, start=100, day="2026-11-17"))
        summary = ingest_files(store, [str(new), str(tmp_path / "exim_mainlog.1.x")])
    assert summary.lines == 60 + 15
    assert counts(db_path) == {"events": {"success": 45}, "messages": 45}


def test_rotated_set_is_read_oldest_first_whatever_the_argument_order(tmp_path: Path, db_path: Path) -> None:
    msgid = "1tZZZZ-00000000001-AbCd"
    older = tmp_path / "exim_mainlog-20261116.gz"
    older.write_bytes(gzip.compress(
        f"2026-11-16 23:59:59 {msgid} <= a@example.net H=[192.0.2.1] P=esmtp S=1 for b@example.com\n".encode()))
    newer = write_log(tmp_path / "exim_mainlog", [
        f"2026-11-17 00:00:05 {msgid} == b@example.com R=dnslookup T=remote_smtp defer (-44) H=mx [203.0.113.1]: "
        "SMTP error from remote mail server after RCPT TO:<b@example.com>: 451 4.7.1 Greylisted, try later",
    ])
    with Store(db_path) as store:
        ingest_files(store, [str(newer), str(older)])
        rows = store.db.execute("SELECT type, email, attempt FROM events ORDER BY id").fetchall()
    assert rows == [("inprogress", "a@example.net", None), ("defer", "a@example.net", 1)]


def test_partial_last_line_waits_for_its_newline(tmp_path: Path, db_path: Path) -> None:
    lines = message_lines(2)
    log = tmp_path / "exim_mainlog"
    text = "\n".join(lines)
    log.write_text(text[:-4])  # "Completed" cut short, no newline
    with Store(db_path) as store:
        first = ingest_files(store, [str(log)])
        assert first.held_partial == 1 and first.lines == 5
        log.write_text(text + "\n")
        second = ingest_files(store, [str(log)])
        assert second.lines == 1
        state = store.db.execute("SELECT state FROM messages ORDER BY id").fetchall()
    assert state == [("completed",), ("completed",)]


def test_garbage_bytes_invalid_utf8_and_huge_lines_are_counted_not_fatal(tmp_path: Path, db_path: Path) -> None:
    good = message_lines(3)
    blob = (
        good[0].encode() + b"\n"
        + b"\x00\x01\x02\xff\xfe garbage \x80\x81\n"
        + b"2026-11-16 00:00:00 H=(\xff\xfe\xc3) [192.0.2.5] F=<x@example.net> rejected RCPT <y@example.com>: "
          b"relay not permitted\n"
        + b"A" * (2 * 1024 * 1024) + b"\n"
        + "\n".join(good[1:]).encode() + b"\n"
    )
    log = tmp_path / "exim_mainlog"
    log.write_bytes(blob)
    with Store(db_path) as store:
        summary = ingest_files(store, [str(log)])
        rejected = store.db.execute("SELECT senderhost, recipient FROM events WHERE type='rejected'").fetchone()
    assert summary.lines == 12
    assert summary.unparsed == 2
    assert summary.oversize == 1
    assert summary.events == {"success": 3, "rejected": 1}
    assert rejected == ("\ufffd\ufffd\ufffd", "y@example.com")


@pytest.mark.parametrize("pure", [False, True], ids=["compiled", "pure-python"])
def test_numbers_too_large_or_not_ascii_are_left_out_not_fatal(
    tmp_path: Path, db_path: Path, pure: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hostile S=, QT=, spam score or Postfix size= once stopped the whole ingest with OverflowError."""
    if pure:
        monkeypatch.setenv("TRACKDELIVERY_PURE_PYTHON", "1")
    huge = "9" * 30
    exim_lines = [
        f"2026-11-16 10:00:00 1tBig1-00000000001-AAAA <= a@example.net H=[192.0.2.1] P=esmtp S={huge} for b@example.com",
        '2026-11-16 10:00:00 1tBig1-00000000001-AAAA Warning: "SpamAssassin as x detected message as spam '
        f'({"1" * 400}.0)"',
        f"2026-11-16 10:00:01 1tBig1-00000000001-AAAA => b@example.com R=r T=t QT={huge}s DT=1s",
        "2026-11-16 10:00:01 1tBig1-00000000001-AAAA Completed",
        "2026-11-16 10:00:02 1tBig2-00000000002-AAAA <= a@example.net P=esmtp S=\u00b2\u00b3 for c@example.com",
        f"2026-11-16 10:00:03 1tBig2-00000000002-AAAA => c@example.com R=r T=t QT={'9' * 5000}s",
        "2026-11-16 10:00:03 1tBig2-00000000002-AAAA Completed",
    ]
    postfix_lines = [
        "Nov 16 10:00:00 mx postfix/smtpd[1]: 4F5C64474F: client=mx.example.net[192.0.2.7]",
        f"Nov 16 10:00:00 mx postfix/qmgr[2]: 4F5C64474F: from=<a@example.net>, size={'7' * 5000}, nrcpt=1 (queue active)",
        "Nov 16 10:00:01 mx postfix/smtp[3]: 4F5C64474F: to=<b@example.org>, relay=mx.example.org[192.0.2.9]:25, "
        f"delay={huge}, delays=0/0/0/0, dsn=2.0.0, status=sent (250 2.0.0 Ok)",
        "Nov 16 10:00:01 mx postfix/qmgr[2]: 4F5C64474F: removed",
    ]
    exim_log = write_log(tmp_path / "exim_mainlog", exim_lines)
    postfix_log = write_log(tmp_path / "maillog", postfix_lines)
    with Store(db_path) as store:
        summary = ingest_files(store, [str(exim_log), str(postfix_log)])
        rows = store.db.execute(
            "SELECT msgid, size, spamscore, queue_time FROM event_records WHERE type = 'success' ORDER BY msgid"
        ).fetchall()
    assert summary.errors == []
    assert summary.events == {"success": 3}
    # the time in the queue then comes from the lines' times
    assert rows == [("1tBig1-00000000001-AAAA", None, None, 1), ("1tBig2-00000000002-AAAA", None, None, 1),
                    ("4F5C64474F", None, None, 1)]  # fmt: skip


def test_unreadable_file_is_reported_and_others_still_ingested(tmp_path: Path, db_path: Path) -> None:
    good = write_log(tmp_path / "exim_mainlog", message_lines(2))
    broken = tmp_path / "exim_mainlog.2.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00garbage-not-gzip")
    with Store(db_path) as store:
        summary = ingest_files(store, [str(broken), str(good)])
    assert summary.events == {"success": 2}
    assert len(summary.errors) == 1 and "exim_mainlog.2.gz" in summary.errors[0]


def _snapshot(db: Path) -> list:
    with Store(db) as store:
        events = store.db.execute(
            "SELECT type, msgid, email, recipient, actionunixtime, message FROM events ORDER BY msgid, type, recipient"
        ).fetchall()
        messages = [(msgid, state, store.raw_lines(i))
                    for i, msgid, state in store.db.execute("SELECT id, msgid, state FROM messages ORDER BY msgid")]
    return [events, messages]


def test_kill_9_during_ingest_then_restart_gives_the_same_database(tmp_path: Path) -> None:
    lines = message_lines(20000)
    # A defer in the middle whose message completes much later: state must survive the kill.
    log = write_log(tmp_path / "exim_mainlog", lines)
    reference = tmp_path / "reference.sqlite3"
    killed = tmp_path / "killed.sqlite3"
    with Store(reference) as store:
        ingest_files(store, [str(log)])
    cmd = [sys.executable, "-m", "trackdelivery", "--db", str(killed), "ingest", "--no-progress", str(log)]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    kills = 0
    for delay in (0.4, 0.7, 1.0):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    assert kills >= 1, "ingest finished before it could be killed; make the log bigger"
    assert _snapshot(killed) == _snapshot(reference)


def test_cli_ingest_prints_a_summary(tmp_path: Path, cli) -> None:
    log = write_log(tmp_path / "exim_mainlog", message_lines(3) + ["not a log line"])
    out = cli("ingest", str(log)).output
    assert "Read 10 lines from 1 file(s)" in out
    assert "1 not understood" in out
    assert "success 3" in out


def test_cli_ingest_missing_file_is_one_clear_sentence(tmp_path: Path, cli) -> None:
    result = cli("ingest", str(tmp_path / "nope.log"), expect=1)
    assert "No such log file" in result.output
    assert "Traceback" not in result.output


def test_stats_counts_lines_and_unparsed(tmp_path: Path, cli) -> None:
    log = write_log(tmp_path / "exim_mainlog", message_lines(4) + ["garbage", "more garbage"])
    cli("ingest", str(log))
    result = json.loads(cli("stats", "--format", "json").stdout)
    assert result["messages"] == 4
    assert result["events"]["success"] == 4
    assert (result["lines"], result["unparsed"]) == (14, 2)


def test_purge_deletes_old_events_and_messages(tmp_path: Path, cli) -> None:
    log = write_log(tmp_path / "exim_mainlog", message_lines(4))
    cli("ingest", str(log))
    out = cli("purge", "--older-than", "0").output
    assert "Deleted 4 events and 4 messages" in out
    assert json.loads(cli("stats", "--format", "json").stdout)["events"]["success"] == 0


def test_first_unparsed_line_is_logged_with_file_and_line_number(tmp_path: Path, db_path: Path, caplog) -> None:
    log = write_log(tmp_path / "exim_mainlog", message_lines(1) + ["??? not a log line", "another bad one"])
    with caplog.at_level("WARNING", logger="trackdelivery"), Store(db_path) as store:
        summary = ingest_files(store, [str(log)])
    assert summary.unparsed == 2
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert f"{log}:4: line not understood" in warnings[0]


def test_purge_gives_the_space_back(tmp_path: Path, db_path: Path) -> None:
    log = write_log(tmp_path / "exim_mainlog", message_lines(3000))
    with Store(db_path) as store:
        ingest_files(store, [str(log)])
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        full = db_path.stat().st_size
        store.purge(2**40)
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert store.db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
        assert store.db.execute("PRAGMA freelist_count").fetchone()[0] == 0
    assert db_path.stat().st_size < full / 4


# -- bulk ingest: the search indexes dropped first and built once at the end -------------------------

def _indexes(db: Path) -> list:
    with Store(db) as store:
        return store.db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('events', 'messages')"
            " ORDER BY name"
        ).fetchall()


def _rows(db: Path) -> list:
    with Store(db) as store:
        return store.db.execute("SELECT * FROM events ORDER BY id").fetchall()


def _address_search(db: Path, text: str) -> tuple[list, list]:
    """Ids of the events a *contains* search finds (through the trigram index), and the triggers."""
    from trackdelivery.search import SearchFilter, iter_rows

    with Store(db) as store:
        found = [i for i, _ in iter_rows(store.db, SearchFilter(address=text, match="contains", limit=0))]
        triggers = store.db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()
    return sorted(found), triggers


def test_bulk_ingest_stores_the_same_events_and_ends_with_every_index(
        tmp_path: Path, corpora: Path) -> None:
    logs = sorted(str(p) for p in (corpora / "exim").rglob("*") if p.is_file() and "mainlog" in p.name)
    assert logs, "no Exim main logs in the corpora"
    kept, bulk = tmp_path / "kept.sqlite3", tmp_path / "bulk.sqlite3"
    with Store(kept) as store:
        ingest_files(store, logs, server="mx", bulk=False)
    phases: list[str] = []
    with Store(bulk) as store:
        ingest_files(store, logs, server="mx", bulk=True, on_indexing=lambda: phases.append("indexing"))
        assert not store.indexes_deferred()
    assert phases == ["indexing"]
    rows = _rows(bulk)
    assert len(rows) > 1000 and rows == _rows(kept)
    assert _indexes(bulk) == _indexes(kept) and len(_indexes(bulk)) == 12  # 10 on events, 2 on messages
    found, triggers = _address_search(bulk, "test.ex")
    assert len(found) > 100 and (found, triggers) == _address_search(kept, "test.ex")
    assert triggers == [("addresses_trigrams",)]
    with Store(bulk) as store:  # the planner uses them again
        plan = store.db.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM events WHERE recipient = ? ORDER BY actionunixtime DESC", ("x",)
        ).fetchall()
    assert "events_recipient" in str(plan)


def test_bulk_is_chosen_only_when_the_ingest_at_least_doubles_a_large_store(
        tmp_path: Path, db_path: Path, monkeypatch) -> None:
    from trackdelivery import ingest

    log = write_log(tmp_path / "exim_mainlog", message_lines(300))  # ~ 46 KB, 300 events
    with Store(db_path) as store:
        assert not ingest.wants_bulk(store, [str(log)])  # below BULK_MIN_BYTES
        monkeypatch.setattr(ingest, "BULK_MIN_BYTES", 1)
        monkeypatch.setattr(ingest, "BYTES_PER_EVENT", 150)  # so this log "adds" about 300 events
        assert ingest.wants_bulk(store, [str(log)])  # an empty store
        ingest_files(store, [str(log)], bulk=False)
        assert not ingest.wants_bulk(store, [str(log)])  # all read already: nothing pending
        more = write_log(tmp_path / "other_mainlog", message_lines(100, start=1000))
        assert not ingest.wants_bulk(store, [str(more)])  # 100 new events into 300: keep the indexes
        big = write_log(tmp_path / "big_mainlog", message_lines(400, start=2000))
        assert ingest.wants_bulk(store, [str(big)])  # 400 new events into 300: bulk


def test_searches_stay_right_while_indexes_are_deferred_and_the_next_writer_builds_them(
        tmp_path: Path, db_path: Path, cli) -> None:
    from trackdelivery.follow import Follower

    log = write_log(tmp_path / "exim_mainlog", message_lines(40))
    with Store(db_path) as store:
        ingest_files(store, [str(log)])
        store.defer_indexes()  # what a bulk ingest killed before its end leaves behind
    assert _indexes(db_path) == []
    found = json.loads(cli("search", "--recipient", "r7@example.com", "--format", "json").output)
    assert [e["recipient"] for e in found] == ["r7@example.com"]
    assert "Search indexes: not built yet" in cli("status").output
    assert json.loads(cli("status", "--format", "json").output)["search_indexes"] is False
    with Store(db_path) as store:
        Follower(store, [str(log)])
        assert not store.indexes_deferred()
    assert len(_indexes(db_path)) == 12
    assert "Search indexes" not in cli("status").output
    assert json.loads(cli("status", "--format", "json").output)["search_indexes"] is True


def test_a_lookup_during_a_bulk_ingest_builds_the_msgid_index_first(tmp_path: Path, db_path: Path) -> None:
    """Messages' indexes and events' message_ref index are set aside with the search indexes, but a message
    looked up by its queue id must not read the whole messages table, nor its open events every event: the
    first lookup builds those two indexes, once."""
    log = write_log(tmp_path / "exim_mainlog", message_lines(30))
    lookups = ("EXPLAIN QUERY PLAN SELECT id FROM messages WHERE msgid = ?",
               "EXPLAIN QUERY PLAN SELECT id FROM events WHERE message_ref = ?")
    with Store(db_path) as store:
        ingest_files(store, [str(log)], bulk=False)
        store.defer_indexes()
        assert _indexes(db_path) == []
        plans = [str(store.db.execute(sql, ("x",)).fetchall()) for sql in lookups]
        assert "messages_msgid" not in plans[0] and "events_message" not in plans[1]  # now: read every row
        state = store.load_message("1tX007-00000000007-AbCd")
        assert state is not None and state.email == "s7@example.net" and len(state.raw) == 3
        assert [name for name, _ in _indexes(db_path)] == ["events_message", "messages_msgid"]
        plans = [str(store.db.execute(sql, ("x",)).fetchall()) for sql in lookups]
        assert "messages_msgid" in plans[0] and "events_message" in plans[1]
        assert store.load_message("1tX999-00000000999-AbCd") is None
        assert store.indexes_deferred()  # the search indexes still wait for the end of the ingest
        store.build_indexes()
    assert len(_indexes(db_path)) == 12


def test_an_ingest_checkpoints_from_a_thread_of_its_own_and_stops_it(
        tmp_path: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer leaves checkpoints (and their waits for the disk) to a thread while it ingests, and gets
    them back at the end, also when the ingest fails."""
    import threading

    from trackdelivery import ingest
    from trackdelivery.store import sqlite as store_module

    monkeypatch.setattr(ingest, "BATCH_LINES", 30)
    monkeypatch.setattr(store_module, "CHECKPOINT_BATCHES", 2)
    done: list[tuple[str, tuple[int, int, int]]] = []
    checkpoint = store_module._Checkpointer.checkpoint
    monkeypatch.setattr(store_module._Checkpointer, "checkpoint",
                        lambda self: done.append((threading.current_thread().name, checkpoint(self))))
    bounds: list[int] = []
    commit = Store.commit_batch

    def watched(self: Store, batch, cp) -> None:
        bounds.append(self.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
        commit(self, batch, cp)
        if len(bounds) == 7:
            time.sleep(0.2)  # let the thread have its turn (it has been woken three times)

    monkeypatch.setattr(Store, "commit_batch", watched)
    log = write_log(tmp_path / "exim_mainlog", message_lines(200))  # 600 lines: 20 batches
    with Store(db_path) as store:
        ingest_files(store, [str(log)])
        assert store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == store.wal_pages
    assert len(bounds) == 20 and set(bounds) == {4 * store.wal_pages}
    assert done and {name for name, _ in done} == {"trackdelivery-checkpoints"}
    assert any(copied > 0 for _, (_, _, copied) in done)  # it did move pages from the WAL into the database
    assert "trackdelivery-checkpoints" not in {t.name for t in threading.enumerate()}

    def failing(self: Store, batch, cp) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(Store, "commit_batch", failing)
    with Store(db_path) as store:
        with pytest.raises(sqlite3.OperationalError):
            ingest_files(store, [str(write_log(tmp_path / "other_mainlog", message_lines(20, start=500)))])
        assert store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == store.wal_pages
        assert "trackdelivery-checkpoints" not in {t.name for t in threading.enumerate()}


def _bulk_in_progress(db: Path) -> bool:
    """The ingest has dropped the indexes and committed events since (read as another process would)."""
    if not db.exists():
        return False
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            deferred = conn.execute("SELECT 1 FROM settings WHERE key = 'deferred_indexes'").fetchone()
            events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    except sqlite3.Error:
        return False  # not created yet
    return deferred is not None and events > 0


def test_kill_9_during_a_bulk_ingest_then_restart_gives_the_same_database(tmp_path: Path) -> None:
    log = write_log(tmp_path / "exim_mainlog", message_lines(20000))
    reference = tmp_path / "reference.sqlite3"
    killed = tmp_path / "killed.sqlite3"
    with Store(reference) as store:
        ingest_files(store, [str(log)], bulk=False)
    cmd = [sys.executable, "-m", "trackdelivery", "--db", str(killed), "ingest", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen(cmd + ["--bulk", "yes", str(log)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not _bulk_in_progress(killed) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "ingest finished before it could be killed; make the log bigger"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with Store(killed) as store:
        assert store.indexes_deferred()  # the kill left them out
        assert 0 < store.event_count_estimate() < 20000
    subprocess.run(cmd + ["--bulk", "no", str(log)], env=env, check=True, capture_output=True)
    assert _snapshot(killed) == _snapshot(reference)
    assert _indexes(killed) == _indexes(reference)
    assert _address_search(killed, "19999@exam") == _address_search(reference, "19999@exam")
    assert len(_address_search(killed, "19999@exam")[0]) == 1
    with Store(killed) as store:
        assert not store.indexes_deferred()
