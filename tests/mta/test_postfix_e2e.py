"""Real Postfix, real SMTP on loopback, the tracker following Postfix's live mail log.

Each test sends mail through the tests' own Postfix (see postfix.py for its domains and addresses),
waits for Postfix to log the outcome, then checks that the tracker shows exactly the records a user
would expect — through the JSON API within 2 seconds of Postfix writing the line, and through
``trackdelivery search``. The scenarios are the Exim ones (test_exim_e2e.py), as Postfix logs them.
"""

from __future__ import annotations

import re

import pytest

from trackdelivery.correlate import RETRY_MESSAGE

from .conftest import Sinks
from .maillog import LogLine
from .postfix import (
    AUTH_PASSWORD,
    AUTH_USER,
    BLOCKED,
    BLOCKED_MESSAGE,
    DISCARD,
    DISCARD_TEXT,
    DROPPED,
    SILENT_TIMEOUT_SECONDS,
    PostfixServer,
)
from .scenarios import SENDER, SINK_HOST, WAITING, mime_subject
from .tracker import ANY, Tracker, record

pytestmark = pytest.mark.mta

MAILDIR = "delivered to maildir"  # virtual(8)'s status text


@pytest.fixture(scope="module")
def tracker(postfix_tracker: Tracker) -> Tracker:
    return postfix_tracker


def delivered(postfix: PostfixServer, msgid: str, recipient: str, status: str = "sent",
              timeout: float = 15) -> LogLine:
    """The line of ``msgid``'s outcome for ``recipient`` ("ID: to=<rcpt>, ... status=sent (...)")."""
    pattern = re.compile(re.escape(f" {msgid}: to=<{recipient}>,") + r".* status=" + re.escape(status) + " ")
    return postfix.log.wait_for(pattern, timeout=timeout, what=f"{msgid}: to=<{recipient}> status={status}")


def removed(postfix: PostfixServer, msgid: str) -> LogLine:
    """qmgr's "ID: removed": every recipient of the message has its outcome."""
    return postfix.log.wait_for(re.compile(re.escape(f" {msgid}: removed")), what=f"{msgid}: removed")


def queued(postfix: PostfixServer, msgid: str) -> LogLine:
    """qmgr's "ID: from=<...>, size=N, nrcpt=M (queue active)": the message is in the queue."""
    return postfix.log.wait_for(re.compile(re.escape(f" {msgid}: from=<") + r".* \(queue active\)"),
                                what=f"{msgid}: (queue active)")


def test_local_mailbox_delivery_is_a_success(postfix: PostfixServer, tracker: Tracker) -> None:
    sent = postfix.send(SENDER, ["alice@local.test"], "Local delivery")
    line = delivered(postfix, sent.msgid, "alice@local.test")
    tracker.expect("local mailbox delivery", {"msgid": sent.msgid}, [
        record("success", msgid=sent.msgid, email=SENDER, recipient="alice@local.test", message=MAILDIR,
               deliveredto="alice@local.test", transport="virtual", senderhost="localhost",
               senderip="127.0.0.1", subject="Local delivery"),
    ], line, postfix.log)
    assert any(b"Subject: Local delivery" in p.read_bytes() for p in postfix.maildir_files("alice"))


def test_relay_records_the_remote_host_its_ip_and_its_reply(postfix: PostfixServer, sinks: Sinks,
                                                             tracker: Tracker) -> None:
    rcpt = "carol.relay@accept.test"
    sent = postfix.send(SENDER, [rcpt], "Relayed")
    line = delivered(postfix, sent.msgid, rcpt)
    received = sinks.accept.message_for(rcpt)
    assert received is not None and received.mail_from == SENDER
    tracker.expect("relay to a remote server", {"msgid": sent.msgid}, [
        record("success", msgid=sent.msgid, email=SENDER, recipient=rcpt, host=SINK_HOST, ip=SINK_HOST,
               message=received.reply, deliveredto=rcpt, transport="smtp", transport_is_remote=1,
               dsn="2.0.0"),
    ], line, postfix.log)


