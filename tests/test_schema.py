"""The slim events table (schema 5): what a row stores, the view that makes whole records, the upgrade
of an older database, and the addresses table behind "contains" searches. A message's later lines in
rows of their own (schema 6)."""

from __future__ import annotations

import gc
import json
import sqlite3
from pathlib import Path

from conftest import write_log

from trackdelivery import ingest
from trackdelivery.ingest import ingest_files
from trackdelivery.record import EVENT_FIELDS
from trackdelivery.search import SearchFilter, iter_rows
from trackdelivery.store.schema import EVENT_COLUMNS, EVENT_INDEXES_V1, MIGRATIONS, SCHEMA_VERSION
from trackdelivery.store.sqlite import Store
from trackdelivery.story import message_story

LOG = [
    "2026-11-16 10:00:00 1tA000-00000000001-AAAA <= alice@example.net H=mx.example.net (helo.example.net)"
    " [192.0.2.1]:4711 P=esmtps X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no A=dovecot_login:alice S=1234"
    ' id=abc@example.net T="Hello there" for bob@example.com carol@example.org',
    "2026-11-16 10:00:01 1tA000-00000000001-AAAA => bob <bob@example.com> R=localuser T=local_delivery",
    "2026-11-16 10:00:02 1tA000-00000000001-AAAA -> carol@example.org R=dnslookup T=remote_smtp"
    ' H=mx.example.org [192.0.2.7] X=TLS1.2:ECDHE-RSA-AES128-GCM-SHA256:128 C="250 OK"',
    "2026-11-16 10:00:02 1tA000-00000000001-AAAA Completed",
    "2026-11-16 10:01:00 H=(evil.example) [198.51.100.9]:3755 I=[192.0.2.2]:25 F=<spam@evil.example>"
    " rejected RCPT <bob@example.com>: relay not permitted",
    "2026-11-16 10:02:00 1tA001-00000000002-BBBB <= <> R=1tA000-00000000001-AAAA U=mailnull P=local S=900"
    ' T="Mail delivery failed" for alice@example.net',
]


def _records(db: Path) -> list[tuple[int, dict]]:
    with Store(db) as store:
        return [(i, {f: getattr(e, f) for f in EVENT_FIELDS})
                for i, e in iter_rows(store.db, SearchFilter(limit=0, sort="actionunixtime", ascending=True))]


