"""The compiled executemany of the store's bulk INSERTs (store/_bulkc.c) against Python's own.

It must store exactly what ``sqlite3.Connection.executemany`` stores (every value type, every table of a
real ingest), in the same transaction of the same connection, and fail the way Python's sqlite3 fails.
"""

from __future__ import annotations

import math
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from trackdelivery.correlate import Batch, MessageState
from trackdelivery.ingest import ingest_files
from trackdelivery.record import DeliveryEvent
from trackdelivery.store import sqlite as store_module
from trackdelivery.store.sqlite import EVENT_ROWS, MESSAGE_ROWS, Store

REPO = Path(__file__).resolve().parent.parent
TABLES = ("messages", "message_raw", "message_raw_added", "events", "addresses", "files")


@pytest.fixture(scope="module")
def bulk():
    assert store_module.BULK is not None, (
        "the compiled executemany (trackdelivery.store._bulkc) is not built: pip install -e . needs a C "
        "compiler and the Python headers"
    )
    return store_module.BULK


@pytest.fixture
def conn(tmp_path: Path):
    db = sqlite3.connect(tmp_path / "t.sqlite3", isolation_level=None)
    db.execute("CREATE TABLE t (a, b, c)")
    yield db
    db.close()


VALUES = [
    ("", "plain ascii", "ünïcödé ✓ 😀"),
    (0, -1, 2**63 - 1),
    (-(2**63), 1.5, -0.0),
    (math.inf, 1e-300, None),
    (b"", b"\x00\xff bytes", "a\x00nul inside"),
    ("x" * 100_000, "\ufffd replacement", "line\nbreak"),
]


def test_the_store_uses_it_on_its_own_connection(bulk, tmp_path: Path) -> None:
    with Store(tmp_path / "db.sqlite3") as store:
        assert store._bulk is bulk
        assert bulk.filename(store.db) == str((tmp_path / "db.sqlite3").resolve())


def test_every_value_is_stored_as_pythons_executemany_stores_it(bulk, conn) -> None:
    conn.execute("CREATE TABLE p (a, b, c)")
    bulk.executemany(conn, "INSERT INTO t VALUES (?, ?, ?)", VALUES)
    conn.executemany("INSERT INTO p VALUES (?, ?, ?)", VALUES)
    query = "SELECT a, typeof(a), b, typeof(b), c, typeof(c) FROM {} ORDER BY rowid"
    ours, pythons = conn.execute(query.format("t")).fetchall(), conn.execute(query.format("p")).fetchall()
    assert ours == pythons
    assert len(ours) == len(VALUES) and ours[1][4:] == (2**63 - 1, "integer") and ours[3][5] == "null"


def test_sql_expressions_see_the_bound_values(bulk, conn) -> None:
    """The store binds '' for NULL and lets nullif() turn it back (the sentinel of _placeholder)."""
    bulk.executemany(conn, "INSERT INTO t VALUES (nullif(?, ''), upper(?), ? + 1)", [("", "ab", 41), ("x", "é", 1)])
    assert conn.execute("SELECT * FROM t ORDER BY rowid").fetchall() == [(None, "AB", 42), ("x", "é", 2)]


def test_it_writes_in_the_connections_own_transaction(bulk, conn, tmp_path: Path) -> None:
    other = sqlite3.connect(tmp_path / "t.sqlite3")
    conn.execute("BEGIN IMMEDIATE")
    bulk.executemany(conn, "INSERT INTO t VALUES (?, ?, ?)", [(1, 2, 3)])
    assert conn.in_transaction and conn.execute("SELECT count(*) FROM t").fetchone() == (1,)
    assert other.execute("SELECT count(*) FROM t").fetchone() == (0,)  # not committed yet
    conn.execute("ROLLBACK")
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
    bulk.executemany(conn, "INSERT INTO t VALUES (?, ?, ?)", [(4, 5, 6)])  # autocommit, as Python's
    assert other.execute("SELECT * FROM t").fetchall() == [(4, 5, 6)]
    other.close()