def test_several_recipients_get_one_record_each(postfix: PostfixServer, sinks: Sinks,
                                                tracker: Tracker) -> None:
    remote = ["erin.multi@accept.test", "frank.multi@accept.test"]
    sent = postfix.send(SENDER, ["bob@local.test", *remote], "Three recipients")
    line = removed(postfix, sent.msgid)
    replies = {r: sinks.accept.message_for(r) for r in remote}
    tracker.expect("several recipients", {"msgid": sent.msgid}, [
        record("success", msgid=sent.msgid, email=SENDER, recipient="bob@local.test", message=MAILDIR),
        *(record("success", msgid=sent.msgid, email=SENDER, recipient=r, host=SINK_HOST, ip=SINK_HOST,
                 message=m.reply if m else "(the sink got nothing)") for r, m in replies.items()),
    ], line, postfix.log)


def test_alias_delivery_keeps_the_address_the_mail_was_sent_to(postfix: PostfixServer,
                                                               tracker: Tracker) -> None:
    sent = postfix.send(SENDER, ["sales@local.test"], "To the sales alias")  # sales → team → alice, bob
    line = removed(postfix, sent.msgid)
    # virtual_alias_maps rewrite at cleanup: Postfix logs "to=<alice@local.test>, orig_to=<sales@local.test>".
    tracker.expect("alias chain", {"msgid": sent.msgid}, [
        record("success", msgid=sent.msgid, email=SENDER, recipient="sales@local.test", message=MAILDIR,
               deliveredto=f"{mailbox}@local.test")
        for mailbox in ("alice", "bob")
    ], line, postfix.log)


def test_non_ascii_subject_is_recorded_from_the_header_checks_line(postfix: PostfixServer,
                                                                  tracker: Tracker) -> None:
    subject = "Élève — résumé ✓"
    encoded = mime_subject(subject)
    sent = postfix.send(SENDER, ["bob@local.test"], encoded)
    # Postfix logs a header only through header_checks (here "/^Subject:/ INFO"), as it is: RFC 2047.
    logged = postfix.log.wait_for(re.compile(re.escape(f" {sent.msgid}: info: header Subject: ")))
    assert f"info: header Subject: {encoded} from localhost[127.0.0.1]; from=<{SENDER}> " \
           "to=<bob@local.test> proto=ESMTP helo=<client.test>" in logged.text
    line = delivered(postfix, sent.msgid, "bob@local.test")
    tracker.expect("non-ASCII subject", {"msgid": sent.msgid}, [
        record("success", msgid=sent.msgid, email=SENDER, recipient="bob@local.test", message=MAILDIR,
               subject=subject),
    ], line, postfix.log)


def test_recipient_refused_by_an_access_map_is_rejected(postfix: PostfixServer, tracker: Tracker) -> None:
    sent = postfix.send(SENDER, [BLOCKED], "Refused", expect_refusal=True)
    reply = f"554 5.7.1 <{BLOCKED}>: Recipient address rejected: {BLOCKED_MESSAGE}"
    assert sent.msgid == "" and reply in sent.transcript
    line = postfix.log.wait_for(re.compile(re.escape(f"NOQUEUE: reject: RCPT from localhost[127.0.0.1]: {reply};")))
    tracker.expect("RCPT rejected by check_recipient_access", {"recipient": BLOCKED}, [
        record("rejected", email=SENDER, recipient=BLOCKED, message=reply, reason="policy",
               senderhost="localhost", senderip="127.0.0.1", dsn="5.7.1", protocol="esmtp"),
    ], line, postfix.log)


def test_discard_transport_is_filtered(postfix: PostfixServer, tracker: Tracker) -> None:
    sent = postfix.send(SENDER, [DISCARD], "Into the void")
    line = delivered(postfix, sent.msgid, DISCARD)
    tracker.expect("discard: transport", {"msgid": sent.msgid}, [
        record("filtered", msgid=sent.msgid, email=SENDER, recipient=DISCARD,
               message=f"Discarded: {DISCARD_TEXT}", transport="discard"),
    ], line, postfix.log)


