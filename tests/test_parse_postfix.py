"""The Postfix line parser on real log lines (from ../shared/corpora/postfix), one shape per test."""

from __future__ import annotations

import calendar
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trackdelivery.detect import decided_format, detect_format, line_format
from trackdelivery.parse import postfix as pp
from trackdelivery.parse.postfix import SyslogYear, parse_postfix_line


@pytest.fixture(autouse=True, params=["compiled", "python"])
def implementation(request, monkeypatch):
    """Every test here runs twice: with the compiled fast path (which hands lines it does not read to
    Python), and with the Python reference alone (SyslogYear included)."""
    if request.param == "compiled":
        assert pp.COMPILED is not None, "the compiled Postfix parser is not built"
        impl = pp.COMPILED
    else:
        impl = pp.parse_postfix_line_py
    monkeypatch.setitem(globals(), "parse_postfix_line", impl)
    monkeypatch.setattr(pp, "parse_postfix_line", impl)
    return request.param


def parse(line: str) -> pp.PostfixLine:
    return parse_postfix_line(line, 2026)


def utc(text: str) -> int:
    return calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M:%S"))


# -- the syslog prefix -------------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "expected"), [
    ("Jun  3 10:40:57 mail postfix/qmgr[1005]: 4AA091855DA0: removed", "2026-06-03 10:40:57"),
    ("Jun 03 10:40:57 mail postfix/qmgr[1005]: 4AA091855DA0: removed", "2026-06-03 10:40:57"),  # zero-padded
    ("Mar 7 02:09:33 server postfix/qmgr[1005]: 4AA091855DA0: removed", "2026-03-07 02:09:33"),  # one space
    ("Jun 03 10:40:57.123456 mail postfix/qmgr[1005]: 4AA091855DA0: removed", "2026-06-03 10:40:57"),  # precise
    ("2022-01-08T19:42:13.583442+00:00 mail postfix/qmgr[659]: 1F5A2194AA9: removed", "2022-01-08 19:42:13"),
    ("2022-01-08T21:42:13+02:00 mail postfix/qmgr[659]: 1F5A2194AA9: removed", "2022-01-08 19:42:13"),
    ("2022-01-08T21:42:13.5+0200 mail postfix/qmgr[659]: 1F5A2194AA9: removed", "2022-01-08 19:42:13"),  # journald
    ("2022-01-08T19:42:13Z mail postfix/qmgr[659]: 1F5A2194AA9: removed", "2022-01-08 19:42:13"),
    ("2022-01-08 19:42:13 mail postfix/qmgr[659]: 1F5A2194AA9: removed", "2022-01-08 19:42:13"),  # local (UTC)
])  # fmt: skip
def test_timestamps(line: str, expected: str) -> None:
    parsed = parse(line)
    assert (parsed.kind, parsed.time) == (pp.REMOVED, utc(expected))
    assert parsed.yearless == (not line[0].isdigit())


def test_crlf_and_trailing_blanks() -> None:
    parsed = parse("Apr 27 16:45:44 lightmetermail postfix/qmgr[204]: ABD4E13D6B0: from=<a@example2.com>, "
                   "size=11803, nrcpt=1 (queue active) \r")  # fmt: skip
    assert (parsed.kind, parsed.fields["nrcpt"]) == (pp.QUEUED, "1")


@pytest.mark.parametrize(("program", "service"), [
    ("postfix/smtpd", "smtpd"),
    ("postfix/submission/smtpd", "smtpd"),
    ("postfix/smtps/smtpd", "smtpd"),
    ("postfix-out/smtp", "smtp"),
    ("postfix-170.55.103.23/cleanup", "cleanup"),
    ("postfix/sender-cleanup/cleanup", "cleanup"),
    ("postfix/smtp-25/smtpd", "smtpd"),
    ("mx-in/smtpd", "smtpd"),  # syslog_name = mx-in
])  # fmt: skip
def test_program_names_with_instances_and_services(program: str, service: str) -> None:
    parsed = parse(f"Jun  3 10:40:57 mail {program}[9708]: 4AA091855DA0: client=h.example.com[1.2.3.4]")
    assert (parsed.kind, parsed.program, parsed.service, parsed.host) == (pp.CLIENT, program, service, "mail")