def test_a_failing_row_raises_pythons_sqlite3_error_and_keeps_the_rows_before_it(bulk, conn) -> None:
    conn.execute("CREATE UNIQUE INDEX t_a ON t(a)")
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE constraint failed") as caught:
        bulk.executemany(conn, "INSERT INTO t VALUES (?, ?, ?)", [(1, 0, 0), (2, 0, 0), (1, 0, 0), (3, 0, 0)])
    assert caught.value.sqlite_errorcode == 2067  # SQLITE_CONSTRAINT_UNIQUE, as Python's sqlite3 says
    assert conn.execute("SELECT a FROM t ORDER BY a").fetchall() == [(1,), (2,)]  # as Python's executemany
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        bulk.executemany(conn, "INSERT INTO missing VALUES (?)", [(1,)])
    with pytest.raises(sqlite3.OperationalError, match="syntax error"):
        bulk.executemany(conn, "INSERT INTO t VALUE (?, ?, ?)", [(1, 2, 3)])


def test_what_it_cannot_bind_is_refused_before_anything_is_written(bulk, conn) -> None:
    insert = "INSERT INTO t VALUES (?, ?, ?)"
    with pytest.raises(OverflowError):
        bulk.executemany(conn, insert, [(2**63, 0, 0)])
    with pytest.raises(TypeError, match="cannot bind a dict"):
        bulk.executemany(conn, insert, [(1, 2, {})])
    with pytest.raises(ValueError, match="row 1: a tuple of 3 values"):
        bulk.executemany(conn, insert, [(1, 2, 3), (1, 2)])
    with pytest.raises(ValueError, match="row 0: a tuple"):
        bulk.executemany(conn, insert, [[1, 2, 3]])
    with pytest.raises(UnicodeEncodeError):
        bulk.executemany(conn, insert, [(1, 2, "\ud800 lone surrogate")])
    with pytest.raises(ValueError, match="one SQL statement"):
        bulk.executemany(conn, "INSERT INTO t VALUES (?, ?, ?); DELETE FROM t", [(1, 2, 3)])
    with pytest.raises(TypeError):
        bulk.executemany(conn, insert, ((1, 2, 3),))  # a list of rows, not any iterable
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)  # only the first row of the third call
    with pytest.raises(TypeError, match="not a sqlite3.Connection"):
        bulk.executemany(object(), insert, [])
    conn.close()
    with pytest.raises(ValueError, match="closed"):
        bulk.executemany(conn, insert, [(1, 2, 3)])


def test_insert_binds_the_recipes_rows_and_stops_at_a_failing_one(bulk, conn) -> None:
    recipe = ((store_module.KEY, None, None), (store_module.FIELD, "msgid", None), (store_module.FIELD, "size", None))
    states = {7: MessageState(7, "a", size=10), 8: MessageState(8, "b", size=None), 9: MessageState(9, "c", size=3)}
    insert = "INSERT INTO t VALUES (?, ?, ?)"
    bulk.insert(conn, insert, states, MessageState, recipe, {}, {}, {}, MessageState)
    assert conn.execute("SELECT * FROM t ORDER BY a").fetchall() == [(7, "a", 10), (8, "b", None), (9, "c", 3)]
    assert bulk.rows(states, MessageState, recipe, {}, {}, {}, MessageState) == [(7, "a", 10), (8, "b", None), (9, "c", 3)]
    conn.execute("DELETE FROM t")
    conn.execute("CREATE UNIQUE INDEX t_c ON t(c)")
    states[9].size = 10  # the same c as the first row
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE constraint failed"):
        bulk.insert(conn, insert, states, MessageState, recipe, {}, {}, {}, MessageState)
    assert conn.execute("SELECT a FROM t ORDER BY a").fetchall() == [(7,), (8,)]  # as executemany
    with pytest.raises(ValueError, match="takes 3 values, the recipe makes 2"):
        bulk.insert(conn, insert, states, MessageState, recipe[:2], {}, {}, {}, MessageState)
    with pytest.raises(TypeError, match="not a"):
        bulk.insert(conn, insert, {1: DeliveryEvent("success")}, MessageState, recipe, {}, {}, {}, MessageState)
    with pytest.raises(TypeError, match="cannot bind a list"):
        bulk.insert(conn, insert, states, MessageState, recipe[:2] + ((store_module.FIELD, "raw", None),), {}, {}, {},
                    MessageState)


