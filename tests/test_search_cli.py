"""`trackdelivery search`, `show` and `stats` as a user runs them: filters, match modes, formats, paging."""

from __future__ import annotations

import csv
import io
import itertools
import json
import time
from pathlib import Path

import pytest
from conftest import write_log

A = "1tSrch-00000000001-AAAA"
B = "1tSrch-00000000002-BBBB"
C = "1tSrch-00000000003-CCCC"

LOG = [
    f"2026-11-16 08:00:00 {A} <= alice@shop-example.com H=mail.shop-example.com [192.0.2.1] P=esmtpsa "
    'A=dovecot_login:alice@shop-example.com S=1000 T="Order 1" for bob@example.org',
    f"2026-11-16 08:00:01 {A} => bob@example.org R=dnslookup T=remote_smtp H=mx.example.org [203.0.113.1] "
    'C="250 OK queued"',
    f"2026-11-16 08:00:01 {A} Completed",
    f"2026-11-16 09:00:00 {B} <= news@example.net H=out.example.net [192.0.2.2] P=esmtps S=2000 "
    'T="Weekly =cmd|calc" for carol@shop-example.com',
    f"2026-11-16 09:00:01 {B} == carol@shop-example.com R=virtual_user T=dovecot_virtual_delivery defer (-22): "
    "mailbox is full (MTA-imposed quota exceeded while writing to /home/shop/mail/carol)",
    f"2026-11-16 10:00:00 {C} <= alice@shop-example.com H=mail.shop-example.com [192.0.2.1] P=esmtpsa "
    "A=dovecot_login:alice@shop-example.com S=3000 for ghost@example.com",
    f"2026-11-16 10:00:02 {C} ** ghost@example.com R=dnslookup T=remote_smtp H=mx.example.com [203.0.113.9] : "
    "SMTP error from remote mail server after RCPT TO:<ghost@example.com>: 550 5.1.1 User unknown",
    f"2026-11-16 10:00:02 {C} Completed",
    "2026-11-16 11:00:00 H=(spammer) [198.51.100.66]:4000 I=[192.0.2.100]:25 F=<x@spam.example> "
    "rejected RCPT <bob@shop-example.com>: relay not permitted",
]


@pytest.fixture
def loaded(tmp_path: Path, cli):
    cli("ingest", str(write_log(tmp_path / "exim_mainlog", LOG)))
    return cli


def _ids(events: list[dict]) -> list[tuple[str, str]]:
    return [(e["type"], e["recipient"]) for e in events]


def test_default_is_every_event_newest_first(loaded, search_json) -> None:
    assert _ids(search_json()) == [
        ("rejected", "bob@shop-example.com"),
        ("failure", "ghost@example.com"),
        ("defer", "carol@shop-example.com"),
        ("inprogress", "carol@shop-example.com"),
        ("success", "bob@example.org"),
    ]


def test_recipient_exact_is_case_insensitive(loaded, search_json) -> None:
    assert _ids(search_json("--recipient", "BOB@example.org")) == [("success", "bob@example.org")]


@pytest.mark.parametrize(
    ("match", "value", "expected"),
    [
        ("exact", "carol", []),
        ("begins", "carol", ["carol@shop-example.com", "carol@shop-example.com"]),
        ("contains", "shop-example", ["bob@shop-example.com", "carol@shop-example.com", "carol@shop-example.com"]),
        ("contains", "%", []),  # LIKE wildcards are searched literally
        ("contains", "_", []),
    ],
)
def test_match_modes(loaded, search_json, match: str, value: str, expected: list[str]) -> None:
    assert [e["recipient"] for e in search_json("--recipient", value, "--match", match)] == expected


def test_sender_matches_envelope_or_authenticated_sender(loaded, search_json) -> None:
    events = search_json("--sender", "alice@shop-example.com")
    assert _ids(events) == [("failure", "ghost@example.com"), ("success", "bob@example.org")]