@pytest.mark.parametrize("line", [
    "Jun  3 10:40:57 mail dovecot: lmtp(9956): Connect from local",
    "Jun  3 10:40:57 mail amavis[2279]: (02279-04) Passed CLEAN {RelayedOpenRelay}, [1.2.3.4]:6101",
    "Jun  3 10:40:57 mail opendkim[235]: 4AA091855DA0: DKIM-Signature field added (s=mail, d=mail.sender.com)",
    "Jan  1 16:26:57 secret exim[15407]: 2017-01-01 16:26:57",
])  # fmt: skip
def test_other_programs_lines(line: str) -> None:
    assert parse(line).kind == pp.OTHER


@pytest.mark.parametrize("line", ["ir/)", "[27-Oct-2020 12:00:37 +0100]: <20cd0a1a> x", "# failJSON: {}", "\x00\x01"])
def test_not_a_syslog_line(line: str) -> None:
    assert parse(line).kind == pp.UNKNOWN


def test_blank_line_is_nothing() -> None:
    assert parse("").kind == pp.NOTE and parse("  \r").kind == pp.NOTE


# -- queue ids ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("qid", ["4AA091855DA0", "0F5383D", "3mPVKl0Mhjz7sXv", "48rT2v1hQrz1J0N", "BABABABABA"])
def test_short_and_long_queue_ids(qid: str) -> None:
    assert parse(f"Jul  5 06:52:11 prd-mx1 postfix/qmgr[20459]: {qid}: removed").queue_id == qid


@pytest.mark.parametrize("word", ["warning", "statistics", "Trusted", "DECADE"])
def test_words_are_not_queue_ids(word: str) -> None:
    parsed = parse(f"Jul  5 06:52:11 prd-mx1 postfix/qmgr[20459]: {word}: something happened")
    assert parsed.queue_id == ("DECADE" if word == "DECADE" else "")  # six hex letters are an id


# -- smtpd -------------------------------------------------------------------------------------------


def test_connect() -> None:
    parsed = parse("Jun  3 10:40:57 mail postfix/submission/smtpd[9708]: connect from some.domain.name[1.2.3.4]")
    assert parsed.kind == pp.CONNECT
    assert parsed.fields == {"client_host": "some.domain.name", "client_ip": "1.2.3.4"}


def test_client_with_sasl() -> None:
    parsed = parse("Jun  3 10:40:57 mail postfix/submission/smtpd[9708]: 4AA091855DA0: "
                   "client=some.domain.name[1.2.3.4], sasl_method=PLAIN, sasl_username=user@sender.com")  # fmt: skip
    assert parsed.kind == pp.CLIENT and parsed.queue_id == "4AA091855DA0"
    assert parsed.fields == {"client_host": "some.domain.name", "client_ip": "1.2.3.4", "sasl_method": "PLAIN",
                             "sasl_username": "user@sender.com"}  # fmt: skip


def test_client_ipv6_and_xforward() -> None:
    parsed = parse("Feb  8 21:28:47 mx postfix/smtps/smtpd[1036]: DE81A2E2DAA: client=unknown[2a02:168:636a::15e2]")
    assert parsed.fields == {"client_host": "unknown", "client_ip": "2a02:168:636a::15e2"}
    parsed = parse("Oct 13 16:40:42 ucs postfix/smtpd[18581]: ED01244770: client=localhost[127.0.0.1], "
                   "orig_queue_id=4F5C64474F, orig_client=unknown[28.55.140.112]")  # fmt: skip
    assert parsed.fields["orig_queue_id"] == "4F5C64474F"
    assert (parsed.fields["orig_client_host"], parsed.fields["orig_client_ip"]) == ("unknown", "28.55.140.112")


def test_noqueue_reject_rcpt() -> None:
    parsed = parse("Jul 12 07:47:48 saturn postfix/smtpd[8738]: NOQUEUE: reject: RCPT from "
                   "1-2-3-4-example.com[1.2.3.4]: 554 5.7.1 <smtp@example.com>: Relay access denied; "
                   "from=<john@example.com> to=<smtp@example.org> proto=SMTP helo=<198.51.100.17>")  # fmt: skip
    assert (parsed.kind, parsed.queue_id) == (pp.REJECT, "")
    assert parsed.message == "554 5.7.1 <smtp@example.com>: Relay access denied"
    assert parsed.fields == {
        "action": "reject", "stage": "RCPT", "client_host": "1-2-3-4-example.com", "client_ip": "1.2.3.4",
        "from": "john@example.com", "to": "smtp@example.org", "proto": "SMTP", "helo": "198.51.100.17",
    }  # fmt: skip