def test_a_value_bound_for_the_row_before_is_kept_not_bound_again(bulk, conn) -> None:
    """Most of a row is the very object of the row before ("", None, a type, a second): it is not bound
    again (a statement keeps its bindings). What changes, also to an equal object or back, is bound."""
    shared, text = "ünïcödé ✓", "plain"
    fresh = "".join(["pla", "in"])  # equal to text, another object
    rows = [(shared, None, 7), (shared, None, 7), (text, None, 8), (fresh, 2**40, 8), (shared, None, 7)]
    rows += [("".join(["x", str(n)]), None, n) for n in range(3)]  # new objects, dropped as soon as bound
    bulk.executemany(conn, "INSERT INTO t VALUES (?, ?, ?)", rows)
    assert conn.execute("SELECT * FROM t ORDER BY rowid").fetchall() == [tuple(row) for row in rows]
    conn.execute("DELETE FROM t")
    states = {n: MessageState(n, "".join(["id", str(n % 2)]), size=None if n % 3 else n) for n in range(9)}
    recipe = ((store_module.KEY, None, None), (store_module.FIELD, "msgid", None), (store_module.FIELD, "size", None))
    bulk.insert(conn, "INSERT INTO t VALUES (?, ?, ?)", states, MessageState, recipe, {}, {}, {}, MessageState)
    assert conn.execute("SELECT * FROM t ORDER BY a").fetchall() == [(s.id, s.msgid, s.size) for s in states.values()]


def test_insert_raw_stores_the_python_references_rows_and_marks_them_stored(bulk, conn) -> None:
    """A message's log lines: the first write joins them all; a later one only those since; none when none
    are new. Non-ASCII lines, an empty list, and the errors: a line that is not a str, a failing row."""
    conn.execute("CREATE TABLE raw1 (id INTEGER PRIMARY KEY, raw TEXT)")
    conn.execute("CREATE TABLE raw2 (id INTEGER PRIMARY KEY, message_ref INTEGER, raw TEXT)")
    first, added = "INSERT INTO raw1 (id, raw) VALUES (?, ?)", "INSERT INTO raw2 (message_ref, raw) VALUES (?, ?)"
    states = {
        1: MessageState(1, "a", raw=["l1", "l2 ünïcödé ✓ 😀"]),
        2: MessageState(2, "b", raw=["old", "new 1", "new\\2"], raw_stored=1),
        3: MessageState(3, "c", raw=["all stored"], raw_stored=1),
        4: MessageState(4, "d", raw=[]),
        5: MessageState(5, "e", raw=["x", "y", "z"], raw_stored=2),
    }
    want_first, want_added = store_module.message_raw_rows(Batch(messages=states))
    bulk.insert_raw(conn, first, added, states, MessageState)
    assert conn.execute("SELECT id, raw FROM raw1 ORDER BY id").fetchall() == want_first
    assert conn.execute("SELECT message_ref, raw FROM raw2 ORDER BY id").fetchall() == want_added
    assert want_first == [(1, "l1\nl2 ünïcödé ✓ 😀"), (4, "")] and want_added == [(2, "new 1\nnew\\2"), (5, "z")]
    bulk.mark_raw_stored(states, MessageState)
    assert [state.raw_stored for state in states.values()] == [2, 3, 1, 0, 3]
    conn.execute("DELETE FROM raw1")
    states[4].raw_stored, states[6] = 0, MessageState(6, "f", raw=["ok"])
    states[1].raw_stored = states[5].raw_stored = 0
    states[5].raw = ["x", 5]  # type: ignore[list-item]
    with pytest.raises(TypeError, match="must be a str, not int"):
        bulk.insert_raw(conn, first, added, states, MessageState)
    assert conn.execute("SELECT id FROM raw1 ORDER BY id").fetchall() == [(1,), (4,)]  # the rows before it stay
    states[5].raw = ["x"]
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE constraint failed"):
        bulk.insert_raw(conn, first, added, states, MessageState)  # 1 is in raw1 already
    with pytest.raises(TypeError, match="not a"):
        bulk.insert_raw(conn, first, added, {1: DeliveryEvent("success")}, MessageState)
    with pytest.raises(TypeError):
        bulk.mark_raw_stored({1: DeliveryEvent("success")}, MessageState)