def test_blocked_is_failures_and_rejections(loaded, search_json) -> None:
    assert {e["type"] for e in search_json("--blocked")} == {"failure", "rejected"}


def test_type_list_and_time_window(loaded, search_json) -> None:
    events = search_json("--type", "defer,success", "--since", "2026-11-16 08:30", "--until", "2026-11-16T09:30:00")
    assert _ids(events) == [("defer", "carol@shop-example.com")]
    assert search_json("--since", "1794823200", "--type", "failure")[0]["msgid"] == C


def test_domain_matches_mail_from_or_to_the_domain(loaded, search_json) -> None:
    events = search_json("--domain", "SHOP-example.com", "--type", "success,failure,rejected")
    assert _ids(events) == [("rejected", "bob@shop-example.com"), ("failure", "ghost@example.com"),
                            ("success", "bob@example.org")]


def test_host_ip_msgid_and_text_filters(loaded, search_json) -> None:
    assert _ids(search_json("--host", "mx.example.com")) == [("failure", "ghost@example.com")]
    assert _ids(search_json("--ip", "198.51.100.66")) == [("rejected", "bob@shop-example.com")]
    assert {e["msgid"] for e in search_json("--msgid", B)} == {B}
    assert _ids(search_json("--text", "quota exceeded")) == [("defer", "carol@shop-example.com")]
    assert _ids(search_json("--text", "mailbox is full")) == [("defer", "carol@shop-example.com"),
                                                           ("inprogress", "carol@shop-example.com")]


def test_sort_paging_and_ascending(loaded, cli) -> None:
    page = json.loads(cli("search", "--format", "json", "--limit", "2", "--offset", "1", "--asc").stdout)
    assert _ids(page) == [("inprogress", "carol@shop-example.com"), ("defer", "carol@shop-example.com")]
    by_size = json.loads(cli("search", "--format", "json", "--sort", "size", "--type", "success,failure").stdout)
    assert [e["size"] for e in by_size] == [3000, 1000]


def test_ndjson_and_csv_carry_every_field(loaded, cli) -> None:
    lines = cli("search", "--format", "ndjson", "--limit", "0").stdout.splitlines()
    assert len(lines) == 5 and json.loads(lines[0])["type"] == "rejected"
    rows = list(csv.DictReader(io.StringIO(cli("search", "--format", "csv", "--type", "defer").stdout)))
    assert rows[0]["recipient"] == "carol@shop-example.com"
    assert rows[0]["reason"] == "mailbox_full"
    assert "spamscore" in rows[0] and "transport_is_remote" in rows[0]


def test_csv_defuses_spreadsheet_formulas(loaded, cli) -> None:
    rows = list(csv.DictReader(io.StringIO(cli("search", "--format", "csv", "--msgid", B).stdout)))
    assert rows[0]["subject"] == "Weekly =cmd|calc"
    assert all(not v.startswith("=") for row in rows for v in row.values())


def test_table_output_is_readable(loaded, cli) -> None:
    out = cli("search", "--recipient", "ghost@example.com").stdout
    assert out.splitlines()[0].split()[:3] == ["Time", "Result", "From"]
    assert "2026-11-16 10:00:02  failure" in out
    assert "Recipient unknown" in out or "unknown" in out.lower()


def test_no_match_says_so(loaded, cli) -> None:
    assert "No matching events." in cli("search", "--recipient", "nobody@example.com").stdout


def test_bad_filters_are_one_sentence_errors(loaded, cli) -> None:
    for args, text in [
        (("--type", "delivered"), "Unknown event type 'delivered'"),
        (("--since", "yesterday"), "is not a date"),
        (("--sort", "id; DROP TABLE events"), "Cannot sort by"),
        (("--blocked", "--type", "success"), "Use only one of"),
    ]:
        result = cli("search", *args, expect=1)
        assert text in result.output and "Traceback" not in result.output