def test_an_event_row_keeps_only_what_is_its_own_and_the_view_gives_the_whole_record(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    with Store(db) as store:
        ingest_files(store, [str(write_log(tmp_path / "mainlog", LOG))], server="mx1")
        rows = {r["recipient"] + "/" + r["type"]: r for r in (
            dict(zip(EVENT_COLUMNS, row, strict=True)) for row in store.db.execute("SELECT * FROM events"))}
    records = {r["recipient"] + "/" + r["type"]: r for _, r in _records(db)}
    bob, carol = rows["bob@example.com/success"], rows["carol@example.org/success"]
    # The message's client, protocol and server are not repeated in its events' rows ...
    assert (bob["senderhost"], bob["senderip"], bob["senderauth"], bob["protocol"], bob["server"]) == ("",) * 5
    assert bob["user"] is None and bob["deliverydomain"] is None  # "-remote-"
    # ... a delivery's own TLS is (it differs from the arrival's), and so is a rejection's client.
    assert carol["tls"] == "TLS1.2:ECDHE-RSA-AES128-GCM-SHA256:128" and bob["tls"] == ""
    rejected = rows["bob@example.com/rejected"]
    assert (rejected["senderhost"], rejected["senderip"], rejected["server"]) == ("evil.example", "198.51.100.9", "mx1")
    # The records are whole again.
    assert {k: records["bob@example.com/success"][k] for k in (
        "senderhost", "senderip", "senderauth", "sender", "size", "sendunixtime", "subject", "message_id",
        "protocol", "tls", "server", "user", "deliverydomain")} == {
        "senderhost": "mx.example.net", "senderip": "192.0.2.1", "senderauth": "dovecot_login", "sender": "alice",
        "size": 1234, "sendunixtime": records["bob@example.com/success"]["sendunixtime"], "subject": "Hello there",
        "message_id": "abc@example.net", "protocol": "esmtps", "tls": "TLS1.3:TLS_AES_256_GCM_SHA384:256",
        "server": "mx1", "user": "-remote-", "deliverydomain": "-remote-"}
    assert records["bob@example.com/success"]["sendunixtime"] is not None
    assert records["carol@example.org/success"]["tls"] == "TLS1.2:ECDHE-RSA-AES128-GCM-SHA256:128"
    assert records["alice@example.net/inprogress"]["parent_msgid"] == "1tA000-00000000001-AAAA"
    r = records["bob@example.com/rejected"]
    assert (r["senderhost"], r["server"], r["size"], r["subject"]) == ("evil.example", "mx1", None, "")


def _downgrade_to_schema_4(new: Path, old: Path) -> None:
    """A schema-4 database (wide events rows, one trigram row per event) holding ``new``'s records."""
    conn = sqlite3.connect(old, isolation_level=None)
    for migration in MIGRATIONS[:4]:
        for statement in migration:
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 4")
    conn.execute("ATTACH ? AS new", (str(new),))
    conn.execute("INSERT INTO messages SELECT m.*, coalesce(r.raw, '') FROM new.messages m"
                 " LEFT JOIN new.message_raw r ON r.id = m.id")
    fields = ", ".join(EVENT_FIELDS)
    conn.execute(
        f"INSERT INTO events (id, message_ref, raw, sender_domain, recipient_domain, {fields})"  # noqa: S608 - constants
        f" SELECT id, message_ref, raw, sender_domain, recipient_domain, {fields} FROM new.event_records"
    )
    conn.execute("INSERT INTO files SELECT * FROM new.files")
    conn.close()


def test_a_schema_4_database_is_upgraded_with_every_record_unchanged(tmp_path: Path, caplog) -> None:
    new, old = tmp_path / "new.sqlite3", tmp_path / "old.sqlite3"
    with Store(new) as store:
        ingest_files(store, [str(write_log(tmp_path / "mainlog", LOG))], server="mx1")
    _downgrade_to_schema_4(new, old)
    assert sqlite3.connect(old).execute("SELECT count(*) FROM event_addresses").fetchone()[0] == 0
    before = _records(new)
    with Store(new) as store:
        raw_before = message_story(store.db, "1tA000-00000000001-AAAA").raw_lines
    with Store(old) as store:  # opening it runs migrations 5 and 6
        raw_after = message_story(store.db, "1tA000-00000000001-AAAA").raw_lines
        version = store.db.execute("PRAGMA user_version").fetchone()[0]
        addresses = [a for (a,) in store.db.execute("SELECT address FROM addresses ORDER BY address")]
        tables = {name for (name,) in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        found = [e.recipient for e in iter_rows_contains(store, "xample.or")]
    assert version == SCHEMA_VERSION == 7
    assert "Upgrading the database" in caplog.text and "to schema 7" in caplog.text
    assert _records(old) == before and len(before) == 4
    assert raw_after == raw_before == LOG[:4]
    assert "raw" not in [c[1] for c in sqlite3.connect(old).execute("PRAGMA table_info(messages)")]
    assert addresses == ["alice", "alice@example.net", "bob", "bob@example.com", "carol@example.org", "mailnull",
                         "spam@evil.example"]
    assert "event_addresses" not in tables
    assert found == ["carol@example.org"]


def iter_rows_contains(store: Store, text: str) -> list:
    return [e for _, e in iter_rows(store.db, SearchFilter(recipient=text, match="contains", limit=0))]


def test_contains_searches_find_addresses_through_the_address_trigrams(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    with Store(db) as store:
        ingest_files(store, [str(write_log(tmp_path / "mainlog", LOG))])
        plan = str(store.db.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM event_records WHERE recipient IN (SELECT address FROM addresses"
            " WHERE id IN (SELECT rowid FROM address_trigrams WHERE address_trigrams MATCH 'exa'))"
        ).fetchall())
        found = sorted(e.recipient for e in iter_rows_contains(store, "B@EXAMPLE"))
        by_percent = iter_rows_contains(store, "b%c")  # LIKE's wildcards are plain characters here
    assert "address_trigrams" in plan and "events_recipient" in plan
    assert found == ["bob@example.com", "bob@example.com"]  # delivered, and the rejection
    assert by_percent == []


def test_ingest_runs_the_cycle_collector_rarely_and_restores_it() -> None:
    before = gc.get_threshold()
    try:
        with ingest._rare_collections():
            inside = gc.get_threshold()
            raise RuntimeError("stop")
    except RuntimeError:
        pass
    assert inside[0] == ingest.INGEST_GC_THRESHOLD and inside[1:] == before[1:]
    assert gc.get_threshold() == before


def test_contains_searches_stay_right_while_a_bulk_ingest_has_set_the_trigram_index_aside(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    with Store(db) as store:
        ingest_files(store, [str(write_log(tmp_path / "first", LOG[:4]))], bulk=False)
        store.defer_indexes()  # what a bulk ingest does first (and leaves behind when it is killed)
        ingest.Ingestor(store).ingest_path(str(write_log(tmp_path / "second", LOG[4:])))  # no index build
        trigrams = """SELECT count(*) FROM address_trigrams WHERE address_trigrams MATCH '"evi" AND "vil"'"""
        indexed_while_deferred = store.db.execute(trigrams).fetchone()[0]
        while_deferred = [e.email for _, e in iter_rows(store.db, SearchFilter(sender="evil.ex", match="contains"))]
        store.build_indexes()
        indexed_after = store.db.execute(trigrams).fetchone()[0]
        after = [e.email for _, e in iter_rows(store.db, SearchFilter(sender="evil.ex", match="contains"))]
    assert indexed_while_deferred == 0 and while_deferred == ["spam@evil.example"]
    assert indexed_after == 1 and after == ["spam@evil.example"]


def test_counts_read_the_events_table_unless_a_message_field_is_involved(tmp_path: Path) -> None:
    from trackdelivery.search import Scope, build_where, count, source

    db = tmp_path / "db.sqlite3"
    filters = {
        "plain": SearchFilter(),
        "scoped": SearchFilter(scope=Scope(domains=("example.com",))),
        "address": SearchFilter(address="bob@example.com"),
        "message id": SearchFilter(msgid="1tA000-00000000001-AAAA"),
        "subject": SearchFilter(text="hello there"),  # the message's, found in messages
        "client host": SearchFilter(host="mx.example.net"),  # the message's: only the view has it
        "owner": SearchFilter(sort="user"),
    }
    with Store(db) as store:
        ingest_files(store, [str(write_log(tmp_path / "mainlog", LOG))])
        counted = {name: count(store.db, f) for name, f in filters.items()}
        through_view = {}
        for name, f in filters.items():
            where, params = build_where(f)
            through_view[name] = store.db.execute("SELECT count(*) FROM event_records" + where, params).fetchone()[0]  # noqa: S608 - values bound
        firsts = {name: [e.recipient for _, e in iter_rows(store.db, f)][:1] for name, f in filters.items()}
    assert counted == through_view == {"plain": 4, "scoped": 2, "address": 2, "message id": 3, "client host": 2,
                                       "subject": 2, "owner": 4}
    assert firsts["client host"] == ["carol@example.org"] and firsts["owner"] == ["alice@example.net"]
    assert [source(f, sorting=True) for f in filters.values()] == ["events"] * 6 + ["event_records"]


# A rejection after DATA, then an arrival line for the same id from another client: the rejection keeps
# its own client, which differs from its message's.
CLIENT_LOG = [*LOG, "2026-11-16 10:03:00 1tA002-00000000003-CCCC H=(other.example) [203.0.113.5]:1234"
              " F=<x@y.example> rejected after DATA: spam",
              "2026-11-16 10:04:00 1tA002-00000000003-CCCC <= z@other.net H=mx.other.net [203.0.113.6] P=esmtp"
              " S=10 for q@example.com"]


def test_client_and_message_id_filters_match_what_the_records_say(tmp_path: Path) -> None:
    """Host, IP and message-id filters read the message's fields through subqueries, not the view:
    they must find exactly the records whose fields match."""
    db = tmp_path / "db.sqlite3"
    with Store(db) as store:
        ingest_files(store, [str(write_log(tmp_path / "mainlog", CLIENT_LOG))])
        records = {i: e for i, e in iter_rows(store.db, SearchFilter(limit=0))}
        cases = [
            ("host", "MX.example.NET", "exact"), ("host", "mx.", "begins"), ("host", "example", "contains"),
            ("host", "OTHER.example", "exact"), ("host", "evil", "contains"), ("ip", "192.0.2.1", "exact"),
            ("ip", "203.0.113.", "begins"), ("ip", "0.2.", "contains"), ("msgid", "1tA000", "begins"),
            ("msgid", "00000000001", "contains"), ("msgid", "1tA000-00000000001-AAAA", "exact"),
            ("host", "mx.other.net", "exact"), ("ip", "203.0.113.6", "exact"),
        ]
        found = {case: sorted(i for i, _ in iter_rows(store.db, SearchFilter(
            limit=0, match=case[2], **{case[0]: case[1]}))) for case in cases}

    def matches(text: str, value: str, mode: str, nocase: bool = True) -> bool:
        if mode == "exact":
            return text.lower() == value.lower() if nocase else text == value
        return text.lower().startswith(value.lower()) if mode == "begins" else value.lower() in text.lower()

    expected = {}
    for field, value, mode in cases:
        if field == "host":
            hit = [i for i, e in records.items() if matches(e.host, value, mode) or matches(e.senderhost, value, mode)]
        elif field == "ip":
            hit = [i for i, e in records.items()
                   if matches(e.ip, value, mode, nocase=False) or matches(e.senderip, value, mode, nocase=False)]
        else:
            hit = [i for i, e in records.items()
                   if matches(e.msgid, value, mode, nocase=False) or matches(e.parent_msgid, value, mode, nocase=False)]
        expected[(field, value, mode)] = sorted(hit)
    assert found == expected
    assert all(found[case] for case in cases)  # every case finds something
    assert len(found[("host", "example", "contains")]) == 4  # the two deliveries (their message's client), two rejections
    assert [records[i].recipient for i in found[("host", "mx.other.net", "exact")]] == ["q@example.com"]


def test_a_read_only_command_on_an_old_database_says_how_to_upgrade_it(tmp_path: Path, db_path: Path, cli) -> None:
    new = tmp_path / "new.sqlite3"
    with Store(new) as store:
        ingest_files(store, [str(write_log(tmp_path / "mainlog", LOG))], server="mx1")
    _downgrade_to_schema_4(new, db_path)
    refused = cli("search", "--all", "--format", "json", expect=1)
    cli("users", "list")
    found = cli("search", "--all", "--format", "json", "--limit", "0")
    assert "needs an upgrade: run 'trackdelivery users list' once" in refused.output
    assert len(json.loads(found.stdout)) == 4


MSGID = "1tA000-00000000001-AAAA"
SPREAD = [  # one message's lines, logged over an hour: three ingests of three files
    [LOG[0], f"2026-11-16 10:00:01 {MSGID} == bob@example.com R=dnslookup T=remote_smtp defer (-44)"
             " H=mx.example.com [192.0.2.9]: SMTP error from remote mail server after RCPT TO:<bob@example.com>:"
             " 451 4.7.1 Greylisted, try again"],
    [f"2026-11-16 10:30:00 {MSGID} == bob@example.com R=dnslookup T=remote_smtp defer (-44)"
     " H=mx.example.com [192.0.2.9]: SMTP error from remote mail server after RCPT TO:<bob@example.com>:"
     " 451 4.7.1 Greylisted, try again"],
    [f"2026-11-16 11:00:00 {MSGID} => bob@example.com R=dnslookup T=remote_smtp H=mx.example.com [192.0.2.9]"
     ' C="250 OK"', LOG[2].replace("10:00:02", "11:00:01"), f"2026-11-16 11:00:02 {MSGID} Completed"],
]


def _raw_tables(store: Store) -> tuple[list, list]:
    return (store.db.execute("SELECT id, raw FROM message_raw ORDER BY id").fetchall(),
            store.db.execute("SELECT message_ref, raw FROM message_raw_added ORDER BY id").fetchall())


def test_a_messages_later_lines_are_added_not_rewritten_and_its_story_has_each_line_once(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    with Store(db) as store:
        parts = [str(write_log(tmp_path / f"part{n}", part)) for n, part in enumerate(SPREAD)]
        for part in parts:
            ingest_files(store, [part], server="mx1")
        first, added = _raw_tables(store)
        story = message_story(store.db, MSGID).raw_lines
        again = ingest_files(store, parts, server="mx1")
        assert _raw_tables(store) == (first, added)
        assert message_story(store.db, MSGID).raw_lines == story
        types = sorted(t for (t,) in store.db.execute("SELECT type FROM events"))
        store.purge(2**40)
        purged = _raw_tables(store)
    assert first == [(1, "\n".join(SPREAD[0]))]
    assert added == [(1, "\n".join(SPREAD[1])), (1, "\n".join(SPREAD[2]))]
    assert story == sum(SPREAD, [])
    assert again.lines == 0 and sum(again.events.values()) == 0
    assert types == ["defer", "defer", "success", "success"]
    assert purged == ([], [])


def test_a_schema_5_database_is_upgraded_and_an_open_message_goes_on(tmp_path: Path, caplog) -> None:
    db = tmp_path / "db.sqlite3"
    with Store(db) as store:
        ingest_files(store, [str(write_log(tmp_path / "part0", SPREAD[0]))], server="mx1")
    conn = sqlite3.connect(db, isolation_level=None)  # what schema 5 was: no table for added lines
    conn.execute("DROP TABLE message_raw_added")
    conn.execute("PRAGMA user_version = 5")
    conn.close()
    with Store(db) as store:
        version = store.db.execute("PRAGMA user_version").fetchone()[0]
        for n in (1, 2):
            ingest_files(store, [str(write_log(tmp_path / f"part{n}", SPREAD[n]))], server="mx1")
        first, added = _raw_tables(store)
        story = message_story(store.db, MSGID).raw_lines
    assert version == 7 and "to schema 7" in caplog.text
    assert first == [(1, "\n".join(SPREAD[0]))] and len(added) == 2
    assert story == sum(SPREAD, [])


def _index_sql(db: Path) -> dict[str, str]:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name LIKE 'events_%'"))
    finally:
        conn.close()


def test_a_schema_6_database_gets_the_partial_indexes_and_loses_events_of_purged_messages(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    with Store(db) as store:
        ingest_files(store, [str(write_log(tmp_path / "mainlog", LOG))], server="mx1")
    before = _records(db)
    conn = sqlite3.connect(db, isolation_level=None)  # what schema 6 was: full indexes; an older purge's leftover
    for name, columns in EVENT_INDEXES_V1:
        conn.execute(f"DROP INDEX {name}")
        conn.execute(f"CREATE INDEX {name} ON events({columns})")
    conn.execute("INSERT INTO events (message_ref, type, msgid, recipient) VALUES (999, 'success', 'gone', 'x@y')")
    conn.execute("PRAGMA user_version = 6")
    conn.close()
    assert "WHERE" not in str(_index_sql(db))
    with Store(db) as store:
        version = store.db.execute("PRAGMA user_version").fetchone()[0]
        found = [e.type for e in iter_rows_with(store, sender="ALICE", recipient=None)]
    indexes = _index_sql(db)
    assert version == 7
    assert indexes["events_sender"].endswith("WHERE sender != '' AND sender != email")
    assert indexes["events_deliveredto"].endswith("WHERE deliveredto != '' AND deliveredto != recipient")
    assert indexes["events_msgid"].endswith("WHERE msgid != '' AND message_ref IS NULL")
    assert "WHERE" not in indexes["events_recipient"] + indexes["events_email"]
    assert _records(db) == before  # the leftover event is gone, every other is as it was
    assert found == ["success", "success"]  # through the partial index: "alice", the login name, is not her address


def iter_rows_with(store: Store, **filters: object) -> list:
    return [e for _, e in iter_rows(store.db, SearchFilter(limit=0, sort="actionunixtime", ascending=True,
                                                           **filters))]  # fmt: skip


def test_purge_deletes_every_event_of_a_message_it_deletes(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    with Store(db) as store:
        ingest_files(store, [str(write_log(tmp_path / "mainlog", LOG))], server="mx1")
        store.db.execute("UPDATE events SET actionunixtime = NULL WHERE recipient = 'carol@example.org'")
        cutoff = store.db.execute("SELECT lastunixtime + 1 FROM messages WHERE msgid = ?", (MSGID_A,)).fetchone()[0]
        store.db.execute("UPDATE messages SET lastunixtime = ? WHERE msgid != ?", (cutoff, MSGID_A))
        events, messages = store.purge(cutoff)
        left = [(e.msgid, e.type) for e in iter_rows_with(store)]
    assert (events, messages) == (2, 1)  # bob's delivery, and carol's, which has no time
    assert left == [("", "rejected"), ("1tA001-00000000002-BBBB", "inprogress")]


MSGID_A = "1tA000-00000000001-AAAA"


def test_a_new_database_has_8_kb_pages_and_an_old_one_keeps_its_own(tmp_path: Path) -> None:
    new, old = tmp_path / "new.sqlite3", tmp_path / "old.sqlite3"
    conn = sqlite3.connect(old)  # made with SQLite's default pages, as before
    conn.execute("CREATE TABLE t (a)")
    conn.execute("DROP TABLE t")
    conn.commit()
    conn.close()
    sizes = {}
    for db in (new, old):
        with Store(db) as store:
            ingest_files(store, [str(write_log(tmp_path / "mainlog", LOG))], server="mx1")
            page_size = store.db.execute("PRAGMA page_size").fetchone()[0]
            bound = store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
            sizes[db.name] = (page_size, bound, store.wal_pages, len(_records(db)))
    assert sizes == {"new.sqlite3": (8192, 8192, 8192, 4), "old.sqlite3": (4096, 16384, 16384, 4)}  # 64 MB of WAL