def _tables(db: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(db)
    try:
        tables = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in TABLES[:-1]}  # noqa: S608
        tables["files"] = conn.execute("SELECT path, head_hash, offset, lines, unparsed, duplicates, format FROM files"
                                       " ORDER BY id").fetchall()  # not "updated": the clock
        return tables
    finally:
        conn.close()


def _typed(rows: list[tuple]) -> list[tuple]:
    """Rows with each value's type: '' and None, 1 and 1.0 are different rows to the database."""
    return [tuple((type(v).__name__, v) for v in row) for row in rows]


def _c_rows(bulk, batch: Batch, rows) -> list[tuple]:
    items = batch.events if rows is EVENT_ROWS else batch.messages
    return bulk.rows(items, rows.item_type, rows.recipe, batch.event_message, batch.event_raw, batch.messages,
                     MessageState)


def test_rows_follow_the_recipe_for_every_kind_of_value(bulk) -> None:
    state = MessageState(7, "1tA000-00000000001-AAAA", server="mx1", senderhost="mx.example.net",
                         senderip="192.0.2.1", tls="TLS1.3", raw=["line one", "line \u00e9 two"], size=None,
                         spamscore=2.5, sendunixtime=1_700_000_000)
    same = DeliveryEvent("success", msgid=state.msgid, email="Alice@Example.NET", recipient="bob@ÉXAMPLE.Org",
                         senderhost="mx.example.net", senderip="192.0.2.1", tls="TLS1.2", server="mx1",
                         actionunixtime=1_700_000_005, queue_time=None, attempt=3, user="acct")
    orphan = DeliveryEvent("rejected", email="no-at-sign", recipient="x@y@İSTANBUL.example", senderhost="evil",
                           server="mx1", actionunixtime=None)
    other_message = DeliveryEvent("defer", recipient="c@d", senderhost="mx.example.net")
    batch = Batch(messages={7: state}, events={1: same, 2: orphan, 3: other_message},
                  event_message={1: 7, 2: None, 3: 99}, event_raw={2: "the rejected line"})
    for rows in (EVENT_ROWS, MESSAGE_ROWS):
        assert _typed(_c_rows(bulk, batch, rows)) == _typed(rows.python(batch))
    events = {row[0]: dict(zip(store_module.EVENT_COLUMNS, row, strict=True)) for row in _c_rows(bulk, batch, EVENT_ROWS)}
    assert (events[1]["senderhost"], events[1]["tls"], events[1]["server"]) == ("", "TLS1.2", "")  # own only
    assert events[3]["senderhost"] == "mx.example.net"  # its message is not in this batch: kept
    assert (events[1]["sender_domain"], events[1]["recipient_domain"]) == ("example.net", "éxample.org")
    assert (events[2]["sender_domain"], events[2]["recipient_domain"]) == ("", "İstanbul.example".lower())
    assert (events[2]["message_ref"], events[2]["raw"], events[1]["raw"]) == ("", "the rejected line", "")
    assert (events[1]["queue_time"], events[1]["attempt"], events[2]["actionunixtime"]) == ("", 3, "")
    with pytest.raises(TypeError, match="not a"):
        bulk.rows({1: state}, DeliveryEvent, EVENT_ROWS.recipe, {}, {}, {}, MessageState)
    with pytest.raises(TypeError, match="is not a slot"):
        bulk.rows({}, MessageState, ((1, "arrived", None),), {}, {}, {}, MessageState)  # a property


def test_new_addresses_are_the_python_references(bulk) -> None:
    events = {
        1: DeliveryEvent("success", email="Alice@Example.NET", recipient="BOB@example.org", deliveredto="bob@example.org"),
        2: DeliveryEvent("rejected", recipient="x@İSTANBUL.example", sender="Ünïcode@Example.de"),
        3: DeliveryEvent("defer", recipient="known@example.org", email=""),
    }
    batch = Batch(events=events)
    known = {"known@example.org"}
    got = bulk.new_addresses(batch.events, DeliveryEvent, store_module.ADDRESS_COLUMNS, known)
    assert got == store_module.new_addresses(batch, known)
    assert got == {"alice@example.net", "bob@example.org", "x@i̇stanbul.example", "ünïcode@example.de"}
    assert bulk.new_addresses({}, DeliveryEvent, store_module.ADDRESS_COLUMNS, set()) == set()
    with pytest.raises(TypeError, match="not a"):
        bulk.new_addresses({1: MessageState(1, "x")}, DeliveryEvent, store_module.ADDRESS_COLUMNS, set())