def test_reject_reason_with_semicolons_and_url() -> None:
    parsed = parse("Dec 30 18:19:15 xxx postfix/smtpd[1574]: NOQUEUE: reject: RCPT from badguy.example.com"
                   "[93.184.216.34]: 454 4.7.1 Service unavailable; Client host [93.184.216.34] blocked using "
                   "rbl.example.com; http://www.example.com/query?ip=93.184.216.34; from=<spammer@example.com> "
                   "to=<goodguy@example.com> proto=ESMTP helo=<badguy.example.com>")  # fmt: skip
    assert parsed.message == ("454 4.7.1 Service unavailable; Client host [93.184.216.34] blocked using "
                              "rbl.example.com; http://www.example.com/query?ip=93.184.216.34")  # fmt: skip
    assert parsed.fields["to"] == "goodguy@example.com"


@pytest.mark.parametrize(("line", "stage", "to", "message"), [
    ("Feb  8 21:28:47 mx postfix/smtps/smtpd[1036]: DE81A2E2DAA: reject: RCPT from unknown[2a02:168:636a::15e2]: "
     "550 5.1.1 <a@b.com>: Recipient address rejected: User unknown in virtual mailbox table; from=<c@d.com> "
     "to=<a@b.com> proto=ESMTP helo=<[IPv6:2a02:168:636a::15e2]>", "RCPT", "a@b.com",
     "550 5.1.1 <a@b.com>: Recipient address rejected: User unknown in virtual mailbox table"),
    ("Oct 26 18:13:50 mx postfix/smtpd[42]: NOQUEUE: reject: VRFY from unknown[2001:968:9999:20::2]: 454 4.7.1 "
     "<aap@henk.com>: Relay access denied; to=<aap@henk.com> proto=SMTP helo=<me>", "VRFY", "aap@henk.com",
     "454 4.7.1 <aap@henk.com>: Relay access denied"),
    ("Jan 31 13:55:24 xxx postfix/smtpd[3462]: NOQUEUE: reject: EHLO from s271272.static.corbina.ru"
     "[78.107.251.238]: 504 5.5.2 <User>: Helo command rejected: need fully-qualified hostname; proto=SMTP "
     "helo=<User>", "EHLO", None, "504 5.5.2 <User>: Helo command rejected: need fully-qualified hostname"),
    ("Mar  7 02:09:33 server postfix/smtpd[27246]: 1D8CC1CA0A7F: milter-reject: DATA from 66-220.example.com"
     "[192.0.2.151]: 550 5.7.1 Command rejected; from=<s@mail.example.com> to=<h@example.com> proto=ESMTP "
     "helo=<192-0-2-151>", "DATA", "h@example.com", "550 5.7.1 Command rejected"),
    ("Jun  1 19:00:55 mail postfix/smtpd[7749]: NOQUEUE: reject: CONNECT from unknown[192.0.2.114]: 450 4.7.25 "
     "Client host rejected: cannot find your hostname, [178.215.236.114]; proto=SMTP", "CONNECT", None,
     "450 4.7.25 Client host rejected: cannot find your hostname, [178.215.236.114]"),
])  # fmt: skip
def test_reject_stages(line: str, stage: str, to: str | None, message: str) -> None:
    parsed = parse(line)
    assert (parsed.kind, parsed.fields["stage"], parsed.fields.get("to"), parsed.message) == (
        pp.REJECT, stage, to, message)  # fmt: skip


def test_postscreen_reject_with_commas() -> None:
    parsed = parse("May  5 15:51:11 xxx postfix/postscreen[1148]: NOQUEUE: reject: RCPT from [216.245.194.173]:60591: "
                   "550 5.7.1 Service unavailable; client [216.245.194.173] blocked using rbl.example.com; "
                   "from=<spammer@example.com>, to=<goodguy@example.com>, proto=ESMTP")  # fmt: skip
    assert parsed.kind == pp.REJECT and parsed.service == "postscreen"
    assert (parsed.fields["client_host"], parsed.fields["client_ip"], parsed.fields["client_port"]) == (
        "", "216.245.194.173", "60591")  # fmt: skip
    assert (parsed.fields["from"], parsed.fields["to"], parsed.fields["proto"]) == (
        "spammer@example.com", "goodguy@example.com", "ESMTP")  # fmt: skip
    assert parsed.message.endswith("blocked using rbl.example.com")