def test_access_discard_action_is_filtered_without_a_queue_id(postfix: PostfixServer,
                                                              tracker: Tracker) -> None:
    sent = postfix.send(SENDER, [DROPPED], "Dropped at RCPT")
    # smtpd discards before it opens a queue file (NOQUEUE), then still answers DATA with a queue id that
    # Postfix never mentions again after "ID: client=...".
    line = postfix.log.wait_for(re.compile(re.escape(f"NOQUEUE: discard: RCPT from localhost[127.0.0.1]: "
                                                     f"<{DROPPED}>: Recipient address triggers DISCARD action;")))
    postfix.log.wait_for(re.compile(re.escape(f" {sent.msgid}: client=localhost[127.0.0.1]")))
    tracker.expect("access DISCARD action", {"recipient": DROPPED}, [
        record("filtered", email=SENDER, recipient=DROPPED, senderhost="localhost", senderip="127.0.0.1",
               message=f"Discarded: <{DROPPED}>: Recipient address triggers DISCARD action"),
    ], line, postfix.log)
    assert tracker.api_search(msgid=sent.msgid) == []


def test_message_waiting_in_the_queue_is_in_progress(postfix: PostfixServer, tracker: Tracker) -> None:
    rcpt = "gina@silent.test"  # the silent sink never answers: Postfix waits for its greeting
    sent = postfix.send(SENDER, [rcpt], "Still waiting")
    line = queued(postfix, sent.msgid)
    # Postfix names a recipient only when it logs its outcome: the waiting record has none.
    tracker.expect("message in the queue", {"msgid": sent.msgid}, [
        record("inprogress", msgid=sent.msgid, email=SENDER, recipient="", message=WAITING),
    ], line, postfix.log)


def test_silent_server_times_out_as_a_defer_and_the_message_waits(postfix: PostfixServer,
                                                                  tracker: Tracker) -> None:
    rcpt = "hank@silent.test"
    sent = postfix.send(SENDER, [rcpt], "Nobody answers")
    line = delivered(postfix, sent.msgid, rcpt, "deferred", timeout=SILENT_TIMEOUT_SECONDS * 4)
    why = "conversation with 127.0.0.1[127.0.0.1] timed out while receiving the initial server greeting"
    tracker.expect("timeout", {"msgid": sent.msgid}, [
        record("defer", msgid=sent.msgid, email=SENDER, recipient=rcpt, host=SINK_HOST, ip=SINK_HOST,
               message=why, reason="connection_timeout", attempt=1, dsn="4.4.2"),
        record("inprogress", msgid=sent.msgid, email=SENDER, recipient=rcpt, message=f"{RETRY_MESSAGE} ({why})"),
    ], line, postfix.log)


def test_authenticated_submission_records_who_logged_in(postfix: PostfixServer, sinks: Sinks,
                                                        tracker: Tracker) -> None:
    rcpt = "ivan.auth@accept.test"
    sender = f"{AUTH_USER}@local.test"
    sent = postfix.send(sender, [rcpt], "Sent after logging in", auth=(AUTH_USER, AUTH_PASSWORD))
    assert AUTH_USER in postfix.auth.logins
    postfix.log.wait_for(re.compile(re.escape(f" {sent.msgid}: client=localhost[127.0.0.1], "
                                              f"sasl_method=PLAIN, sasl_username={AUTH_USER}")))
    line = delivered(postfix, sent.msgid, rcpt)
    received = sinks.accept.message_for(rcpt)
    tracker.expect("authenticated submission", {"msgid": sent.msgid}, [
        record("success", msgid=sent.msgid, email=sender, sender=AUTH_USER, senderauth="PLAIN",
               protocol="smtp", recipient=rcpt, host=SINK_HOST, ip=SINK_HOST,
               message=received.reply if received else ""),
    ], line, postfix.log)