def _ingest(db: Path, logs: list[Path], compiled: bool, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[tuple]]:
    with monkeypatch.context() as patch:
        if not compiled:
            patch.setattr(store_module, "BULK", None)
        else:  # every batch's rows made in C must be the Python reference's, value for value and type
            insert = Store._insert

            def checked(self: Store, sql: str, batch: Batch, rows) -> None:
                assert _typed(_c_rows(store_module.BULK, batch, rows)) == _typed(rows.python(batch))
                insert(self, sql, batch, rows)

            patch.setattr(Store, "_insert", checked)
        with Store(db) as store:
            # an account owns the busiest domains: the owner columns hold names, not only "-remote-"
            store.db.execute("INSERT INTO users (id, name, role, created) VALUES (1, 'acct', 'account', 0)")
            store.db.executemany("INSERT INTO user_domains (user_id, domain) VALUES (1, ?)",
                                 [(d,) for d in ("example-provider.de", "mail.hosting-example.net", "example.com")])
            assert (store._bulk is not None) == compiled
            for log in logs:  # one file at a time: each file's own bulk decision, as separate ingests
                ingest_files(store, [str(log)], server="mx1")
    return _tables(db)


def test_a_real_ingest_stores_the_same_rows_either_way(bulk, corpora: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    exim_log, postfix_log = tmp_path / "exim_mainlog", tmp_path / "maillog"
    for script, out, lines in (("gen_exim.py", exim_log, "20000"), ("gen_postfix.py", postfix_log, "20000")):
        subprocess.run([sys.executable, str(REPO / "bench" / script), "--lines", lines, "--seed", "5",
                        "--out", str(out)], check=True, capture_output=True)
    logs = [exim_log, postfix_log, *sorted(p for p in corpora.rglob("*") if p.is_file() and p.stat().st_size > 20_000)]
    ours = _ingest(tmp_path / "c.sqlite3", logs, True, monkeypatch)
    pythons = _ingest(tmp_path / "p.sqlite3", logs, False, monkeypatch)
    assert len(ours["events"]) > 10_000 and len(ours["message_raw"]) > 5_000 and len(ours["message_raw_added"]) > 10
    owners = {row[6] for row in ours["events"]} | {row[13] for row in ours["events"]}  # user, deliveryuser
    assert owners == {None, "acct"}
    assert any("\\" in row[1] or not row[1].isascii() for row in ours["message_raw"])  # escapes, UTF-8
    for table in TABLES:
        assert ours[table] == pythons[table], table


def test_pure_python_turns_it_off_too(bulk) -> None:
    code = "from trackdelivery.store import sqlite; print(sqlite.BULK is None)"
    env = {**os.environ, "TRACKDELIVERY_PURE_PYTHON": "1"}
    pure = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert pure.stdout.split() == ["True"]


def test_a_handle_that_does_not_name_the_stores_file_is_not_used(bulk, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard before the compiled path: a handle that is not this connection's means Python's executemany."""

    class Elsewhere:
        def __getattr__(self, name: str):
            return getattr(bulk, name)

        @staticmethod
        def filename(conn) -> str:
            return "/somewhere/else.sqlite3"

    monkeypatch.setattr(store_module, "BULK", Elsewhere())
    log = tmp_path / "exim_mainlog"
    log.write_text("2026-11-16 10:00:00 1tA000-00000000001-AAAA <= a@example.net H=[192.0.2.1] P=esmtp S=1"
                   " for b@example.org\n")
    with Store(tmp_path / "db.sqlite3") as store:
        assert store._bulk is None
        ingest_files(store, [str(log)])
        assert store.db.execute("SELECT recipient, type FROM events").fetchall() == [("b@example.org", "inprogress")]