def test_postscreen_and_dnsblog_notes() -> None:
    assert parse("Jul  8 17:05:24 mail postfix/postscreen[21130]: DNSBL rank 2 for [1.2.3.4]:55382").kind == pp.NOTE
    parsed = parse("Jul  8 17:05:18 mail postfix/dnsblog[21133]: addr 1.2.3.4 listed by domain zen.spamhaus.org "
                   "as 127.0.0.3")  # fmt: skip
    assert (parsed.kind, parsed.fields) == (pp.DNSBL, {"ip": "1.2.3.4", "list": "zen.spamhaus.org",
                                                        "reply": "127.0.0.3"})  # fmt: skip


def test_reject_warning_filter_and_discard() -> None:
    warn = parse("Oct 26 18:13:50 mx postfix/smtpd[42]: NOQUEUE: reject_warning: RCPT from example.com"
                 "[93.184.216.34]: 553 5.7.1 <s@example.com>: Sender address rejected: not owned by user ph123; "
                 "from=<s@example.com> to=<r@example.com> proto=ESMTP helo=<example.com>")  # fmt: skip
    assert warn.kind == pp.NOTE
    flt = parse("Dec 17 06:28:56 sm02 postfix/submission/smtpd[115113]: NOQUEUE: filter: RCPT from unknown"
                "[11.22.33.44]: <s@x.com>: Sender address triggers FILTER smtp-amavis:[127.0.0.1]:10026; from=<s@x.com> "
                "to=<r@y.com> proto=ESMTP helo=<MsLy>")  # fmt: skip
    assert flt.kind == pp.NOTE
    discard = parse("Oct 26 18:13:50 mx postfix/smtpd[42]: NOQUEUE: discard: MAIL from ccm231.example.com"
                    "[208.75.123.231]: <b@in.example.com>: Sender address SPAM; from=<b@in.example.com> proto=ESMTP "
                    "helo=<ccm231.example.com>")  # fmt: skip
    assert (discard.kind, discard.message, discard.fields["from"]) == (
        pp.DISCARD, "<b@in.example.com>: Sender address SPAM", "b@in.example.com")  # fmt: skip


def test_proxy_accept_and_reject() -> None:
    accept = parse("Nov 16 11:03:15 server postfix/smtpd[30624]: proxy-accept: END-OF-MESSAGE: 250 2.0.0 from "
                   "MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 1FEB7E00C4; from=<zwroty@babino.pl> "
                   "to=<info@test2.com> proto=ESMTP helo=<misas5.babino.pl>")  # fmt: skip
    assert (accept.kind, accept.queue_id, accept.fields["helo"]) == (pp.PROXY_ACCEPT, "1FEB7E00C4", "misas5.babino.pl")
    reject = parse("Oct 26 18:13:50 mx postfix/smtpd[42]: proxy-reject: END-OF-MESSAGE: 554 5.7.0 Reject, contact "
                   "postmaster@example.com, id=31619-02 - spam; from=<> to=<user2@example2.com> proto=SMTP "
                   "helo=<17.33.12.53>")  # fmt: skip
    assert (reject.kind, reject.fields["action"], reject.fields["from"], reject.fields["to"]) == (
        pp.REJECT, "proxy-reject", "", "user2@example2.com")  # fmt: skip
    assert reject.message == "554 5.7.0 Reject, contact postmaster@example.com, id=31619-02 - spam"


# -- cleanup -----------------------------------------------------------------------------------------


def test_message_id_forms() -> None:
    assert parse("Jun  3 10:40:57 mail postfix/cleanup[9716]: 776E41855DB2: message-id=<ca10@mail.sender.com>"
                 ).fields == {"message_id": "ca10@mail.sender.com"}  # fmt: skip
    assert parse("Oct 13 16:40:40 ucs postfix/cleanup[18571]: 4F5C64474F: message-id=<>").fields == {"message_id": ""}
    odd = parse("Oct 26 18:13:50 mx postfix/cleanup[42]: 246884008A: message-id==?utf-8?B?PDIwMjAwNjEz?=")
    assert odd.fields == {"message_id": "=?utf-8?B?PDIwMjAwNjEz?="}


def test_cleanup_milter_reject() -> None:
    parsed = parse("Feb 16 22:23:12 mx postfix/cleanup[9060]: 769FF2E0760: milter-reject: END-OF-MESSAGE from "
                   "h-72f5[117.165.155.187]: 5.7.1 Spam message rejected; from=<h-59bd@h-183b.com> to=<h-688f@h-ff6b.com> "
                   "proto=ESMTP helo=<h-72f5>")  # fmt: skip
    assert (parsed.kind, parsed.fields["action"], parsed.fields["stage"], parsed.message) == (
        pp.REJECT, "milter-reject", "END-OF-MESSAGE", "5.7.1 Spam message rejected")  # fmt: skip


