"""Correlation of Exim lines into delivery events, through a real SQLite store (ingest → search/show)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import write_log

ID1 = "1tAbCd-00000000aB1-1a2B"
ID2 = "1tAbCe-00000000aB2-3c4D"
BOUNCE = "1tAbCf-00000000aB3-5e6F"
OLD = "1ZeQYq-0000Wm-1V"

ARRIVAL = (
    f"2026-11-16 10:00:00 {ID1} <= alice@shop-example.com H=mail.example.net (helo.example.net) "
    "[192.0.2.10]:45123 I=[198.51.100.1]:587 P=esmtpsa X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no "
    'A=dovecot_login:alice@shop-example.com S=2345 id=abc.123@shop-example.com T="Invoice \\"42\\" – Nov" '
    "from <alice@shop-example.com> for bob@example.org carol@example.net dave@example.com"
)


def _events(search_json, *args: str) -> list[dict]:
    return search_json("--asc", *args)


def test_arrival_makes_one_inprogress_event_per_recipient(tmp_path: Path, cli, search_json) -> None:
    cli("ingest", str(write_log(tmp_path / "log", [ARRIVAL])))
    events = _events(search_json)
    assert [e["recipient"] for e in events] == ["bob@example.org", "carol@example.net", "dave@example.com"]
    assert {e["type"] for e in events} == {"inprogress"}
    e = events[0]
    assert e["email"] == "alice@shop-example.com"
    assert e["sender"] == "alice@shop-example.com"
    assert e["senderauth"] == "dovecot_login"
    assert e["senderhost"] == "mail.example.net"
    assert e["senderip"] == "192.0.2.10"
    assert e["size"] == 2345
    assert e["subject"] == 'Invoice "42" – Nov'
    assert e["message_id"] == "abc.123@shop-example.com"
    assert e["protocol"] == "esmtpsa"
    assert e["sendunixtime"] == 1794823200


def test_outcomes_replace_inprogress_and_defers_count_attempts(tmp_path: Path, cli, search_json) -> None:
    lines = [
        ARRIVAL,
        f"2026-11-16 10:00:01 {ID1} => bob@example.org R=dkim_lookuphost T=dkim_remote_smtp "
        'H=mx1.example.org [203.0.113.5]:25 X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes C="250 2.0.0 OK 1731751201" QT=1s DT=0s',
        f"2026-11-16 10:00:02 {ID1} == carol@example.net R=dkim_lookuphost T=dkim_remote_smtp defer (-44) "
        "H=mx.example.net [203.0.113.6]: SMTP error from remote mail server after RCPT TO:<carol@example.net>: "
        "452 4.2.2 Mailbox full",
        f"2026-11-16 10:30:02 {ID1} == carol@example.net R=dkim_lookuphost T=dkim_remote_smtp defer (-44) "
        "H=mx.example.net [203.0.113.6]: SMTP error from remote mail server after RCPT TO:<carol@example.net>: "
        "452 4.2.2 Mailbox full",
        f"2026-11-16 10:30:03 {ID1} ** dave@example.com R=virtual_user T=dovecot_virtual_delivery: "
        "Unrouteable address",
    ]
    cli("ingest", str(write_log(tmp_path / "log", lines)))
    events = _events(search_json)
    by_type = {(e["type"], e["recipient"]) for e in events}
    assert by_type == {
        ("success", "bob@example.org"),
        ("defer", "carol@example.net"),
        ("inprogress", "carol@example.net"),
        ("failure", "dave@example.com"),
    }
    success = next(e for e in events if e["type"] == "success")
    assert (success["host"], success["ip"], success["transport_is_remote"]) == ("mx1.example.org", "203.0.113.5", 1)
    assert success["message"] == "250 2.0.0 OK 1731751201"
    assert success["router"] == "dkim_lookuphost" and success["transport"] == "dkim_remote_smtp"
    assert success["queue_time"] == 1
    defers = [e for e in events if e["type"] == "defer"]
    assert [d["attempt"] for d in defers] == [1, 2]
    assert defers[0]["reason"] == "mailbox_full"
    assert defers[0]["dsn"] == "4.2.2"
    waiting = next(e for e in events if e["type"] == "inprogress")
    assert waiting["message"] == (
        "In the queue: the last attempt was deferred, the server will try again (Recipient mailbox is full)"
    )


def test_completed_message_leaves_nothing_in_progress(tmp_path: Path, cli, search_json) -> None:
    lines = [
        f"2026-11-16 10:00:00 {ID2} <= root@host.example.com U=root P=local S=500 for root@host.example.com",
        f"2026-11-16 10:00:00 {ID2} => root <root@host.example.com> R=localuser T=local_delivery",
        f"2026-11-16 10:00:00 {ID2} Completed",
    ]
    cli("ingest", str(write_log(tmp_path / "log", lines)))
    events = _events(search_json)
    assert [(e["type"], e["recipient"], e["deliveredto"]) for e in events] == [
        ("success", "root@host.example.com", "root")
    ]
    assert events[0]["message"] == "Accepted"
    assert events[0]["sender"] == "root" and events[0]["senderauth"] == "localuser"


def test_alias_pipe_and_blackhole_deliveries(tmp_path: Path, cli, search_json) -> None:
    lines = [
        f"2026-11-16 10:00:00 {ID2} <= alice@example.net H=mx.example.net [192.0.2.20] P=esmtp S=900 "
        "for info@example.com ticket@example.com nobody@example.com archive@example.com",
        f"2026-11-16 10:00:01 {ID2} => bob@example.com (info@example.com) <info@example.com> R=virtual_aliases "
        "T=dovecot_virtual_delivery",
        f"2026-11-16 10:00:01 {ID2} => |/usr/local/bin/helpdesk --queue support <ticket@example.com> "
        "R=virtual_aliases T=address_pipe",
        f"2026-11-16 10:00:01 {ID2} => :blackhole: <nobody@example.com> R=virtual_aliases",
        f"2026-11-16 10:00:01 {ID2} => archive@example.com R=archive T=archiver_smtp",
    ]
    cli("ingest", str(write_log(tmp_path / "log", lines)))
    events = {e["recipient"]: e for e in _events(search_json)}
    assert events["info@example.com"]["type"] == "success"
    assert events["info@example.com"]["deliveredto"] == "bob@example.com"
    assert events["ticket@example.com"]["deliveredto"] == "|/usr/local/bin/helpdesk --queue support"
    assert events["nobody@example.com"]["type"] == "filtered"
    assert events["archive@example.com"]["type"] == "archive"


def test_bounce_links_to_original(tmp_path: Path, cli, search_json) -> None:
    lines = [
        f"2026-11-16 10:00:00 {ID1} <= alice@example.com U=alice P=local S=700 for ghost@example.org",
        f"2026-11-16 10:00:05 {ID1} ** ghost@example.org R=dnslookup T=remote_smtp H=mx.example.org "
        "[203.0.113.7] : SMTP error from remote mail server after RCPT TO:<ghost@example.org>: "
        "550 5.1.1 <ghost@example.org>: Recipient address rejected: User unknown in virtual mailbox table",
        f"2026-11-16 10:00:05 {BOUNCE} <= <> R={ID1} U=mailnull P=local S=1900 "
        'T="Mail delivery failed: returning message to sender" for alice@example.com',
        f"2026-11-16 10:00:05 {BOUNCE} => alice <alice@example.com> R=localuser T=local_delivery",
        f"2026-11-16 10:00:05 {BOUNCE} Completed",
        f"2026-11-16 10:00:05 {ID1} Completed",
    ]
    cli("ingest", str(write_log(tmp_path / "log", lines)))
    failure = _events(search_json, "--type", "failure")[0]
    assert failure["reason"] == "unknown_user"
    assert failure["dsn"] == "5.1.1"
    bounce = _events(search_json, "--recipient", "alice@example.com")[0]
    assert bounce["msgid"] == BOUNCE and bounce["email"] == "" and bounce["parent_msgid"] == ID1
    story = json.loads(cli("show", ID1, "--format", "json").stdout)
    assert story["linked"] == [BOUNCE]
    assert any("5.1.1" in line for line in story["raw_lines"])
    assert json.loads(cli("show", BOUNCE, "--format", "json").stdout)["linked"] == [ID1]


def test_message_correlates_across_files(tmp_path: Path, cli, search_json) -> None:
    first = write_log(tmp_path / "exim_mainlog.1", [ARRIVAL])
    second = write_log(
        tmp_path / "exim_mainlog",
        [f"2026-11-17 00:00:01 {ID1} => carol@example.net R=dnslookup T=remote_smtp H=mx [203.0.113.9] "
         'C="250 ok"'],
    )
    cli("ingest", str(first))
    cli("ingest", str(second))
    carol = _events(search_json, "--recipient", "carol@example.net")
    assert [e["type"] for e in carol] == ["success"]
    assert carol[0]["subject"] == 'Invoice "42" – Nov'
    assert carol[0]["sendunixtime"] == 1794823200


def test_cancelled_and_removed_fail_remaining_recipients(tmp_path: Path, cli, search_json) -> None:
    lines = [
        f"2026-11-16 10:00:00 {ID1} <= spam@example.net H=[192.0.2.66] P=esmtp S=100 for a@example.com",
        f"2026-11-16 10:00:00 {ID1} Frozen",
        f"2026-11-16 11:00:00 {ID2} <= x@example.net H=[192.0.2.67] P=esmtp S=100 for b@example.com",
        f"2026-11-16 12:00:00 {ID1} cancelled by system filter: spam detected",
        f"2026-11-16 12:00:00 {ID2} removed by root",
    ]
    cli("ingest", str(write_log(tmp_path / "log", lines)))
    events = _events(search_json)
    assert [(e["type"], e["recipient"], e["message"]) for e in events] == [
        ("failure", "a@example.com", "cancelled by system filter: spam detected"),
        ("failure", "b@example.com", "removed by root"),
    ]


def test_frozen_message_stays_in_progress_with_reason(tmp_path: Path, cli, search_json) -> None:
    lines = [
        f"2026-11-16 10:00:00 {ID1} <= spam@example.net H=[192.0.2.66] P=esmtp S=100 for a@example.com",
        f"2026-11-16 10:00:00 {ID1} Frozen (delivery error message)",
    ]
    cli("ingest", str(write_log(tmp_path / "log", lines)))
    [event] = _events(search_json)
    assert (event["type"], event["message"]) == ("inprogress", "Frozen (delivery error message)")


def test_cpanel_spam_score_and_sender_identification(tmp_path: Path, cli, search_json) -> None:
    lines = [
        f"2026-11-16 10:00:00 {ID1} H=mail.example.net [192.0.2.10]:4000 Warning: "
        '"SpamAssassin as cpaneleximscanner detected message as NOT spam (2.4)"',
        f"2026-11-16 10:00:00 {ID1} <= news@example.net H=mail.example.net [192.0.2.10]:4000 P=esmtps "
        "S=5000 for bob@example.com",
        f"2026-11-16 10:00:01 {ID2} Sender identification U=shopuser D=shop-example.com S=orders@shop-example.com",
        f"2026-11-16 10:00:01 {ID2} <= orders@shop-example.com U=shopuser P=local S=800 for c@example.org",
    ]
    cli("ingest", str(write_log(tmp_path / "log", lines)))
    events = {e["msgid"]: e for e in _events(search_json)}
    assert events[ID1]["spamscore"] == 2.4
    assert events[ID2]["sender"] == "orders@shop-example.com"


def test_smtp_time_rejection_is_an_event_with_its_line(tmp_path: Path, cli, search_json) -> None:
    line = (
        "2026-11-16 10:00:00 H=(friendly) [192.0.2.99]:51234 I=[198.51.100.1]:25 F=<promo@example.biz> "
        "rejected RCPT <bob@example.com>: JunkMail rejected - (friendly) [192.0.2.99]:51234 is in an RBL: "
        "zen.spamhaus.org"
    )
    cli("ingest", str(write_log(tmp_path / "log", [line])))
    [event] = _events(search_json, "--blocked")
    assert event["type"] == "rejected"
    assert (event["email"], event["recipient"]) == ("promo@example.biz", "bob@example.com")
    assert (event["senderhost"], event["senderip"]) == ("friendly", "192.0.2.99")
    assert event["reason"] == "blocklisted"


def test_sixteen_char_ids_and_reused_ids(tmp_path: Path, cli, search_json) -> None:
    lines = [
        f"2026-11-16 10:00:00 {OLD} <= a@example.net H=[192.0.2.1] P=esmtp S=10 for x@example.com",
        f"2026-11-16 10:00:00 {OLD} => x <x@example.com> R=localuser T=local_delivery",
        f"2026-11-16 10:00:00 {OLD} Completed",
        f"2026-11-16 11:00:00 {OLD} <= b@example.net H=[192.0.2.2] P=esmtp S=10 for y@example.com",
        f"2026-11-16 11:00:00 {OLD} => y <y@example.com> R=localuser T=local_delivery",
        f"2026-11-16 11:00:00 {OLD} Completed",
    ]
    cli("ingest", str(write_log(tmp_path / "log", lines)))
    events = _events(search_json, "--msgid", OLD)
    assert [(e["email"], e["recipient"]) for e in events] == [("a@example.net", "x@example.com"),
                                                             ("b@example.net", "y@example.com")]


def test_acl_discarded_recipients_are_filtered(tmp_path: Path, cli, search_json) -> None:
    lines = [
        f"2026-11-16 10:00:00 {ID1} <= spam@example.net H=[192.0.2.66] P=esmtp S=100 for a@example.com",
        f"2026-11-16 10:00:00 {ID1} => blackhole (DATA ACL discarded recipients): spam score too high",
        f"2026-11-16 10:00:00 {ID1} Completed",
    ]
    cli("ingest", str(write_log(tmp_path / "log", lines)))
    [event] = _events(search_json)
    assert (event["type"], event["recipient"]) == ("filtered", "a@example.com")
    assert event["message"] == "Discarded by the DATA ACL: spam score too high"


def test_records_name_the_accounts_that_own_sender_and_recipient(tmp_path: Path, cli, search_json) -> None:
    userdomains = tmp_path / "userdomains"
    userdomains.write_text("shop-example.com: shopuser\nexample.org: orguser\n*: nobody\n")
    owners = tmp_path / "trueuserowners"
    owners.write_text("shopuser: root\norguser: root\n")
    cli("users", "import-cpanel", "--userdomains", str(userdomains), "--trueuserowners", str(owners))
    lines = [ARRIVAL, f"2026-11-16 10:00:01 {ID1} => bob@example.org R=dnslookup T=remote_smtp H=mx [203.0.113.5]"]
    cli("ingest", str(write_log(tmp_path / "log", lines)))
    events = {e["recipient"]: e for e in _events(search_json)}
    bob = events["bob@example.org"]
    assert (bob["user"], bob["domain"]) == ("shopuser", "shop-example.com")
    assert (bob["deliveryuser"], bob["deliverydomain"]) == ("orguser", "example.org")
    carol = events["carol@example.net"]
    assert (carol["deliveryuser"], carol["deliverydomain"]) == ("-remote-", "-remote-")


def test_after_many_evictions_new_messages_still_cost_no_lookup(monkeypatch) -> None:
    """The evicted ids are remembered up to a bound; past it only ids as old as the forgotten ones are looked
    up (their times compared, from the ids), not every message that arrives afterwards."""
    from trackdelivery import correlate
    from trackdelivery.parse.exim import parse_exim_line

    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

    def exim_id(epoch: int, n: int) -> str:
        digits = "".join(alphabet[epoch // 62**i % 62] for i in reversed(range(6)))
        return f"{digits}-{n:011d}-AAAA"

    monkeypatch.setattr(correlate, "_MAX_EVICTED", 3)
    looked_up: list[str] = []
    c = correlate.Correlator(lambda msgid: looked_up.append(msgid), 1, 1, server="mx", cache_size=2)

    def feed(line: str) -> None:
        c.feed(parse_exim_line(line), line)

    start = 1_794_823_200  # 2026-11-16 10:00:00 UTC
    ids = [exim_id(start + 60 * i, i) for i in range(10)]
    for i, msgid in enumerate(ids):
        stamp = f"2026-11-16 10:{i:02d}:00"
        feed(f"{stamp} {msgid} <= a@example.net H=[192.0.2.1] P=esmtp S=1 for b@example.org")
        feed(f"{stamp} {msgid} Completed")  # done: out of the cache, into the evicted ids
    c.take_batch()  # written to the store
    assert looked_up == [] and list(c._evicted) == ids[-3:]
    assert c._horizon == correlate.id_time(ids[-4])  # the newest id forgotten
    feed(f"2026-11-16 10:20:00 {exim_id(start + 1200, 99)} <= a@example.net H=[192.0.2.1] P=esmtp S=1 for b@x.org")
    assert looked_up == []  # a new message: newer than every forgotten id, and not an evicted one
    feed(f"2026-11-16 11:00:00 {ids[8]} => b@example.org R=dnslookup T=remote_smtp")  # evicted, remembered
    feed(f"2026-11-16 11:00:00 {ids[1]} => b@example.org R=dnslookup T=remote_smtp")  # forgotten, but as old
    assert looked_up == [ids[8], ids[1]]