def test_search_before_any_ingest_explains_what_to_do(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from trackdelivery.cli import main

    result = CliRunner().invoke(main, ["--db", str(tmp_path / "none.sqlite3"), "search"])
    assert result.exit_code == 1
    assert "run 'trackdelivery ingest" in result.output


def test_show_tells_the_whole_story(loaded, cli) -> None:
    out = cli("show", B).stdout
    assert "Subject:  Weekly =cmd|calc" in out
    assert "defer" in out and "mailbox is full" in out
    assert "Why: " in out
    assert f"{B} <= news@example.net" in out  # raw log lines


def test_show_unknown_message_is_a_clear_error(loaded, cli) -> None:
    assert "No message 1zzzzz-00000000000-ZZZZ" in cli("show", "1zzzzz-00000000000-ZZZZ", expect=1).output


def test_stats_json_contract(loaded, cli) -> None:
    stats = json.loads(cli("stats", "--format", "json").stdout)
    assert stats == {
        "messages": 3,
        "events": {"success": 1, "defer": 1, "failure": 1, "rejected": 1, "inprogress": 1, "archive": 0,
                   "filtered": 0},
        "lines": 9,
        "unparsed": 0,
    }


def test_sql_injection_in_filters_is_just_text(loaded, search_json, cli) -> None:
    assert search_json("--recipient", "x' OR '1'='1") == []
    assert search_json("--text", "'); DROP TABLE events; --") == []
    assert json.loads(cli("stats", "--format", "json").stdout)["events"]["success"] == 1


def test_every_command_has_help(cli) -> None:
    from trackdelivery.cli import main

    for name, command in main.commands.items():
        out = cli(name, "--help").output
        assert command.help and len(out) > 100, name


def test_contains_uses_the_trigram_index_and_finds_exactly_what_a_scan_finds(corpora: Path, tmp_path: Path) -> None:
    from trackdelivery.ingest import ingest_files
    from trackdelivery.search import SearchFilter, build_where, count, search
    from trackdelivery.store.sqlite import Store

    with Store(tmp_path / "db.sqlite3") as store:
        ingest_files(store, [str(corpora / "exim" / "exim-testsuite" / "ALL-mainlog-concatenated.log")], server="t")
        everything = search(store.db, SearchFilter(limit=0))
        for value in ("test.ex", "USERX", "caller@", "x@y", "myhost.test", "nosuchthing", "ok2"):
            f = SearchFilter(address=value, match="contains", limit=0)
            assert "MATCH" in build_where(f)[0]
            expected = sorted(
                (e.msgid, e.recipient, e.type) for e in everything
                if any(value.lower() in (getattr(e, c) or "").lower()
                       for c in ("recipient", "deliveredto", "email", "sender"))
            )
            found = sorted((e.msgid, e.recipient, e.type) for e in search(store.db, f))
            assert found == expected, value
            assert count(store.db, f) == len(expected)


def test_purge_rebuilds_the_trigram_index(tmp_path: Path) -> None:
    from trackdelivery.ingest import ingest_files
    from trackdelivery.search import SearchFilter, search
    from trackdelivery.store.sqlite import Store

    old = ["2020-01-01 10:00:00 1tOld0-00000000001-AAAA <= a@example.net H=[192.0.2.1] P=esmtp S=1 for "
           "zebra@old-example.com"]
    new = [f"{time.strftime('%Y-%m-%d')} 10:00:00 1tNew0-00000000002-BBBB <= a@example.net H=[192.0.2.1] "
           "P=esmtp S=1 for zebra@new-example.com"]
    with Store(tmp_path / "db.sqlite3") as store:
        ingest_files(store, [str(write_log(tmp_path / "old", old)), str(write_log(tmp_path / "new", new))])
        store.purge(int(time.time()) - 30 * 86400)
        stale = store.db.execute("SELECT count(*) FROM address_trigrams WHERE address_trigrams MATCH 'old'").fetchone()
        addresses = [a for (a,) in store.db.execute("SELECT address FROM addresses ORDER BY address")]
        found = [e.recipient for e in search(store.db, SearchFilter(address="zebra", match="contains"))]
        # Mail after the purge, from another process's point of view: its address is indexed again.
        again = [f"{time.strftime('%Y-%m-%d')} 11:00:00 1tNew1-00000000003-CCCC <= a@example.net H=[192.0.2.1] "
                 "P=esmtp S=1 for zebra@old-example.com"]
        ingest_files(store, [str(write_log(tmp_path / "again", again))])
        found_again = [e.recipient for e in search(store.db, SearchFilter(address="old-ex", match="contains"))]
    assert stale == (0,)
    assert addresses == ["a@example.net", "zebra@new-example.com"]  # the purged mail's address is gone
    assert found == ["zebra@new-example.com"]
    assert found_again == ["zebra@old-example.com"]


# Addresses that differ only in case between the columns a partial index pairs (schema.PARTIAL_INDEXES):
# a sender equal to its envelope sender, a delivered-to equal to its recipient, and ones that differ.
CASES = [
    "2026-11-16 12:00:00 1tCase-00000000001-AAAA <= Alice@Shop-Example.com H=mail.shop-example.com [192.0.2.1]"
    " P=esmtpsa A=dovecot_login:alice@shop-example.com S=1000 for Bob@Example.org carol@example.org",
    "2026-11-16 12:00:01 1tCase-00000000001-AAAA => bob@example.org <Bob@Example.org> R=dnslookup T=remote_smtp"
    ' H=mx.example.org [203.0.113.1] C="250 OK"',
    "2026-11-16 12:00:01 1tCase-00000000001-AAAA => carol-inbox@example.org <carol@example.org> R=alias"
    " T=local_delivery",
    "2026-11-16 12:00:02 1tCase-00000000001-AAAA Completed",
    "2026-11-16 12:01:00 1tCase-00000000002-BBBB <= dave@example.net H=out.example.net [192.0.2.2]"
    " P=esmtpsa A=dovecot_login:Boss@Example.net S=10 for Erin@example.com",
    "2026-11-16 12:01:01 1tCase-00000000002-BBBB ** Erin@example.com R=dnslookup T=remote_smtp: 550 5.1.1 unknown",
    "2026-11-16 12:01:02 1tCase-00000000002-BBBB Completed",
]
_FIELDS = {"address": ("recipient", "deliveredto", "email", "sender"), "recipient": ("recipient", "deliveredto"),
           "sender": ("email", "sender"), "email": ("email",)}  # fmt: skip


def _scanned(everything: list, field: str, value: str, match: str) -> list[tuple[str, str, str]]:
    def hit(text: str) -> bool:
        text, v = text.lower(), value.lower()
        return text == v if match == "exact" else text.startswith(v) if match == "begins" else v in text

    return sorted((e.msgid, e.recipient, e.type) for e in everything if any(hit(getattr(e, c)) for c in _FIELDS[field]))


def test_partial_indexes_find_exactly_what_a_scan_finds(corpora: Path, tmp_path: Path) -> None:
    """Schema 7 indexes sender, deliveredto and msgid only where no other index finds the row: every address and
    message-id search still finds exactly what reading every record finds, and uses those indexes."""
    from trackdelivery.ingest import ingest_files
    from trackdelivery.search import Scope, SearchFilter, build_where, count, search
    from trackdelivery.store.sqlite import Store

    logs = [write_log(tmp_path / "cases", CASES), corpora / "exim" / "exim-testsuite" / "ALL-mainlog-concatenated.log",
            corpora / "postfix" / "infohtreasure" / "maillog"]  # fmt: skip
    with Store(tmp_path / "db.sqlite3") as store:
        ingest_files(store, [str(p) for p in logs], server="t")
        db = store.db
        everything = search(db, SearchFilter(limit=0))
        # Rows each index holds; rows it leaves to the partner's index (some equal to it only without case).
        counts = db.execute(
            "SELECT sum(sender != '' AND sender != email), sum(sender != '' AND sender = email),"
            " sum(sender = email AND sender != email COLLATE BINARY), sum(deliveredto != '' AND deliveredto != recipient),"
            " sum(deliveredto != '' AND deliveredto = recipient),"
            " sum(deliveredto = recipient AND deliveredto != recipient COLLATE BINARY),"
            " sum(msgid != '' AND message_ref IS NULL) FROM events").fetchone()
        assert all(counts[:6]), counts
        assert counts[6] == 0  # every event with a queue id has its message, so far
        values = ["alice@shop-example.com", "BOB@example.org", "Carol-Inbox@Example.org", "boss@example.NET",
                  "userx@test.ex", "CALLER@MYHOST.TEST.EX", "Alice", "carol", "example.org", "nosuch@x"]
        checked = 0
        for field, match in itertools.product(_FIELDS, ("exact", "begins", "contains")):
            for value in values:
                f = SearchFilter(**{field: value}, match=match, limit=0)
                expected = _scanned(everything, field, value, match)
                assert sorted((e.msgid, e.recipient, e.type) for e in search(db, f)) == expected, (field, match, value)
                assert count(db, f) == len(expected)
                checked += bool(expected)
        assert checked > 40
        # A tenant whose address is a sender equal to its envelope sender, in another case.
        scoped = search(db, SearchFilter(limit=0, scope=Scope(addresses=("ALICE@shop-example.com",))))
        assert {e.msgid for e in scoped} == {"1tCase-00000000001-AAAA"} and len(scoped) == 2
        # Message ids: of a message (found through messages), of rejections that have none (events_msgid).
        for msgid in {e.msgid for e in everything if e.msgid}:
            expected = sorted(e.recipient + e.type for e in everything if e.msgid == msgid or e.parent_msgid == msgid)
            assert sorted(e.recipient + e.type for e in search(db, SearchFilter(msgid=msgid, limit=0))) == expected
        plans = ""
        for f in (SearchFilter(address="bob@example.org"), SearchFilter(msgid="1tCase-00000000001-AAAA"),
                  SearchFilter(scope=Scope(addresses=("alice@shop-example.com",)))):
            where, params = build_where(f)
            plans += str(db.execute("EXPLAIN QUERY PLAN SELECT id FROM events" + where, params).fetchall())  # noqa: S608 - build_where binds every value
    for index in ("events_sender (", "events_deliveredto (", "events_msgid (", "messages_msgid (", "events_email ("):
        assert index in plans  # a search (not a scan) on each
    assert "SCAN events" not in plans


def test_a_search_imports_no_parser_correlator_or_explanation_rules(tmp_path: Path) -> None:
    """A command that only reads the database starts without the modules that read logs (0.02-0.03 s of
    the 0.1 s a search takes as a whole process): their imports are where an ingest needs them."""
    import subprocess
    import sys

    from trackdelivery.store.sqlite import Store

    Store(tmp_path / "db.sqlite3").close()
    script = (
        "import sys\n"
        "from trackdelivery.cli import main\n"
        "for args in (['search', '--recipient', 'a@example.org'], ['stats'], ['status'], ['show', 'X']):\n"
        "    try:\n"
        f"        main(['--db', {str(tmp_path / 'db.sqlite3')!r}, *args], standalone_mode=False)\n"
        "    except Exception:\n"
        "        pass\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('trackdelivery'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    loaded = set(out.strip().splitlines()[-1].split())
    assert "trackdelivery.cli" in loaded and "trackdelivery.search" in loaded and "trackdelivery.story" in loaded
    for heavy in ("trackdelivery.explain", "trackdelivery.correlate", "trackdelivery.correlate_postfix",
                  "trackdelivery.parse.exim", "trackdelivery.parse.postfix", "trackdelivery.ingest"):
        assert heavy not in loaded, heavy