@pytest.mark.parametrize(("action", "kind"), [("reject", pp.REJECT), ("discard", pp.DISCARD), ("hold", pp.HOLD),
                                              ("warning", pp.CHECK_NOTE), ("info", pp.CHECK_NOTE),
                                              ("replace", pp.NOTE)])  # fmt: skip
def test_header_checks(action: str, kind: str) -> None:
    parsed = parse(f"Oct 26 18:13:50 mx postfix/cleanup[42]: D8B07E3DB6: {action}: header Subject: Cheap meds from "
                   "o1.example.net[167.89.17.173]; from=<b@example.net> to=<f@example.co.uk> proto=ESMTP "
                   "helo=<o1.example.net>: 5.7.1 Message content rejected")  # fmt: skip
    assert parsed.kind == kind
    if kind == pp.CHECK_NOTE:  # WARN and INFO only log: the subject is kept for the message's records
        assert parsed.fields["subject"] == "Cheap meds"
    if kind != pp.NOTE:
        assert parsed.fields["stage"] == "header" and parsed.fields["check"] == "Subject: Cheap meds"
        assert (parsed.fields["client_ip"], parsed.fields["to"]) == ("167.89.17.173", "f@example.co.uk")
        assert parsed.message == "5.7.1 Message content rejected"


def test_body_check_from_local_without_text() -> None:
    parsed = parse("Oct 26 18:13:50 mx postfix/cleanup[42]: D95341E50350: discard: body buy now from local; "
                   "from=<from@example.com> to=<to@example.com>")  # fmt: skip
    assert (parsed.kind, parsed.message, parsed.fields["to"]) == (pp.DISCARD, "body check: buy now", "to@example.com")
    assert "client_ip" not in parsed.fields


# -- qmgr, bounce, pickup, postsuper -------------------------------------------------------------------


def test_qmgr_lines() -> None:
    queued = parse("Jun  3 10:40:59 mail postfix/qmgr[1005]: A48191855DA0: from=<>, size=3147, nrcpt=1 (queue active)")
    assert (queued.kind, queued.fields) == (pp.QUEUED, {"from": "", "size": "3147", "nrcpt": "1"})
    expired = parse("Oct  3 12:39:14 mailhost postfix-12.34.56.78/qmgr[24086]: B54DA300087: "
                    "from=<redacted@company.com>, status=expired, returned to sender")  # fmt: skip
    assert (expired.kind, expired.fields["from"], expired.message) == (
        pp.EXPIRED, "redacted@company.com", "returned to sender")  # fmt: skip
    assert parse("Oct 26 18:13:50 mx postfix/qmgr[42]: ED06590130AA1C9D6D862: skipped, still being delivered"
                 ).kind == pp.NOTE  # fmt: skip


@pytest.mark.parametrize("notice", ["sender non-delivery notification", "sender delay notification",
                                    "sender delivery status notification", "postmaster non-delivery notification"])
def test_bounce_notifications(notice: str) -> None:
    parsed = parse(f"Jun  3 10:40:59 mail postfix/bounce[9719]: 776E41855DB2: {notice}: A48191855DA0")
    assert (parsed.kind, parsed.queue_id, parsed.fields["notice_id"]) == (
        pp.NOTIFICATION, "776E41855DB2", "A48191855DA0")  # fmt: skip
    assert parsed.fields["notification"] == notice


def test_pickup() -> None:
    parsed = parse("Feb  1 13:17:02 mail postfix/pickup[28541]: 08ACF1541B01: uid=0 from=<root>")
    assert (parsed.kind, parsed.fields) == (pp.PICKUP, {"uid": "0", "from": "root"})
    old = parse("Feb  1 13:17:02 mail postfix/pickup[28541]: 08ACF1541B01: sender=root")
    assert (old.kind, old.fields) == (pp.PICKUP, {"from": "root"})


@pytest.mark.parametrize(("body", "kind"), [("removed", pp.DELETED), ("requeued", pp.REQUEUED),
                                            ("placed on hold", pp.HELD), ("released from hold", pp.RELEASED)])
def test_postsuper(body: str, kind: str) -> None:
    assert parse(f"Oct 26 18:13:50 mx postfix/postsuper[42]: D4F2023DB: {body}").kind == kind
    assert parse("Oct 26 18:13:50 mx postfix/postsuper[42]: Deleted: 115 messages").kind == pp.NOTE


# -- deliveries --------------------------------------------------------------------------------------


