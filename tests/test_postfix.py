"""Postfix logs through ingest, the store and search: the events each real scenario must produce.

Every scenario file of lightmeter's corpus (../shared/corpora/postfix/lightmeter/individual_files)
has a test here; the other Postfix corpora must parse without a crash and give sensible counts.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
from conftest import write_log
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

LIGHTMETER = Path("postfix", "lightmeter", "individual_files")


@pytest.fixture
def scenario(corpora: Path, cli, search_json):
    """Ingest one lightmeter file; returns its events, oldest first."""

    def load(name: str) -> list[dict]:
        cli("ingest", str(corpora / LIGHTMETER / name))
        return search_json("--asc")

    return load


def kinds(events: list[dict]) -> list[tuple[str, str, str]]:
    return [(e["type"], e["msgid"], e["recipient"]) for e in events]


def by_msgid(events: list[dict], msgid: str) -> list[dict]:
    return [e for e in events if e["msgid"] == msgid]


def messages(db_path: Path) -> list[sqlite3.Row]:
    db = sqlite3.connect(db_path)
    db.row_factory = sqlite3.Row
    return db.execute("SELECT * FROM messages ORDER BY id").fetchall()


def show_json(cli, msgid: str) -> dict:
    return json.loads(cli("show", msgid, "--format", "json").stdout)


# -- lightmeter scenarios ---------------------------------------------------------------------------


def test_bounce_simple_links_filter_hop_bounce_and_original(scenario, cli) -> None:
    events = scenario("1_bounce_simple.log")
    assert kinds(events) == [
        ("success", "4AA091855DA0", "invalid.email@example.com"),  # to amavis on 127.0.0.1:10024
        ("failure", "776E41855DB2", "invalid.email@example.com"),  # the re-injected copy bounced
        ("success", "A48191855DA0", "user@sender.com"),  # the bounce, delivered to the sender
    ]
    hop, failed, bounce = events
    assert (hop["sender"], hop["senderauth"], hop["senderhost"], hop["senderip"]) == (
        "user@sender.com", "PLAIN", "some.domain.name", "1.2.3.4")  # fmt: skip
    assert hop["message_id"] == "ca10035e-2951-bfd5-ec7e-1a5773fce1cd@mail.sender.com"
    assert hop["size"] == 391 and hop["email"] == "user@sender.com"
    assert failed["parent_msgid"] == "4AA091855DA0"
    # The re-injection came from localhost: it keeps the original client and login.
    assert (failed["sender"], failed["senderip"]) == ("user@sender.com", "1.2.3.4")
    assert (failed["host"], failed["ip"], failed["dsn"], failed["reason"]) == (
        "mx.example.com", "11.22.33.44", "5.1.1", "unknown_user")  # fmt: skip
    assert failed["message"].startswith("host mx.example.com[11.22.33.44] said: 550 5.1.1")
    assert failed["transport"] == "smtp" and failed["queue_time"] == 1
    assert bounce["email"] == "" and bounce["parent_msgid"] == "776E41855DB2"
    assert (bounce["transport"], bounce["host"], bounce["ip"]) == ("lmtp", "mail.sender.com", "")
    # show of the middle message names both the original and the bounce
    assert set(show_json(cli, "776E41855DB2")["linked"]) == {"4AA091855DA0", "A48191855DA0"}
    assert show_json(cli, "4AA091855DA0")["linked"] == ["776E41855DB2"]


@pytest.mark.parametrize("name", ["2_multiple_recipients_some_bounces.log",
                                  "2_multiple_recipients_some_bounces_no_last_remove.log"])  # fmt: skip
def test_multiple_recipients_some_bounces(scenario, name: str) -> None:
    events = scenario(name)
    assert Counter(e["type"] for e in events) == {"success": 8, "failure": 3}
    failures = {e["recipient"]: e for e in events if e["type"] == "failure"}
    assert {e["msgid"] for e in failures.values()} == {"1310930001DB"}
    assert failures["recipient42@example.com"]["message"] == "Domain example.com does not accept mail (nullMX)"
    assert failures["recipient42@example.com"]["dsn"] == "5.1.0"
    assert failures["recipient1@dst4.example.com"]["reason"] == "blocklisted"
    assert failures["recipient1@dst3.example.com"]["reason"] == "unknown_user"
    sent = {e["recipient"] for e in by_msgid(events, "1310930001DB") if e["type"] == "success"}
    assert sent == {"recipient1@dst1.example.com", "recipient1@dst2.example.com"}
    assert len(by_msgid(events, "BA8F630001DA")) == 5  # one hop into the content filter per recipient
    bounce = by_msgid(events, "C7B4530001DA")
    assert [(e["type"], e["recipient"], e["parent_msgid"]) for e in bounce] == [
        ("success", "sender@mydomain.com", "1310930001DB")]  # fmt: skip
    assert {e["parent_msgid"] for e in by_msgid(events, "1310930001DB")} == {"BA8F630001DA"}


def test_local_delivery_through_amavis(scenario) -> None:
    events = scenario("3_local_delivery.log")
    assert kinds(events) == [("success", "0B73130001FB", "recipient@example.com"),
                             ("success", "400643011B47", "recipient@example.com")]  # fmt: skip
    final = events[1]
    assert final["parent_msgid"] == "0B73130001FB" and final["transport"] == "lmtp"
    assert (final["sender"], final["senderip"]) == ("sender@example.com", "89.247.252.229")


def test_lost_queue_links_each_hop_but_not_remote_queue_ids(scenario, db_path: Path) -> None:
    events = scenario("4_lost_queue.log")
    assert Counter(e["type"] for e in events) == {"success": 8}
    parents = {m["msgid"]: m["parent_msgid"] for m in messages(db_path)}
    assert parents == {
        "99B222C0039E": "", "CCA402C003AA": "", "EDBD42C77B1F": "", "1E1A22C77B21": "",
        "D37AE2C77B1E": "99B222C0039E", "027BD2C77B20": "CCA402C003AA", "2326B2C77B22": "EDBD42C77B1F",
        "49C582C77B1F": "1E1A22C77B21",
    }  # fmt: skip
    # "queued as 57521780484" in a reply from spool.mail.gandi.net is the remote server's id, not ours.
    assert "57521780484" not in parents and "ADCC76373" not in parents
    last = by_msgid(events, "027BD2C77B20")[0]
    assert (last["recipient"], last["host"], last["ip"]) == (
        "recipient1@recipient.example.com", "balzers.recipient.example.com", "217.173.226.42")  # fmt: skip
    assert (last["sender"], last["senderauth"], last["senderhost"]) == ("hello@sender.example.com", "LOGIN", "")


def test_zimbra_two_content_filters_chain(scenario) -> None:
    events = scenario("5_zimbra_amavisd.log")
    assert [(e["msgid"], e["parent_msgid"]) for e in events] == [
        ("E8759DC24C3", ""), ("218BEDC28EC", "E8759DC24C3"), ("33DE0DC24C3", "218BEDC28EC")]  # fmt: skip
    final = events[-1]
    assert (final["type"], final["host"], final["sender"], final["senderip"]) == (
        "success", "gmail-smtp-in.l.google.com", "sender@sender.example.com", "11.22.33.44")  # fmt: skip
    assert {e["server"] for e in events} == {"sm02"}  # the syslog host names the source


def test_deferred_then_sent_counts_the_attempt(scenario) -> None:
    events = scenario("6_deferred_message_retry.log")
    retried = by_msgid(events, "A17F830001CA")
    assert [(e["type"], e["attempt"]) for e in retried] == [("defer", 1), ("success", None)]
    defer = retried[0]
    assert defer["reason"] == "greylisted" and defer["dsn"] == "4.0.0"
    assert defer["host"] == "mailin6.zih.recipient.relay.example.com"
    assert retried[1]["message"] == "250 OK id=1kmGfT-00056j-NK"
    assert retried[1]["queue_time"] == 427
    assert defer["parent_msgid"] == "78E8330001C7"
    assert not [e for e in events if e["type"] == "inprogress"]


def test_only_connections_make_no_events(scenario, db_path: Path) -> None:
    assert scenario("7_only_connections_and_disconnections.log") == []
    assert messages(db_path) == []


def test_weird_log_links_by_xforward_orig_queue_id(scenario) -> None:
    events = scenario("8_weird_log_file.log")
    assert kinds(events) == [("success", "4F5C64474F", "h-14a52d@h-d6b1ceccbb3bc48.com"),
                             ("success", "ED01244770", "h-14a52d@h-d6b1ceccbb3bc48.com")]  # fmt: skip
    child = events[1]
    assert child["parent_msgid"] == "4F5C64474F"
    assert child["senderip"] == "28.55.140.112"  # orig_client=unknown[28.55.140.112]
    assert child["message_id"] == "" and child["email"] == ""  # message-id=<>, from=<>
    assert (child["host"], child["ip"], child["dsn"]) == ("127.0.0.1", "127.0.0.1", "2.1.5")


def test_mixed_messages_interleaved(scenario) -> None:
    events = scenario("9_mixed_messages.log")
    assert Counter(e["type"] for e in events) == {"success": 10, "failure": 4}
    assert {e["msgid"] for e in events if e["type"] == "failure"} == {"776E41855DB2", "1310930001DB"}
    bounce = by_msgid(events, "A48191855DA0")
    assert [(e["type"], e["parent_msgid"]) for e in bounce] == [("success", "776E41855DB2")]


def test_pickup_is_a_local_submission_and_orig_to_is_the_recipient(scenario) -> None:
    events = scenario("10_pickup.log")
    first, final = events
    assert (first["msgid"], first["recipient"], first["deliveredto"]) == (
        "08ACF1541B01", "root", "h-06819@h-b4e62aa55116.com")  # fmt: skip
    assert (first["sender"], first["senderauth"], first["email"]) == (
        "root", "localuser", "h-dc76@h-ac7182297368ddc0f.com")  # fmt: skip
    assert (final["msgid"], final["parent_msgid"], final["sender"]) == ("AED441541AFC", "08ACF1541B01", "root")


def test_single_successful_delivery(scenario) -> None:
    events = scenario("11_single_successful_delivery.log")
    assert kinds(events) == [("success", "BA8F630001DA", "recipient1@dst1.example.com"),
                             ("success", "1310930001DB", "recipient1@dst1.example.com")]  # fmt: skip
    final = events[1]
    assert final["message"] == "250 2.0.0 OK  1607509104 z6si1138927wrp.107 - gsmtp"
    assert (final["host"], final["ip"], final["transport_is_remote"]) == (
        "gmail-smtp-in.l.google.com", "74.125.206.26", 1)  # fmt: skip


@pytest.mark.parametrize("name", ["12_two_independent_deliveries_in_the_same_smtpd_process_in_order.log",
                                  "12_two_independent_deliveries_in_the_same_smtpd_process_mixed.log"])  # fmt: skip
def test_two_deliveries_in_one_smtpd_process(scenario, name: str) -> None:
    events = scenario(name)
    finals = {e["msgid"]: e for e in events if e["transport"] == "smtp" and e["ip"] != "127.0.0.1"}
    assert set(finals) == {"1310930001DB", "CACACACACACA"}
    assert finals["CACACACACACA"]["parent_msgid"] == "BABABABABA"
    assert finals["CACACACACACA"]["senderhost"] == "client2.another.example.com"
    assert finals["CACACACACACA"]["email"] == "sender2@mydomain2.com"
    assert finals["1310930001DB"]["parent_msgid"] == "BA8F630001DA"


def test_empty_message_id(scenario) -> None:
    events = scenario("13_empty_msgid_issue_388.log")
    assert [(e["msgid"], e["message_id"]) for e in events] == [
        ("BABABABABABA", ""), ("CACACACA", "h-58c98222ea74bdf467d69d856d@h-028957b9aefc40.com")]  # fmt: skip
    assert events[1]["parent_msgid"] == "BABABABABABA"
    assert events[1]["sender"] == "h-09ff0f75467ee7f00f@h-e858bb21f.com"


def test_reused_queue_id_is_a_new_message(scenario, db_path: Path, cli) -> None:
    events = scenario("14_reuse_of_queueid.log")
    assert Counter(e["type"] for e in events) == {"success": 67, "inprogress": 5}
    reused = [m for m in messages(db_path) if m["msgid"] == "BABABABABA"]
    assert len(reused) == 2
    first, second = reused
    assert first["parent_msgid"] == "DADADADADA" and first["state"] == "completed"
    assert second["email"] == "h-e65bbe8f9ea3a961d1ac28b1c0971@h-5e67b9b4406.com"
    assert [e["recipient"] for e in events if e["msgid"] == "BABABABABA"] == [
        "h-4037cdee42da82c8d@h-526472e87.com",  # relayed to gmail: the first message
        "h-629de2eeab377@h-05c3ae107.com",  # into the signing filter: the second
    ]
    # the multi-instance program name "postfix-170.55.103.23/smtpd" is Postfix
    assert json.loads(cli("stats", "--format", "json").stdout)["unparsed"] == 0


def test_milter_reject_after_data(scenario) -> None:
    events = scenario("15_milter-reject.log")
    assert [(e["type"], e["msgid"]) for e in events] == [("rejected", "B37FD2E05B9")] * 2
    e = events[0]
    assert e["message"] == "4.7.1 Try again later"
    assert (e["email"], e["recipient"]) == (
        "bounce+1b6a63.922c68-christoph=h-ffd2115d4f@h-79b594737831a5d176dabf9.com", "h-7abde52c2@h-ffd2115d4f.com")
    assert (e["senderhost"], e["senderip"], e["dsn"]) == ("h-ca74a0a011076cd81347f8f11e", "254.65.43.194", "4.7.1")
    assert e["message_id"] == "h-ce543fda118a39748f465e46bebdc3338@h-79b594737831a5d176dabf9.com"


def test_corrupted_message_id_is_kept_as_logged(scenario) -> None:
    (event,) = scenario("16_corrupted_messageid.log")
    assert event["message_id"].startswith("eyJyZXBseV90byI6Im5ldWZlcnRAaW5ub3YuZW5lcmd5Ii")
    assert event["message_id"].endswith("Y3ZmI")  # cut short by the log, no ">"
    assert (event["transport"], event["host"], event["message"]) == ("pipe", "dovecot", "delivered via dovecot service")


def test_smtpd_recipient_reject_with_queue_id(scenario) -> None:
    (event,) = scenario("17-smtpd-reject.log")
    assert (event["type"], event["msgid"], event["recipient"]) == (
        "rejected", "DE81A2E2DAA", "h-c715634009216@h-14dc4a6d.com")  # fmt: skip
    assert (event["sender"], event["senderauth"], event["senderip"]) == (
        "h-d2315d@h-24e89d.com", "PLAIN", "2a02:168:636a::15e2")  # fmt: skip
    assert event["reason"] == "unknown_user" and event["dsn"] == "5.1.1"
    assert event["message"].startswith("550 5.1.1 <h-c715634009216@h-14dc4a6d.com>: Recipient address rejected")


def test_smtpd_rejects_then_milter_reject(scenario) -> None:
    events = scenario("17-smtpd-reject-with-milter-reject.log")
    assert [(e["type"], e["reason"]) for e in events] == [
        ("rejected", "unknown_user"), ("rejected", "unknown_user"), ("rejected", "spam_content")]  # fmt: skip
    assert events[2]["message"] == "5.7.1 Spam message rejected"
    assert events[2]["recipient"] == "h-688f0f21f362894034ba55@h-ff6b5e9182fd933.com"


def test_expired_message_fails_and_bounces(scenario, cli) -> None:
    events = scenario("18_expired.log")
    stuck = by_msgid(events, "23EBE3D5C0")
    assert [(e["type"], e["attempt"]) for e in stuck] == [("defer", n) for n in range(1, 6)] + [("failure", None)]
    expired = stuck[-1]
    assert expired["message"].startswith("Expired in the queue and returned to the sender; last error: host ")
    assert expired["message"].endswith("(in reply to RCPT TO command)")  # the reply, without the waiting text's ")"
    assert expired["reason"] == "mailbox_full"  # "user is over quota", the last reply
    assert expired["parent_msgid"] == "20B4E3D5BD"  # a filter at 239.58.50.50:2501, where 23EBE3D5C0 came from
    bounce = by_msgid(events, "A7E673C067")
    assert [(e["type"], e["parent_msgid"], e["transport"]) for e in bounce] == [("success", "23EBE3D5C0", "local")]
    # a line the log broke in two: its end is one line not understood
    assert json.loads(cli("stats", "--format", "json").stdout)["unparsed"] == 1


def test_pickup_relayed_to_a_smarthost(scenario) -> None:
    (event,) = scenario("18_pickup2.log")
    assert (event["recipient"], event["sender"], event["email"]) == (
        "sender+user@sender.example.com", "root", "root@sender.example.com")  # fmt: skip
    assert (event["host"], event["ip"], event["parent_msgid"]) == ("mail.relay.example.com", "5.79.104.200", "")


def test_daemon_start_and_stop_make_no_events(scenario, cli) -> None:
    assert scenario("19_postfix_version.log") == []
    assert json.loads(cli("stats", "--format", "json").stdout)["lines"] == 4


def test_rate_limited_sender_rejected(scenario) -> None:
    (event,) = scenario("20_rejected.log")
    assert (event["type"], event["msgid"], event["email"], event["reason"]) == (
        "rejected", "D155CDC24C3", "", "rate_limited")  # fmt: skip
    assert event["sender"] == "h-2d34d8bb8@h-93a1a37cd1.com"
    assert event["senderhost"] == "localhost"  # "unknown[30.207.11.100]": the HELO instead, as Exim shows it


def test_local_daemon_deliveries(scenario) -> None:
    events = scenario("21_deliveries_with_local_daemon.log")
    assert Counter(e["transport"] for e in events) == {"local": 2, "smtp": 3}
    local = next(e for e in events if e["transport"] == "local")
    assert (local["recipient"], local["deliveredto"]) == ("h-195704c@h-20b651e8120a33ec11.com", "h-493fac8f3@h-ea3f4afa.com")
    assert local["message"] == 'delivered to command: procmail -a "$EXTENSION" DEFAULT=$HOME/Maildir/'
    assert (local["host"], local["ip"], local["transport_is_remote"]) == ("", "", 0)
    picked = [e for e in events if e["senderauth"] == "localuser"]
    assert [e["msgid"] for e in picked] == ["848F1657D", "96C82657D"]


def test_virtual_delivery_after_postscreen(scenario) -> None:
    (event,) = scenario("22_virtual_delivery.log")
    assert (event["transport"], event["message"], event["senderip"]) == ("virtual", "delivered to maildir", "1.2.3.4")
    assert event["message_id"] == "super-message-id"


def test_rfc3339_timestamps(scenario) -> None:
    (event,) = scenario("25_authclean_cleanup.log")
    assert event["sendunixtime"] == 1641670933  # 2022-01-08T19:42:13.128602+00:00
    assert event["actionunixtime"] == 1641670933
    assert (event["recipient"], event["deliveredto"]) == ("recipient@recipient.example.com", "user@recipient.example.com")


def test_two_recipients(scenario) -> None:
    events = scenario("26_two_recipients.log")
    assert [(e["type"], e["recipient"], e["ip"]) for e in events] == [
        ("success", "recipient1@external.org", "12.11.12.13"), ("success", "recipient2@external.org", "13.11.12.13")]


def test_one_sent_one_received(scenario) -> None:
    events = scenario("27_one_sent_one_received.log")
    assert [(e["msgid"], e["transport"], e["sender"]) for e in events] == [
        ("4FA51DFCAD", "smtp", "h-1d6e@h-08cedc5c.com"), ("DF1C3EB916", "lmtp", "")]  # fmt: skip
    assert events[1]["senderhost"] == "h-357b5d30382e3252d" and events[1]["senderip"] == "232.26.1.68"


def test_received_bounce_to_postmaster_alias(scenario) -> None:
    (event,) = scenario("28_received_bounce.log")
    assert (event["recipient"], event["deliveredto"], event["message"]) == (
        "postmaster@example.com", "root@example.com", "delivered to mailbox")  # fmt: skip
    assert event["email"] == "bounces+YYY=76YYY=S7@microsoft.onmicrosoft.com"


@pytest.mark.parametrize(("name", "msgid", "server"), [
    ("29_inbound_relayed_message_server_1.log", "670FCA58C8", "lightmetermail"),
    ("29_inbound_relayed_message_server_2.log", "F27E789349", "mail2"),
])  # fmt: skip
def test_relayed_between_two_servers(scenario, name: str, msgid: str, server: str) -> None:
    (event,) = scenario(name)
    assert (event["type"], event["msgid"], event["recipient"], event["server"]) == (
        "success", msgid, "recipient@recipient.com", server)  # fmt: skip


def test_in_reply_to_header_log(scenario) -> None:
    (event,) = scenario("30_in_reply_to_header.log")
    assert (event["recipient"], event["sender"]) == ("recipient2@external.org", "sender@internal.org")


def test_relayed_bounce_is_received_with_empty_sender(scenario) -> None:
    events = scenario("31_relayed_bounce.log")
    assert [(e["msgid"], e["email"]) for e in events] == [
        ("202A613D2BC", "h-77ff@h-e0a7c0355e2339add.com"), ("AC80013D2BC", "")]  # fmt: skip


def test_inbound_reply_weeks_later(scenario) -> None:
    events = scenario("31_inbound_reply.log")
    assert [(e["msgid"], e["recipient"]) for e in events] == [
        ("97B24177716", "original_recipient@example2.com"), ("ABD4E13D6B0", "original_sender@example1.com")]
    assert events[1]["actionunixtime"] - events[0]["actionunixtime"] == 5 * 86400 + 41 * 60 + 14


def test_delivery_with_remote_id(scenario) -> None:
    (event,) = scenario("33_delivery_with_remote_id.log")
    assert event["message"] == "250 Ok 1100018213535d84-abcdef87-74d3-4192-a8c5-e763ee11238f-000000"


def test_every_lightmeter_scenario_has_a_test(corpora: Path) -> None:
    tested = set(re.findall(r'"(\d[\w-]*\.log)"', Path(__file__).read_text()))
    assert {p.name for p in (corpora / LIGHTMETER).iterdir()} <= tested


# -- correlation details -----------------------------------------------------------------------------

Q1 = "4F5C64474F"


def test_message_without_outcome_stays_in_progress(tmp_path: Path, cli, search_json) -> None:
    lines = [
        f"Nov 16 10:00:00 mx postfix/smtpd[1]: {Q1}: client=mail.example.net[192.0.2.7]",
        f"Nov 16 10:00:00 mx postfix/cleanup[2]: {Q1}: message-id=<a@example.net>",
        f"Nov 16 10:00:01 mx postfix/qmgr[3]: {Q1}: from=<a@example.net>, size=900, nrcpt=2 (queue active)",
    ]
    cli("ingest", str(write_log(tmp_path / "maillog", lines)))
    (event,) = search_json()
    assert (event["type"], event["recipient"], event["email"]) == ("inprogress", "", "a@example.net")
    assert event["message"] == "In the queue: not delivered yet"
    more = [f"Nov 16 10:00:02 mx postfix/smtp[4]: {Q1}: to=<b@example.org>, relay=mx.example.org[192.0.2.9]:25, "
            "delay=2, delays=1/0/0.5/0.5, dsn=4.2.2, status=deferred (host mx.example.org[192.0.2.9] said: "
            "452 4.2.2 Mailbox full (in reply to RCPT TO command))"]  # fmt: skip
    cli("ingest", str(write_log(tmp_path / "maillog", lines + more)))  # the same file, grown
    events = search_json("--asc")
    # "inprogress" is dated when the message arrived, so it sorts first
    assert [(e["type"], e["recipient"]) for e in events] == [("inprogress", "b@example.org"),
                                                             ("defer", "b@example.org")]  # fmt: skip
    assert events[0]["message"].startswith(
        "In the queue: the last attempt was deferred, the server will try again (host mx.example.org[192.0.2.9] said: 452 4.2.2")


def test_outcome_in_a_later_run_replaces_in_progress(tmp_path: Path, cli, search_json) -> None:
    # The second file is read by a new run: the message is looked up in the store (its id is not cached).
    first = [
        f"Nov 16 10:00:00 mx postfix/smtpd[1]: {Q1}: client=mail.example.net[192.0.2.7]",
        f"Nov 16 10:00:01 mx postfix/qmgr[3]: {Q1}: from=<a@example.net>, size=900, nrcpt=1 (queue active)",
        f"Nov 16 10:00:02 mx postfix/smtp[4]: {Q1}: to=<b@example.org>, relay=none, delay=2, "
        "delays=1/0/1/0, dsn=4.4.1, status=deferred (connect to mx.example.org[192.0.2.9]:25: Connection timed out)",
    ]  # fmt: skip
    second = [
        f"Nov 16 10:30:00 mx postfix/qmgr[3]: {Q1}: from=<a@example.net>, size=900, nrcpt=1 (queue active)",
        f"Nov 16 10:30:01 mx postfix/smtp[5]: {Q1}: to=<b@example.org>, relay=mx.example.org[192.0.2.9]:25, "
        "delay=1801, delays=1800/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 7AB12C)",
        f"Nov 16 10:30:01 mx postfix/qmgr[3]: {Q1}: removed",
    ]  # fmt: skip
    cli("ingest", str(write_log(tmp_path / "maillog.1", first)))
    cli("ingest", str(write_log(tmp_path / "maillog", second)))
    events = search_json("--asc")
    assert [(e["type"], e["attempt"]) for e in events] == [("defer", 1), ("success", None)]
    assert events[0]["reason"] == "connection_timeout"
    assert events[1]["senderhost"] == "mail.example.net" and events[1]["queue_time"] == 1801


def test_admin_deletion_fails_waiting_recipients(tmp_path: Path, cli, search_json) -> None:
    lines = [
        f"Nov 16 10:00:00 mx postfix/pickup[1]: {Q1}: uid=33 from=<www-data>",
        f"Nov 16 10:00:01 mx postfix/qmgr[3]: {Q1}: from=<www-data@mx.example.com>, size=900, nrcpt=1 (queue active)",
        f"Nov 16 10:00:02 mx postfix/smtp[4]: {Q1}: to=<b@example.org>, relay=none, delay=2, delays=1/0/1/0, "
        "dsn=4.4.1, status=deferred (connect to mx.example.org[192.0.2.9]:25: Connection refused)",
        f"Nov 16 10:05:00 mx postfix/postsuper[9]: {Q1}: placed on hold",
        f"Nov 16 10:06:00 mx postfix/postsuper[9]: {Q1}: removed",
    ]  # fmt: skip
    cli("ingest", str(write_log(tmp_path / "maillog", lines)))
    events = search_json("--asc")
    assert [(e["type"], e["recipient"]) for e in events] == [("defer", "b@example.org"), ("failure", "b@example.org")]
    assert events[1]["message"] == "Removed from the queue by the administrator (postsuper -d)"
    assert events[1]["sender"] == "www-data" and events[1]["senderauth"] == "localuser"


def test_held_message_says_so_while_in_progress(tmp_path: Path, cli, search_json) -> None:
    lines = [
        f"Nov 16 10:00:00 mx postfix/smtpd[1]: {Q1}: client=mail.example.net[192.0.2.7]",
        f"Nov 16 10:00:01 mx postfix/cleanup[2]: {Q1}: hold: header Subject: invoice.zip from "
        "mail.example.net[192.0.2.7]; from=<a@example.net> to=<b@example.com> proto=ESMTP helo=<mail.example.net>: "
        "attachment held for review",
    ]  # fmt: skip
    cli("ingest", str(write_log(tmp_path / "maillog", lines)))
    (event,) = search_json()
    assert (event["type"], event["message"]) == ("inprogress", "On hold: attachment held for review")


def test_header_check_discard_is_filtered(tmp_path: Path, cli, search_json) -> None:
    lines = [
        f"Nov 16 10:00:00 mx postfix/smtpd[1]: {Q1}: client=mail.example.net[192.0.2.7]",
        f"Nov 16 10:00:01 mx postfix/cleanup[2]: {Q1}: discard: header X-Spam-Flag: YES from "
        "mail.example.net[192.0.2.7]; from=<a@example.net> to=<b@example.com> proto=ESMTP helo=<mail.example.net>",
        "Nov 16 10:00:02 mx postfix/discard[5]: 25F2E5E061: to=<c@example.com>, relay=none, delay=0.05, "
        "delays=0.05/0/0/0, dsn=2.0.0, status=sent (example.com)",
    ]  # fmt: skip
    cli("ingest", str(write_log(tmp_path / "maillog", lines)))
    events = search_json("--asc")
    assert [(e["type"], e["recipient"], e["message"]) for e in events] == [
        ("filtered", "b@example.com", "Discarded: header check: X-Spam-Flag: YES"),
        ("filtered", "c@example.com", "Discarded: example.com"),
    ]


def test_postscreen_reject_names_the_blocklist(tmp_path: Path, cli, search_json) -> None:
    lines = [
        "Nov 16 10:00:00 mx postfix/postscreen[1]: CONNECT from [203.0.113.9]:4711 to [192.0.2.1]:25",
        "Nov 16 10:00:00 mx postfix/dnsblog[2]: addr 203.0.113.9 listed by domain zen.spamhaus.org as 127.0.0.4",
        "Nov 16 10:00:01 mx postfix/postscreen[1]: DNSBL rank 3 for [203.0.113.9]:4711",
        "Nov 16 10:00:06 mx postfix/postscreen[1]: NOQUEUE: reject: RCPT from [203.0.113.9]:4711: 550 5.7.1 Service "
        "unavailable; client [203.0.113.9] blocked using zen.spamhaus.org; from=<x@spam.example>, "
        "to=<b@example.com>, proto=ESMTP, helo=<spam.example>",
        "Nov 16 10:00:07 mx postfix/postscreen[1]: NOQUEUE: reject: CONNECT from [203.0.113.9]:4712: too many "
        "connections",
    ]  # fmt: skip
    cli("ingest", str(write_log(tmp_path / "maillog", lines)))
    events = search_json("--asc")
    assert [(e["type"], e["email"], e["recipient"], e["senderip"]) for e in events] == [
        ("rejected", "x@spam.example", "b@example.com", "203.0.113.9"),
        ("rejected", "", "", "203.0.113.9"),
    ]
    assert events[0]["reason"] == "blocklisted" and "zen.spamhaus.org" in events[0]["reason_text"]
    assert events[1]["message"] == "too many connections (client listed by zen.spamhaus.org)"


def test_noqueue_relay_reject(tmp_path: Path, cli, search_json) -> None:
    line = ("Jul 12 07:47:48 saturn postfix/smtpd[8738]: NOQUEUE: reject: RCPT from 1-2-3-4-example.com[1.2.3.4]: "
            "554 5.7.1 <smtp@example.com>: Relay access denied; from=<john@example.com> to=<smtp@example.org> "
            "proto=SMTP helo=<198.51.100.17>")  # fmt: skip
    cli("ingest", str(write_log(tmp_path / "maillog", [line])))
    (event,) = search_json()
    assert (event["type"], event["msgid"], event["email"], event["recipient"]) == (
        "rejected", "", "john@example.com", "smtp@example.org")  # fmt: skip
    assert (event["senderhost"], event["senderip"], event["protocol"]) == ("1-2-3-4-example.com", "1.2.3.4", "smtp")
    assert event["message"] == "554 5.7.1 <smtp@example.com>: Relay access denied"
    assert event["reason"] == "relay_denied" and event["server"] == "saturn"


def test_local_forward_links_the_new_message(tmp_path: Path, cli, search_json, db_path: Path) -> None:
    lines = [
        f"Nov 16 10:00:00 mx postfix/smtpd[1]: {Q1}: client=mail.example.net[192.0.2.7]",
        f"Nov 16 10:00:01 mx postfix/qmgr[3]: {Q1}: from=<a@example.net>, size=900, nrcpt=1 (queue active)",
        "Nov 16 10:00:01 mx postfix/pickup[6]: 2C9C5D1A2F: uid=1000 from=<bob>",
        f"Nov 16 10:00:02 mx postfix/local[4]: {Q1}: to=<bob@mx.example.com>, relay=local, delay=1, "
        "delays=1/0/0/0, dsn=2.0.0, status=sent (forwarded as 2C9C5D1A2F)",
        f"Nov 16 10:00:02 mx postfix/qmgr[3]: {Q1}: removed",
    ]  # fmt: skip
    cli("ingest", str(write_log(tmp_path / "maillog", lines)))
    assert {m["msgid"]: m["parent_msgid"] for m in messages(db_path)} == {Q1: "", "2C9C5D1A2F": Q1}


def test_new_year_in_a_classic_syslog_file(tmp_path: Path, cli, search_json) -> None:
    lines = [
        f"Dec 31 23:59:58 mx postfix/smtpd[1]: {Q1}: client=mail.example.net[192.0.2.7]",
        f"Dec 31 23:59:59 mx postfix/qmgr[3]: {Q1}: from=<a@example.net>, size=900, nrcpt=1 (queue active)",
        f"Jan  1 00:00:01 mx postfix/smtp[4]: {Q1}: to=<b@example.org>, relay=mx.example.org[192.0.2.9]:25, "
        "delay=3, delays=1/0/1/1, dsn=2.0.0, status=sent (250 2.0.0 Ok)",
        f"Dec 31 23:59:59 mx postfix/qmgr[3]: {Q1}: removed",  # written late, across New Year
    ]  # fmt: skip
    log = write_log(tmp_path / "maillog", lines)
    stamp = 1798848000 + 3600  # 2027-01-01 01:00 UTC: the file's last change
    os.utime(log, (stamp, stamp))
    cli("ingest", str(log))
    (event,) = search_json()
    assert event["sendunixtime"] == 1798761598  # 2026-12-31 23:59:58 UTC
    assert event["actionunixtime"] == 1798761601  # 2027-01-01 00:00:01 UTC


def test_format_is_detected_per_file_and_sources_mixed(tmp_path: Path, cli, search_json, db_path: Path) -> None:
    exim_log = write_log(tmp_path / "exim_mainlog", [
        "2026-11-16 09:00:00 1tAbCd-00000000aB1-1a2B <= alice@shop-example.com H=mail.example.net [192.0.2.10] "
        "P=esmtps S=1200 for bob@example.org",
        "2026-11-16 09:00:01 1tAbCd-00000000aB1-1a2B => bob@example.org R=dnslookup T=remote_smtp "
        'H=mx.example.org [203.0.113.5] C="250 OK"',
        "2026-11-16 09:00:01 1tAbCd-00000000aB1-1a2B Completed",
    ])  # fmt: skip
    postfix_log = write_log(tmp_path / "maillog", [
        f"Nov 16 10:00:00 pfhost postfix/smtpd[1]: {Q1}: client=mail.example.net[192.0.2.7]",
        f"Nov 16 10:00:01 pfhost postfix/qmgr[3]: {Q1}: from=<carol@example.net>, size=900, nrcpt=1 (queue active)",
        f"Nov 16 10:00:02 pfhost postfix/smtp[4]: {Q1}: to=<bob@example.org>, relay=mx.example.org[203.0.113.5]:25, "
        "delay=2, delays=1/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 7AB12C)",
        f"Nov 16 10:00:02 pfhost postfix/qmgr[3]: {Q1}: removed",
    ])  # fmt: skip
    stamp = 1794823200 + 86400  # a day after the lines: the classic timestamps are from 2026
    os.utime(postfix_log, (stamp, stamp))
    cli("ingest", str(exim_log), str(postfix_log))
    events = search_json("--recipient", "bob@example.org", "--asc")
    assert [(e["msgid"], e["server"]) for e in events] == [
        ("1tAbCd-00000000aB1-1a2B", socket.gethostname()), (Q1, "pfhost")]  # fmt: skip
    db = sqlite3.connect(db_path)
    assert sorted(db.execute("SELECT format FROM files")) == [("exim",), ("postfix",)]
    ids = [row[0] for row in db.execute("SELECT id FROM messages ORDER BY id")]
    assert ids == [1, 2]
    assert show_json(cli, Q1)["events"][0]["recipient"] == "bob@example.org"
    # an explicit --server names every source
    cli("ingest", "--server", "relay-1", str(write_log(tmp_path / "maillog2", [
        "Nov 16 11:00:00 pfhost postfix/smtpd[8]: NOQUEUE: reject: RCPT from x.example[192.0.2.99]: 554 5.7.1 "
        "<d@example.org>: Relay access denied; from=<e@example.net> to=<d@example.org> proto=SMTP helo=<x>"])))
    assert {e["server"] for e in search_json("--type", "rejected")} == {"relay-1"}


def test_undecided_file_start_decides_at_the_first_postfix_line(tmp_path: Path, cli, search_json, db_path) -> None:
    lines = [
        "Nov 16 09:59:59 mx dovecot: imap-login: Login: user=<a@example.com>, method=PLAIN, rip=192.0.2.5",
        "Nov 16 09:59:59 mx dovecot: imap(a@example.com)<1><x>: Logged out in=1 out=2",
        "Nov 16 10:00:00 mx postfix/smtpd[8]: NOQUEUE: reject: RCPT from x.example[192.0.2.99]: 554 5.7.1 "
        "<d@example.org>: Relay access denied; from=<e@example.net> to=<d@example.org> proto=SMTP helo=<x>",
    ]  # fmt: skip
    cli("ingest", str(write_log(tmp_path / "maillog", lines[:2])))
    assert sqlite3.connect(db_path).execute("SELECT format FROM files").fetchall() == [("",)]
    cli("ingest", str(write_log(tmp_path / "maillog", lines)))
    assert [e["type"] for e in search_json()] == ["rejected"]
    assert sqlite3.connect(db_path).execute("SELECT format, lines FROM files").fetchall() == [("postfix", 3)]


def test_following_a_live_maillog_that_starts_with_other_programs(tmp_path: Path, db_path: Path) -> None:
    from trackdelivery.follow import Follower
    from trackdelivery.store.sqlite import Store

    log = tmp_path / "mail.log"
    log.write_text("Nov 16 09:59:59 mx dovecot: imap-login: Disconnected (no auth attempts): rip=192.0.2.5\n")
    with Store(db_path) as store:
        follower = Follower(store, [str(log)])
        follower.poll()
        with log.open("a") as f:
            f.write(f"Nov 16 10:00:00 mx postfix/smtpd[1]: {Q1}: client=mail.example.net[192.0.2.7]\n"
                    f"Nov 16 10:00:01 mx postfix/qmgr[3]: {Q1}: from=<a@example.net>, size=900, nrcpt=1 "
                    "(queue active)\n")  # fmt: skip
        follower.poll()
        with log.open("a") as f:
            f.write(f"Nov 16 10:00:02 mx postfix/smtp[4]: {Q1}: to=<b@example.org>, relay=mx.example.org"
                    "[192.0.2.9]:25, delay=2, delays=1/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok)\n"
                    f"Nov 16 10:00:02 mx postfix/qmgr[3]: {Q1}: removed\n")  # fmt: skip
        follower.poll()
        follower.close()
        rows = store.db.execute("SELECT type, recipient, server FROM event_records ORDER BY id").fetchall()
        assert store.db.execute("SELECT format FROM files").fetchall() == [("postfix",)]
    assert rows == [("success", "b@example.org", "mx")]  # the inprogress event of the first poll is gone


def test_reingest_adds_nothing(corpora: Path, cli) -> None:
    path = str(corpora / LIGHTMETER / "9_mixed_messages.log")
    cli("ingest", path)
    before = json.loads(cli("stats", "--format", "json").stdout)
    cli("ingest", path)
    assert json.loads(cli("stats", "--format", "json").stdout) == before


# -- the other corpora: parse without a crash, sensible counts ----------------------------------------


def ingest_counts(cli, *paths: Path) -> dict:
    cli("ingest", *map(str, paths))
    return json.loads(cli("stats", "--format", "json").stdout)


def status_lines(path: Path, status: str) -> int:
    """Syslog lines with ``status=<status>`` (not the pieces of lines a log broke in two)."""
    pattern = rf"^(?:[A-Z][a-z]{{2}} |\d{{4}}-).*\bstatus={status}\b"
    return len(re.findall(pattern, path.read_text(errors="replace"), re.M))


def test_modoboa_log_with_its_day_placeholder(corpora: Path, tmp_path: Path, cli) -> None:
    text = (corpora / "postfix" / "modoboa" / "mail.log").read_text()
    log = tmp_path / "mail.log"
    log.write_text(text.replace("%(day)s", "Nov 16"))
    stats = ingest_counts(cli, log)
    assert stats["unparsed"] == 0
    assert stats["events"]["success"] == status_lines(log, "sent")
    assert stats["events"]["rejected"] == len(re.findall(r": (?:NOQUEUE: )?(?:milter-)?reject: ", text))
    assert stats["messages"] == 22


def test_modoboa_proxy_filter_keeps_the_original_client(corpora: Path, tmp_path: Path, cli, search_json) -> None:
    log = tmp_path / "mail.log"
    log.write_text((corpora / "postfix" / "modoboa" / "mail.log").read_text().replace("%(day)s", "Nov 16"))
    cli("ingest", str(log))
    (event,) = search_json("--msgid", "1FEB7E00C4")
    assert (event["senderhost"], event["senderip"]) == ("misas5.babino.pl", "207.154.235.157")


def test_msimerson_long_queue_ids(corpora: Path, cli, search_json) -> None:
    stats = ingest_counts(cli, corpora / "postfix" / "msimerson" / "mail.log")
    assert stats["events"]["success"] == 1
    (event,) = search_json()
    assert (event["msgid"], event["recipient"]) == ("3mPVKl0Mhjz7sXv", "56597@continuity.delivery")
    assert event["message"] == "250 2.0.0 Ok: queued as 3mPVKl3YVXz2pS5Z"
    assert stats["unparsed"] == 0  # the exim and "madeup" lines are other programs' lines


@pytest.mark.parametrize("name", ["maillog", "mailog2"])
def test_infohtreasure_noisy_centos_maillog(corpora: Path, cli, name: str) -> None:
    path = corpora / "postfix" / "infohtreasure" / name
    stats = ingest_counts(cli, path)
    events = stats["events"]
    assert events["success"] == status_lines(path, "sent")
    assert events["defer"] == status_lines(path, "deferred")
    assert events["failure"] >= status_lines(path, "bounced")
    # Roundcube and PHP errors are mixed into it: every line in syslog shape is understood.
    not_syslog = len(re.findall(r"^(?![A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ [^\s\[:]+(?:\[\d+\])?: ).*",
                                path.read_text(errors="replace"), re.M))
    assert 0 < stats["unparsed"] <= not_syslog


def test_postfix_grok_patterns_every_daemon(corpora: Path, tmp_path: Path, cli) -> None:
    # "<daemon>\t<message>" pairs: given a syslog prefix here (a few messages span lines).
    lines = []
    for row in (corpora / "postfix" / "postfix-grok-patterns" / "messages-by-daemon.tsv").read_text().splitlines():
        daemon, tab, message = row.partition("\t")
        lines.append(f"Oct 26 18:13:50 mx postfix/{daemon}[42]: {message}" if tab else row)
    stats = ingest_counts(cli, write_log(tmp_path / "maillog", lines))
    events = stats["events"]
    # 7 smtpd (RCPT, VRFY, milter-reject), 4 postscreen (CONNECT, RCPT), 1 cleanup milter-reject, 2 proxy-reject
    assert events["rejected"] == 14
    assert events["filtered"] == 2  # smtpd NOQUEUE discard, the discard(8) transport
    assert events["success"] >= 12 and events["failure"] >= 4
    assert stats["unparsed"] <= 12  # the continuation lines of "improper command pipelining"


def test_fail2ban_rejects(corpora: Path, cli, search_json) -> None:
    path = corpora / "postfix" / "fail2ban" / "postfix.log"
    stats = ingest_counts(cli, path)
    text = path.read_text()
    assert stats["events"]["rejected"] == len(re.findall(r": (?:NOQUEUE: |[0-9A-F]+: )?(?:milter-)?reject: ", text))
    assert stats["unparsed"] == 0
    ehlo = [e for e in search_json("--type", "rejected") if e["senderip"] == "78.107.251.238"]
    assert {e["server"] for e in ehlo} == {"xxx"} and len(ehlo) == 2  # postfix/ and postfix-incoming/


def test_fail2ban_raw_file_with_comments(corpora: Path, cli) -> None:
    stats = ingest_counts(cli, corpora / "postfix" / "fail2ban" / "postfix.raw")
    assert stats["events"]["rejected"] > 20
    assert stats["unparsed"] > 0  # the "# failJSON" comments


def test_alaveteli_sample(corpora: Path, cli, search_json) -> None:
    stats = ingest_counts(cli, corpora / "postfix" / "alaveteli" / "extracted-from-specs.log")
    assert stats["events"]["success"] == 3
    assert stats["events"]["failure"] == 1 and stats["events"]["defer"] == 1
    # lines of one second sorted by program: the delivery comes after "removed" and still belongs
    (sent,) = search_json("--msgid", "2307536F4187")
    assert sent["message_id"] == "ogm-+5764f60a85acc-dfd9@localhost"
    # the same queue id weeks apart is two messages
    assert len(search_json("--msgid", "CB55836EE58C", "--type", "success")) == 2


# -- robustness: real lines in any order -------------------------------------------------------------

SHUFFLED_FILES = ("1_bounce_simple.log", "6_deferred_message_retry.log", "14_reuse_of_queueid.log",
                  "17-smtpd-reject-with-milter-reject.log", "18_expired.log",
                  "12_two_independent_deliveries_in_the_same_smtpd_process_mixed.log")  # fmt: skip (TLS lines)


def _corpus_lines() -> list[str]:
    from conftest import find_corpora

    lines: list[str] = []
    for name in SHUFFLED_FILES:
        lines += (find_corpora() / LIGHTMETER / name).read_text().splitlines()[:80]
    return lines


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_correlator_never_raises_on_lines_in_any_order(data) -> None:
    from trackdelivery.correlate_postfix import PostfixCorrelator
    from trackdelivery.parse.postfix import SyslogYear
    from trackdelivery.record import EVENT_TYPES

    lines = data.draw(st.lists(st.sampled_from(_corpus_lines()), max_size=120))
    years = SyslogYear(0)
    correlator = PostfixCorrelator(lambda msgid: None, 1, 1, cache_size=5, store_was_empty=True)
    for line in lines:
        correlator.feed(years.parse(line), line)
    batch = correlator.take_batch()
    assert {e.type for e in batch.events.values()} <= set(EVENT_TYPES)
    assert all(state.pending == {} or state.state != "completed" for state in batch.messages.values())


def test_hostile_lines_are_only_data(tmp_path: Path, cli, search_json) -> None:
    script, sql = "<script>alert(1)</script>", "'; DROP TABLE events; --"
    lines = [
        f"Nov 16 10:00:00 mx postfix/smtpd[1]: {Q1}: client={script}[192.0.2.7], sasl_method=PLAIN, "
        f"sasl_username={sql}",
        f"Nov 16 10:00:01 mx postfix/qmgr[3]: {Q1}: from=<{script}>, size=99999999999999999999999, nrcpt=1 "
        "(queue active)",
        f"Nov 16 10:00:02 mx postfix/smtp[4]: {Q1}: to=<{sql}>, relay=x[1.2.3.4]:25, delay=1e999, "
        f"delays=nan/0/0/0, dsn=9.9.9, status=sent ({script})",
        f"Nov 16 10:00:03 mx postfix/smtp[4]: {Q1}: to=<b@example.org>, relay=x[1.2.3.4]:25, delay=nan, "
        "dsn=4.0.0, status=deferred",
        "Feb 31 99:99:99 mx postfix/qmgr[3]: 4AA091855DA0: removed",
        "9999-99-99T99:99:99+99:99 mx postfix/qmgr[3]: 4AA091855DA0: removed",
        "Nov 16 10:00:04 mx postfix/smtpd[1]: NOQUEUE: reject: RCPT from [:]: ; from=<",
        "Nov 16 10:00:04 mx postfix/bounce[1]: 4AA091855DA0: sender non-delivery notification: ",
        "Nov 16 10:00:05 mx postfix/smtpd[1]: " + "x" * 300_000,
    ]  # fmt: skip
    cli("ingest", str(write_log(tmp_path / "maillog", lines)))
    events = {e["type"]: e for e in search_json()}
    assert events["success"]["recipient"] == sql and events["success"]["message"] == script
    assert events["success"]["queue_time"] == 2 and events["success"]["size"] is None  # from the times, not delay=
    assert events["success"]["sender"] == sql and events["success"]["senderhost"] == script
    assert "rejected" in events and events["defer"]["recipient"] == "b@example.org"


def test_rotated_postfix_logs_are_read_oldest_first(tmp_path) -> None:
    import gzip

    from trackdelivery.source import order_by_time

    # Names that say nothing of their age: only the timestamps inside can order them.
    older = tmp_path / "c-mail.gz"
    older.write_bytes(gzip.compress(b"Nov 14 10:00:00 mx postfix/pickup[1]: 1A2B3C4D5E: uid=0 from=<root>\n"))
    newer = tmp_path / "a-mail"
    newer.write_text("Nov 16 09:00:00 mx postfix/pickup[1]: 2A2B3C4D5E: uid=0 from=<root>\n")
    middle = tmp_path / "b-mail"
    middle.write_text("Nov 15 09:00:00 mx postfix/pickup[1]: 3A2B3C4D5E: uid=0 from=<root>\n")
    assert order_by_time([str(newer), str(older), str(middle)]) == [str(older), str(middle), str(newer)]


# -- TLS: the session a process logged before the line that uses it ---------------------------------

TLS13 = "TLSv1.3:TLS_AES_256_GCM_SHA384:256"


def test_inbound_tls_comes_from_the_smtpd_session_of_the_client(scenario) -> None:
    events = scenario("12_two_independent_deliveries_in_the_same_smtpd_process_mixed.log")
    tls = {e["msgid"]: e["tls"] for e in events}
    # Two TLS clients of one submission smtpd process, one after the other.
    assert tls["BA8F630001DA"] == TLS13 and tls["BABABABABA"] == TLS13
    # The content filter re-injects them from localhost without TLS (1310930001DB, CACACACACACA): they
    # keep the original client, and so its TLS.
    assert [(e["senderip"], e["parent_msgid"]) for e in events if e["msgid"] in ("1310930001DB", "CACACACACACA")] == [
        ("89.247.252.53", "BABABABABA"), ("89.247.252.52", "BA8F630001DA")]
    assert tls["1310930001DB"] == TLS13 and tls["CACACACACACA"] == TLS13


def test_outbound_tls_is_the_smtp_process_session_with_that_relay(tmp_path: Path, cli, search_json) -> None:
    head = "Dec  9 10:18:2{} mail postfix/"
    lines = [
        head.format(0) + "smtpd[100]: connect from mx.example.net[192.0.2.7]",
        head.format(0) + "smtpd[100]: Anonymous TLS connection established from mx.example.net[192.0.2.7]: "
        "TLSv1.2 with cipher ECDHE-RSA-AES128-GCM-SHA256 (128/128 bits)",
        head.format(0) + "smtpd[100]: disconnect from mx.example.net[192.0.2.7] ehlo=2 starttls=1 quit=1",
        # The same smtpd process, a new client without STARTTLS: the old session is not its.
        head.format(1) + "smtpd[100]: connect from plain.example.net[192.0.2.8]",
        head.format(1) + "smtpd[100]: 1A2B3C4D5E: client=plain.example.net[192.0.2.8]",
        head.format(1) + "qmgr[50]: 1A2B3C4D5E: from=<a@example.net>, size=100, nrcpt=2 (queue active)",
        head.format(2) + "smtp[200]: Verified TLS connection established to mx1.example.org[198.51.100.1]:25: "
        "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519",
        head.format(2) + "smtp[200]: 1A2B3C4D5E: to=<b@example.org>, relay=mx1.example.org[198.51.100.1]:25, "
        "delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok)",
        # The same smtp process, next to another server without TLS: not the first session's TLS.
        head.format(3) + "smtp[200]: 1A2B3C4D5E: to=<c@example.com>, relay=mx.example.com[203.0.113.5]:25, "
        "delay=2, delays=0/0/1/1, dsn=2.0.0, status=sent (250 2.0.0 Ok)",
        head.format(3) + "qmgr[50]: 1A2B3C4D5E: removed",
    ]
    cli("ingest", str(write_log(tmp_path / "maillog", lines)))
    tls = {e["recipient"]: e["tls"] for e in search_json("--asc")}
    assert tls == {"b@example.org": TLS13, "c@example.com": ""}


def test_outbound_tls_is_the_session_with_that_relay_port(tmp_path: Path, cli, search_json) -> None:
    # Captured from the test Postfix (tests/mta): one smtp process delivers over STARTTLS to a server on
    # 127.0.0.1:37461, then in clear to another one on 127.0.0.1:42385.
    smtp = "Dec 01 20:21:{} mta postfix/smtp[15367]: "
    lines = [
        smtp.format(18) + "Untrusted TLS connection established to 127.0.0.1[127.0.0.1]:37461: TLSv1.3 with "
        "cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS "
        "(2048 bits) server-digest SHA256",
        smtp.format(18) + "8CBE120C944: to=<kim@tls.test>, relay=127.0.0.1[127.0.0.1]:37461, delay=0.11, "
        "delays=0.01/0.01/0.09/0, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as SINK-37461-1)",
        smtp.format(28) + "CD71620D01E: to=<plain@accept.test>, relay=127.0.0.1[127.0.0.1]:42385, "
        "delay=0.05, delays=0/0/0.05/0, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as SINK-42385-2)",
    ]
    cli("ingest", str(write_log(tmp_path / "maillog", lines)))
    tls = {e["recipient"]: e["tls"] for e in search_json("--asc")}
    assert tls == {"kim@tls.test": TLS13, "plain@accept.test": ""}