# smtpd/smtp with *_tls_loglevel = 1, e.g. "postfix/smtpd[4242]: Anonymous TLS connection established from
# localhost[127.0.0.1]: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519
# server-signature RSA-PSS (2048 bits) server-digest SHA256"; smtp's: "Untrusted TLS connection
# established to 127.0.0.1[127.0.0.1]:PORT: TLSv1.3 with cipher ...".
_TLS_SESSION_RE = re.compile(
    r"postfix/(?P<process>\w+\[\d+\]): \w+ TLS connection established (?:from|to) (?P<peer>\S+): "
    r"(?P<protocol>\S+) with cipher (?P<cipher>\S+) \((?P<bits>\d+)/\d+ bits\)")
_PROCESS_RE = re.compile(r"postfix/(\w+\[\d+\]): ")


def logged_tls(postfix: PostfixServer, used_by: LogLine, peer: str) -> str:
    """The TLS session with ``peer`` that the process which wrote ``used_by`` logged last before it, as
    the tracker must show it: "protocol:cipher:bits" ("TLSv1.3:TLS_AES_256_GCM_SHA384:256")."""
    process = _PROCESS_RE.search(used_by.text)
    assert process is not None, used_by.text
    session = None
    for line in postfix.log.lines:
        if line is used_by:
            break
        m = _TLS_SESSION_RE.search(line.text)
        if m is not None and m["process"] == process[1]:
            session = m
    assert session is not None, f"postfix/{process[1]} logged no TLS session before:\n  {used_by.text}"
    assert session["peer"] == peer and session["protocol"].startswith("TLS"), session[0]
    return f"{session['protocol']}:{session['cipher']}:{session['bits']}"


def test_starttls_submission_records_the_tls_smtpd_logged(postfix: PostfixServer, tracker: Tracker) -> None:
    sent = postfix.send(SENDER, ["carol@local.test"], "Sent over STARTTLS", tls=True)
    client = postfix.log.wait_for(re.compile(re.escape(f" {sent.msgid}: client=localhost[127.0.0.1]")))
    tls = logged_tls(postfix, client, "localhost[127.0.0.1]")
    assert tls == sent.tls  # the session swaks negotiated
    line = delivered(postfix, sent.msgid, "carol@local.test")
    tracker.expect("STARTTLS submission", {"msgid": sent.msgid}, [
        record("success", msgid=sent.msgid, email=SENDER, recipient="carol@local.test", message=MAILDIR,
               tls=tls),
    ], line, postfix.log)


def test_delivery_over_starttls_records_the_outbound_session(postfix: PostfixServer, sinks: Sinks,
                                                             tracker: Tracker) -> None:
    rcpt = "kim@tls.test"
    sent = postfix.send(SENDER, [rcpt], "Relayed over STARTTLS")  # in clear to Postfix, over TLS to the sink
    assert sent.tls == ""
    line = delivered(postfix, sent.msgid, rcpt)
    tls = logged_tls(postfix, line, f"{SINK_HOST}[{SINK_HOST}]:{sinks.tls.port}")
    received = sinks.tls.message_for(rcpt)
    assert received is not None and received.tls == tls, "the TLS sink got the message another way"
    tracker.expect("delivery over STARTTLS", {"msgid": sent.msgid}, [
        record("success", msgid=sent.msgid, email=SENDER, recipient=rcpt, host=SINK_HOST, ip=SINK_HOST,
               message=received.reply, transport="smtp", transport_is_remote=1, tls=tls),
    ], line, postfix.log)


def test_delivery_in_clear_after_a_tls_one_has_no_tls(postfix: PostfixServer, sinks: Sinks,
                                                     tracker: Tracker) -> None:
    # Usually the smtp process of the previous test delivers this one too: its TLS session with the tls
    # sink (another port of 127.0.0.1) is not this delivery's.
    rcpt = "lena.plain@accept.test"
    sent = postfix.send(SENDER, [rcpt], "Relayed in clear")
    line = delivered(postfix, sent.msgid, rcpt)
    received = sinks.accept.message_for(rcpt)
    assert received is not None and received.tls == ""
    tracker.expect("delivery in clear after one over STARTTLS", {"msgid": sent.msgid}, [
        record("success", msgid=sent.msgid, email=SENDER, recipient=rcpt, host=SINK_HOST, ip=SINK_HOST,
               message=received.reply, tls=""),
    ], line, postfix.log)