def test_smtp_sent_with_orig_to_and_conn_use() -> None:
    parsed = parse("Sep  4 01:25:13 smtpnode06 postfix-170.55.103.23/smtp[6980]: BABABABABA: to=<a@b.com>, "
                   "orig_to=<c@d.com>, relay=170.55.103.23[170.55.103.23]:2501, conn_use=5, delay=0.95, "
                   "delays=0.17/0.75/0/0.03, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as CACACAC)")  # fmt: skip
    assert parsed.kind == pp.DELIVERY
    assert parsed.fields == {"to": "a@b.com", "orig_to": "c@d.com", "relay": "170.55.103.23[170.55.103.23]:2501",
                             "conn_use": "5", "delay": "0.95", "delays": "0.17/0.75/0/0.03", "dsn": "2.0.0",
                             "status": "sent"}  # fmt: skip
    assert parsed.message == "250 2.0.0 Ok: queued as CACACAC"
    assert pp.queued_as(parsed.message) == "CACACAC"


@pytest.mark.parametrize(("line", "status", "to", "relay", "message"), [
    ("Jan 10 16:15:30 mail postfix/lmtp[11996]: 400643011B47: to=<r@example.com>, relay=mail.example.com"
     "[private/dovecot-lmtp], delay=0.06, delays=0.02/0.02/0.01/0.01, dsn=2.0.0, status=sent (250 2.0.0 <r@example.com> "
     "hz3kESIo+1/dLgAAWP5Hkg Saved)", "sent", "r@example.com", "mail.example.com[private/dovecot-lmtp]",
     "250 2.0.0 <r@example.com> hz3kESIo+1/dLgAAWP5Hkg Saved"),
    ("Oct 26 18:13:50 mx postfix/local[42]: 892A0205B6: to=ghdsgfhdslfh@localhost, relay=local, delay=0.05, "
     'delays=0.02/0/0/0.02, dsn=5.1.1, status=bounced (unknown user: "ghdsgfhdslfh")', "bounced",
     "ghdsgfhdslfh@localhost", "local", 'unknown user: "ghdsgfhdslfh"'),
    ("Jul  8 17:05:25 mail postfix/virtual[21138]: EA015DF2B6: to=<r@x.com>, relay=virtual, delay=0.16, "
     "delays=0.11/0.03/0/0.02, dsn=2.0.0, status=sent (delivered to maildir)", "sent", "r@x.com", "virtual",
     "delivered to maildir"),
    ("Oct 26 18:13:50 mx postfix/pipe[42]: 95ECE24E0: to=<tom@example.com>, relay=dovecot, delay=0.12, "
     "delays=0.03/0/0/0.08, dsn=5.4.6, status=bounced (mail forwarding loop for tom@example.com)", "bounced",
     "tom@example.com", "dovecot", "mail forwarding loop for tom@example.com"),
    ("Oct 26 18:13:50 mx postfix/error[42]: 2DC5552A34: to=<user@yahoo.com>, relay=none, delay=63495, "
     "delays=63350/144/0/0, dsn=4.4.2, status=deferred (delivery temporarily suspended: lost connection with "
     "mta7.am0.yahoodns.net[98.136.216.22] while sending RCPT TO)", "deferred", "user@yahoo.com", "none",
     "delivery temporarily suspended: lost connection with mta7.am0.yahoodns.net[98.136.216.22] while sending "
     "RCPT TO"),
    ("Oct 26 18:13:50 mx postfix/discard[42]: 25F2E5E061: to=<g@test.example.com>, relay=none, delay=0.05, "
     "delays=0.05/0/0/0, dsn=2.0.0, status=sent (test.example.com)", "sent", "g@test.example.com", "none",
     "test.example.com"),
    ("Oct 26 18:13:50 mx postfix/smtp[42]: 7EE668039: to=<u@example.com>, relay=mail.example.com[1.2.3.4]:25, "
     "delay=3.6, delays=0.08/0.02/0.85/0.14, tls=dane/!requiretls:nocertmatch, dsn=2.1.5, status=sent (250 2.0.0 "
     "Ok: queued as 153053D)", "sent", "u@example.com", "mail.example.com[1.2.3.4]:25",
     "250 2.0.0 Ok: queued as 153053D"),
    ("Sep 30 20:46:08 smtpnode16 postfix-239.58.50.50/local[23557]: A7E673C067: to=<h@h.com>, relay=local, "
     "delay=0.14, delays=0.01/0/0.11/0.02, dsn=2.0.0, status=sent (delivered to command: procmail -a "
     '"$EXTENSION" DEFAULT=$HOME/Maild', "sent", "h@h.com", "local",
     'delivered to command: procmail -a "$EXTENSION" DEFAULT=$HOME/Maild'),  # cut by a newline in the log
])  # fmt: skip
def test_delivery_agents(line: str, status: str, to: str, relay: str, message: str) -> None:
    parsed = parse(line)
    assert (parsed.kind, parsed.fields["status"], parsed.fields["to"], parsed.fields["relay"], parsed.message) == (
        pp.DELIVERY, status, to, relay, message)  # fmt: skip


def test_address_probe_statuses_and_tls_field() -> None:
    probe = parse("Oct 26 18:13:50 mx postfix/error[42]: 3E29030F8637E: to=<user@yahoo.com>, relay=none, "
                  "delay=0.01, delays=0.01/0/0/0, dsn=5.1.1, status=undeliverable-but-not-cached (User unknown in "
                  "virtual alias table)")  # fmt: skip
    assert probe.fields["status"] == "undeliverable-but-not-cached"


def test_deferral_note_without_status() -> None:
    parsed = parse("Dec  7 13:28:02 mail postfix/smtp[18832]: A17F830001CA: host mailin5.example.com[11.22.33.44] "
                   "said: 451-You have been greylisted. (in reply to RCPT TO command)")  # fmt: skip
    assert (parsed.kind, parsed.queue_id) == (pp.NOTE, "A17F830001CA")


def test_endpoints_and_forwards() -> None:
    assert pp.split_endpoint("mx.example.com[192.0.2.1]:25") == ("mx.example.com", "192.0.2.1", "25")
    assert pp.split_endpoint("[2001:db8::1]:4711") == ("", "2001:db8::1", "4711")
    assert pp.split_endpoint("none") == ("none", "", "")
    assert pp.forwarded_as("forwarded as 2C9C5D1A2F") == "2C9C5D1A2F"
    assert pp.forwarded_as("delivered to mailbox") == ""


# -- years for yearless timestamps ------------------------------------------------------------------


def test_year_hint_and_guess() -> None:
    line = "Dec 31 23:59:59 mx postfix/qmgr[1]: 4AA091855DA0: removed"
    assert parse_postfix_line(line, 2020).time == utc("2020-12-31 23:59:59")
    now = utc("2027-01-05 00:00:00")
    assert pp.guess_year("Dec", "31", now) == 2026  # this year's Dec 31 is in the future
    assert pp.guess_year("Jan", "4", now) == 2027
    guessed = parse_postfix_line("Jan  1 00:00:00 mx postfix/qmgr[1]: 4AA091855DA0: removed").time
    assert guessed is not None and guessed <= time.time() + 86400


def test_new_year_rollover_within_a_file() -> None:
    years = SyslogYear(reference=utc("2027-01-02 12:00:00"))  # the file's mtime
    stamps = [years.parse(f"{stamp} mx postfix/qmgr[1]: 4AA091855DA0: removed").time for stamp in (
        "Dec 31 23:59:58", "Dec 31 23:59:59", "Jan  1 00:00:01", "Dec 31 23:59:59", "Jan  1 00:00:02")]  # fmt: skip
    assert stamps == [utc("2026-12-31 23:59:58"), utc("2026-12-31 23:59:59"), utc("2027-01-01 00:00:01"),
                      utc("2026-12-31 23:59:59"),  # a December line logged after a January one: the year before
                      utc("2027-01-01 00:00:02")]  # fmt: skip


def test_year_of_the_first_line_comes_from_the_reference() -> None:
    years = SyslogYear(reference=utc("2026-03-01 00:00:00"))
    assert years.parse("Jun  3 10:40:57 mail postfix/qmgr[1]: 4AA091855DA0: removed").time == utc("2025-06-03 10:40:57")
    years = SyslogYear(reference=utc("2026-07-01 00:00:00"))
    assert years.parse("Jun  3 10:40:57 mail postfix/qmgr[1]: 4AA091855DA0: removed").time == utc("2026-06-03 10:40:57")


def test_iso_lines_set_the_year_and_skip_inference() -> None:
    years = SyslogYear(reference=utc("2030-01-01 00:00:00"))
    assert years.parse("2022-01-08T19:42:13Z mail postfix/qmgr[1]: 1F5A2194AA9: removed").time == utc(
        "2022-01-08 19:42:13")


# -- format detection ---------------------------------------------------------------------------------