def test_greylisted_message_is_deferred_then_delivered_by_a_queue_run(postfix: PostfixServer, sinks: Sinks,
                                                                      tracker: Tracker) -> None:
    rcpt = "judy@greylist.test"
    sent = postfix.send(SENDER, [rcpt], "Greylisted first")
    deferred = delivered(postfix, sent.msgid, rcpt, "deferred")
    said = f"host 127.0.0.1[127.0.0.1] said: {sinks.greylist.REPLY} (in reply to RCPT TO command)"
    defer = record("defer", msgid=sent.msgid, email=SENDER, recipient=rcpt, host=SINK_HOST, ip=SINK_HOST,
                   message=said, reason="greylisted", attempt=1, dsn="4.7.1", transport="smtp")
    tracker.expect("greylisted (4xx)", {"msgid": sent.msgid}, [
        defer,
        record("inprogress", msgid=sent.msgid, email=SENDER, recipient=rcpt, message=f"{RETRY_MESSAGE} ({said})"),
    ], deferred, postfix.log)

    sinks.greylist.release(rcpt)
    postfix.run_queue(sent.msgid)
    line = delivered(postfix, sent.msgid, rcpt)
    received = sinks.greylist.message_for(rcpt)
    tracker.expect("delivered by the queue run", {"msgid": sent.msgid}, [
        defer,
        record("success", msgid=sent.msgid, email=SENDER, recipient=rcpt, host=SINK_HOST, ip=SINK_HOST,
               message=received.reply if received else "", transport="smtp"),
    ], line, postfix.log)


def bounce_of(postfix: PostfixServer, msgid: str) -> str:
    """The queue id of the bounce Postfix made for ``msgid`` ("ID: sender non-delivery notification: ID2")."""
    line = postfix.log.wait_for(re.compile(re.escape(f" {msgid}: sender non-delivery notification: ")))
    return line.text.rsplit(" ", 1)[1]


def test_bounce_is_linked_to_the_message_that_failed(postfix: PostfixServer, tracker: Tracker) -> None:
    rcpt = "mallory@reject.test"
    sent = postfix.send(SENDER, [rcpt], "Will bounce")
    bounce_id = bounce_of(postfix, sent.msgid)
    line = delivered(postfix, bounce_id, SENDER)
    tracker.expect("5xx failure and its bounce", {"msgid": sent.msgid}, [
        record("failure", msgid=sent.msgid, email=SENDER, recipient=rcpt, host=SINK_HOST, ip=SINK_HOST,
               message=ANY, reason="unknown_user", dsn="5.1.1", parent_msgid=""),  # message: the next test
        record("success", msgid=bounce_id, email="", sender="", recipient=SENDER, message=MAILDIR,
               parent_msgid=sent.msgid, subject=""),
    ], line, postfix.log)
    story = tracker.api(f"/api/v1/messages/{sent.msgid}")
    assert story["linked"] == [bounce_id]


def test_remote_5xx_is_a_failure_with_the_remote_reply(postfix: PostfixServer, sinks: Sinks,
                                                       tracker: Tracker) -> None:
    rcpt = "oscar@reject.test"
    sent = postfix.send(SENDER, [rcpt], "Will bounce too")
    bounce_id = bounce_of(postfix, sent.msgid)
    line = delivered(postfix, bounce_id, SENDER)
    reply = sinks.reject.rcpt_reply(rcpt)
    tracker.expect("5xx failure", {"msgid": sent.msgid}, [
        record("failure", msgid=sent.msgid, email=SENDER, recipient=rcpt, host=SINK_HOST, ip=SINK_HOST,
               message=f"host 127.0.0.1[127.0.0.1] said: {reply} (in reply to RCPT TO command)",
               reason="unknown_user"),
        record("success", msgid=bounce_id, email="", recipient=SENDER, message=MAILDIR),
    ], line, postfix.log)