def test_detect_format(corpora: Path) -> None:
    postfix_head = (corpora / "postfix/lightmeter/individual_files/1_bounce_simple.log").read_bytes()[:1024]
    exim_head = (corpora / "exim/alaveteli/exim-mainlog-2016-04-28").read_bytes()[:1024]
    assert detect_format(postfix_head) == "postfix"
    assert detect_format(exim_head) == "exim"
    assert detect_format(b"") == "exim" and decided_format(b"hello\nworld\n") is None
    assert line_format("Jun  3 10:40:57 mail dovecot: lmtp(9956): Connect from local") is None
    assert line_format("2022-01-08T19:42:12.572958+00:00 mail postfix/submission/smtpd[19191]: connect from x[1.2.3.4]"
                       ) == "postfix"  # fmt: skip


# -- robustness -----------------------------------------------------------------------------------------

PREFIXES = ("", "Jun  3 10:40:57 mail postfix/smtpd[9708]: ", "Jun  3 10:40:57 mail postfix/smtpd[9708]: 4AA091855DA0: ",
            "2022-01-08T19:42:12+00:00 mail postfix/cleanup[1]: 1F5A2194AA9: ",
            "Oct 26 18:13:50 mx postfix/postscreen[42]: NOQUEUE: reject: ", "Jun  3 10:40:57 mail postfix/smtp[1]: "
            "4AA091855DA0: to=<", "Jun  3 10:40:57 mail postfix/bounce[1]: 4AA091855DA0: sender non-delivery "
            "notification: ", "Jun  3 10:40:57 mail postfix/smtp[1]: Untrusted TLS connection established to ",
            "Jun  3 10:40:57 mail postfix/cleanup[2]: 4AA091855DA0: info: header Subject: ")  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(prefix=st.sampled_from(PREFIXES), text=st.text(max_size=300))
def test_parser_never_raises(prefix: str, text: str) -> None:
    parsed = parse_postfix_line(prefix + text, 2026)
    assert parsed.kind in {pp.CONNECT, pp.CLIENT, pp.PICKUP, pp.MESSAGE_ID, pp.QUEUED, pp.DELIVERY, pp.EXPIRED,
                           pp.REMOVED, pp.NOTIFICATION, pp.REJECT, pp.DISCARD, pp.HOLD, pp.DELETED, pp.REQUEUED,
                           pp.HELD, pp.RELEASED, pp.PROXY_ACCEPT, pp.DNSBL, pp.TLS, pp.CHECK_NOTE, pp.NOTE,
                           pp.OTHER, pp.UNKNOWN}  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.sampled_from("Jan 0123:ab<>[]=,;:()/-. postfix/smtpd qmgr\r\t"), max_size=200))
def test_parser_never_raises_on_near_misses(text: str) -> None:
    SyslogYear(0).parse(text)
    parse_postfix_line(text)


@pytest.mark.parametrize(("line", "pid", "peer", "tls"), [
    ("Dec  9 10:18:23 mail postfix/submission/smtpd[20040]: Anonymous TLS connection established from "
     "i59f7fc34.versanet.de[89.247.252.52]: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) "
     "key-exchange X25519 server-signature RSA-PSS (2048 bits)",
     "20040", ("i59f7fc34.versanet.de", "89.247.252.52"), "TLSv1.3:TLS_AES_256_GCM_SHA384:256"),
    ("2022-01-08T19:42:12.572958+00:00 mx postfix/smtp[19191]: Trusted TLS connection established to "
     "aspmx.l.google.com[74.125.143.26]:25: TLSv1.2 with cipher ECDHE-ECDSA-AES128-GCM-SHA256 (128/128 bits)",
     "19191", ("aspmx.l.google.com", "74.125.143.26"), "TLSv1.2:ECDHE-ECDSA-AES128-GCM-SHA256:128"),
])
def test_tls_session_lines(line: str, pid: str, peer: tuple[str, str], tls: str) -> None:
    parsed = parse_postfix_line(line, 2020)
    assert parsed.kind == pp.TLS and parsed.pid == pid and parsed.queue_id == ""
    assert (parsed.fields["peer_host"], parsed.fields["peer_ip"]) == peer
    assert parsed.fields["tls"] == tls


def test_a_program_without_pid_has_an_empty_pid() -> None:
    parsed = parse_postfix_line("Dec  9 10:18:23 mail postfix/qmgr: 4AA091855DA0: removed", 2020)
    assert parsed.kind == pp.REMOVED and parsed.pid == ""
