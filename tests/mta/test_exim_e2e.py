"""Real Exim, real SMTP on loopback, the tracker following Exim's live main log.

Each test sends mail through the tests' own Exim (see exim.py for its domains and addresses), waits
for Exim to log the outcome, then checks that the tracker shows exactly the records a user would
expect — through the JSON API within 2 seconds of Exim writing the line, and through
``trackdelivery search``.
"""

from __future__ import annotations

import re

import pytest

from .conftest import Sinks
from .exim import AUTH_PASSWORD, AUTH_USER, BLOCKED, BLOCKED_MESSAGE, EximServer
from .maillog import LogLine
from .scenarios import SENDER, SINK_HOST, WAITING, mime_subject, tls_version_and_bits
from .tracker import ANY, Tracker, record

pytestmark = pytest.mark.mta

WAITING_AFTER = "In the queue: the last attempt was deferred, the server will try again ({why})"


def delivered(exim: EximServer, msgid: str, recipient: str):  # type: ignore[no-untyped-def]
    pattern = re.compile(re.escape(f"{msgid} => {recipient} "))
    return exim.log.wait_for(pattern, what=f"{msgid} => {recipient}")


def completed(exim: EximServer, msgid: str):  # type: ignore[no-untyped-def]
    return exim.log.wait_for(re.compile(re.escape(f"{msgid} Completed")), what=f"{msgid} Completed")


def test_local_mailbox_delivery_is_a_success(exim: EximServer, tracker: Tracker) -> None:
    sent = exim.send(SENDER, ["alice@local.test"], "Local delivery")
    line = delivered(exim, sent.msgid, "alice <alice@local.test>")
    tracker.expect("local mailbox delivery", {"msgid": sent.msgid}, [
        record("success", msgid=sent.msgid, email=SENDER, recipient="alice@local.test", message="Accepted",
               deliveredto="alice", router="local_user", transport="local_maildir", subject="Local delivery"),
    ], line, exim.log)
    assert any(b"Subject: Local delivery" in p.read_bytes() for p in exim.maildir_files("alice"))


def test_relay_records_the_remote_host_its_ip_and_its_reply(exim: EximServer, sinks: Sinks,
                                                             tracker: Tracker) -> None:
    rcpt = "carol.relay@accept.test"
    sent = exim.send(SENDER, [rcpt], "Relayed")
    line = delivered(exim, sent.msgid, rcpt)
    received = sinks.accept.message_for(rcpt)
    assert received is not None and received.mail_from == SENDER
    tracker.expect("relay to a remote server", {"msgid": sent.msgid}, [
        record("success", msgid=sent.msgid, email=SENDER, recipient=rcpt, host=SINK_HOST, ip=SINK_HOST,
               message=received.reply, router="accept_sink", transport="accept_smtp", transport_is_remote=1),
    ], line, exim.log)


def test_several_recipients_get_one_record_each(exim: EximServer, sinks: Sinks, tracker: Tracker) -> None:
    remote = ["erin.multi@accept.test", "frank.multi@accept.test"]
    sent = exim.send(SENDER, ["bob@local.test", *remote], "Three recipients")
    line = completed(exim, sent.msgid)
    replies = {r: sinks.accept.message_for(r) for r in remote}
    tracker.expect("several recipients", {"msgid": sent.msgid}, [
        record("success", msgid=sent.msgid, email=SENDER, recipient="bob@local.test", message="Accepted"),
        *(record("success", msgid=sent.msgid, email=SENDER, recipient=r, host=SINK_HOST, ip=SINK_HOST,
                 message=m.reply if m else "(the sink got nothing)") for r, m in replies.items()),
    ], line, exim.log)


def test_alias_delivery_keeps_the_address_the_mail_was_sent_to(exim: EximServer, tracker: Tracker) -> None:
    sent = exim.send(SENDER, ["sales@local.test"], "To the sales alias")  # sales → team → alice, bob
    line = completed(exim, sent.msgid)
    tracker.expect("alias chain", {"msgid": sent.msgid}, [
        record("success", msgid=sent.msgid, email=SENDER, recipient="sales@local.test", message="Accepted",
               deliveredto=mailbox, router="local_user")
        for mailbox in ("alice", "bob")
    ], line, exim.log)


def test_non_ascii_subject_is_recorded_as_exim_logged_it(exim: EximServer, tracker: Tracker) -> None:
    subject = "Élève — résumé ✓"
    sent = exim.send(SENDER, ["bob@local.test"], mime_subject(subject))
    arrival = exim.log.wait_for(re.compile(re.escape(f"{sent.msgid} <= ")))
    # Exim decodes the RFC 2047 header to UTF-8 and logs each non-ASCII byte as a backslash-octal escape.
    assert r'T="\303\211l\303\250ve \342\200\224 r\303\251sum\303\251 \342\234\223"' in arrival.text
    line = delivered(exim, sent.msgid, "bob <bob@local.test>")
    tracker.expect("non-ASCII subject", {"msgid": sent.msgid}, [
        record("success", msgid=sent.msgid, email=SENDER, recipient="bob@local.test", message="Accepted",
               subject=subject),
    ], line, exim.log)


def test_recipient_refused_by_the_acl_is_rejected(exim: EximServer, tracker: Tracker) -> None:
    sent = exim.send(SENDER, [BLOCKED], "Refused", expect_refusal=True)
    assert sent.msgid == "" and f"550 {BLOCKED_MESSAGE}" in sent.transcript
    line = exim.log.wait_for(re.compile(re.escape(f"rejected RCPT <{BLOCKED}>")))
    tracker.expect("RCPT rejected by the ACL", {"recipient": BLOCKED}, [
        record("rejected", email=SENDER, recipient=BLOCKED, message=BLOCKED_MESSAGE, reason="policy",
               senderhost="client.test", senderip="127.0.0.1"),
    ], line, exim.log)


def test_blackhole_alias_is_filtered(exim: EximServer, tracker: Tracker) -> None:
    sent = exim.send(SENDER, ["discard@local.test"], "Into the void")
    line = exim.log.wait_for(re.compile(re.escape(f"{sent.msgid} => :blackhole: <discard@local.test>")))
    tracker.expect("redirect to :blackhole:", {"msgid": sent.msgid}, [
        record("filtered", msgid=sent.msgid, email=SENDER, recipient="discard@local.test",
               message="Discarded", deliveredto=":blackhole:", router="blackhole"),
    ], line, exim.log)


def test_message_waiting_in_the_queue_is_in_progress(exim: EximServer, tracker: Tracker) -> None:
    rcpt = "gina@silent.test"  # the silent sink never answers: Exim waits for its greeting
    sent = exim.send(SENDER, [rcpt], "Still waiting")
    line = exim.log.wait_for(re.compile(re.escape(f"{sent.msgid} <= {SENDER} ")))
    tracker.expect("message in the queue", {"msgid": sent.msgid}, [
        record("inprogress", msgid=sent.msgid, email=SENDER, recipient=rcpt, message=WAITING),
    ], line, exim.log)


def test_silent_server_times_out_as_a_defer_and_the_message_waits(exim: EximServer, tracker: Tracker) -> None:
    rcpt = "hank@silent.test"
    sent = exim.send(SENDER, [rcpt], "Nobody answers")
    line = exim.log.wait_for(re.compile(re.escape(f"{sent.msgid} == {rcpt} ")), timeout=30)
    why = "Receiving server did not respond in time"
    tracker.expect("timeout", {"msgid": sent.msgid}, [
        record("defer", msgid=sent.msgid, email=SENDER, recipient=rcpt, host=SINK_HOST, ip=SINK_HOST,
               message="Connection timed out: SMTP timeout after initial connection",
               reason="connection_timeout", attempt=1),
        record("inprogress", msgid=sent.msgid, email=SENDER, recipient=rcpt,
               message=WAITING_AFTER.format(why=why)),
    ], line, exim.log)


def test_authenticated_submission_records_who_logged_in(exim: EximServer, sinks: Sinks,
                                                        tracker: Tracker) -> None:
    rcpt = "ivan.auth@accept.test"
    sender = f"{AUTH_USER}@local.test"
    sent = exim.send(sender, [rcpt], "Sent after logging in", auth=(AUTH_USER, AUTH_PASSWORD))
    line = delivered(exim, sent.msgid, rcpt)
    received = sinks.accept.message_for(rcpt)
    tracker.expect("authenticated submission", {"msgid": sent.msgid}, [
        record("success", msgid=sent.msgid, email=sender, sender=AUTH_USER, senderauth="plain",
               protocol="esmtpa", recipient=rcpt, host=SINK_HOST, ip=SINK_HOST,
               message=received.reply if received else ""),
    ], line, exim.log)


def logged_tls(line: LogLine) -> str:
    """The X= field of an Exim line as Exim wrote it, in its TLS library's names: Debian's GnuTLS build
    writes "X=TLS1.3:ECDHE_X25519__RSA_PSS_RSAE_SHA256__AES_256_GCM:256", an OpenSSL build
    "X=TLS1.3:TLS_AES_256_GCM_SHA384:256". The tracker must show exactly that."""
    m = re.search(r" X=(\S+)", line.text)
    assert m is not None, f"Exim logged no TLS session (X=) on:\n  {line.text}"
    assert m[1].startswith("TLS"), line.text
    return m[1]


def test_starttls_submission_records_the_tls_exim_logged(exim: EximServer, tracker: Tracker) -> None:
    sent = exim.send(SENDER, ["carol@local.test"], "Sent over STARTTLS", tls=True)
    arrival = exim.log.wait_for(re.compile(re.escape(f"{sent.msgid} <= {SENDER} ")))
    tls = logged_tls(arrival)
    assert " P=esmtps " in arrival.text  # esmtp with TLS
    assert tls_version_and_bits(tls) == tls_version_and_bits(sent.tls), (tls, sent.tls)  # swaks's session
    line = delivered(exim, sent.msgid, "carol <carol@local.test>")
    assert " X=" not in line.text  # a local delivery: the message's TLS is the client's
    tracker.expect("STARTTLS submission", {"msgid": sent.msgid}, [
        record("success", msgid=sent.msgid, email=SENDER, recipient="carol@local.test", message="Accepted",
               protocol="esmtps", tls=tls),
    ], line, exim.log)


def test_delivery_over_starttls_records_the_outbound_session(exim: EximServer, sinks: Sinks,
                                                             tracker: Tracker) -> None:
    rcpt = "kim@tls.test"
    sent = exim.send(SENDER, [rcpt], "Relayed over STARTTLS")  # in clear to Exim, over TLS to the sink
    arrival = exim.log.wait_for(re.compile(re.escape(f"{sent.msgid} <= {SENDER} ")))
    assert " X=" not in arrival.text
    line = delivered(exim, sent.msgid, rcpt)
    tls = logged_tls(line)
    received = sinks.tls.message_for(rcpt)
    assert received is not None and received.tls, "the TLS sink got the message in clear"
    assert tls_version_and_bits(tls) == tls_version_and_bits(received.tls), (tls, received.tls)
    tracker.expect("delivery over STARTTLS", {"msgid": sent.msgid}, [
        record("success", msgid=sent.msgid, email=SENDER, recipient=rcpt, host=SINK_HOST, ip=SINK_HOST,
               message=received.reply, router="tls_sink", transport="tls_smtp", transport_is_remote=1,
               tls=tls),
    ], line, exim.log)


def test_greylisted_message_is_deferred_then_delivered_by_a_queue_run(exim: EximServer, sinks: Sinks,
                                                                      tracker: Tracker) -> None:
    rcpt = "judy@greylist.test"
    sent = exim.send(SENDER, [rcpt], "Greylisted first")
    deferred = exim.log.wait_for(re.compile(re.escape(f"{sent.msgid} == {rcpt} ")))
    defer = record("defer", msgid=sent.msgid, email=SENDER, recipient=rcpt, host=SINK_HOST, ip=SINK_HOST,
                   message=f"SMTP error from remote mail server after RCPT TO:<{rcpt}>: "
                           f"{sinks.greylist.REPLY}",
                   reason="greylisted", attempt=1, router="greylist_sink", transport="greylist_smtp")
    why = "Delayed by greylisting (normal for a first message)"
    tracker.expect("greylisted (4xx)", {"msgid": sent.msgid}, [
        defer,
        record("inprogress", msgid=sent.msgid, email=SENDER, recipient=rcpt,
               message=WAITING_AFTER.format(why=why)),
    ], deferred, exim.log)

    sinks.greylist.release(rcpt)
    exim.run_queue(rcpt)
    line = delivered(exim, sent.msgid, rcpt)
    received = sinks.greylist.message_for(rcpt)
    tracker.expect("delivered by the queue run", {"msgid": sent.msgid}, [
        defer,
        record("success", msgid=sent.msgid, email=SENDER, recipient=rcpt, host=SINK_HOST, ip=SINK_HOST,
               message=received.reply if received else "", router="greylist_sink", transport="greylist_smtp"),
    ], line, exim.log)


def bounce_of(exim: EximServer, msgid: str) -> tuple[str, str]:
    """The bounce Exim made for ``msgid`` ("<= <> R=msgid") and the line delivering it to the sender."""
    arrival = exim.log.wait_for(re.compile(r" (?P<id>\S+) <= <> R=" + re.escape(msgid) + " "))
    bounce = re.search(r" (?P<id>\S+) <= <> ", arrival.text)
    assert bounce is not None
    return bounce["id"], arrival.text


def test_bounce_is_linked_to_the_message_that_failed(exim: EximServer, tracker: Tracker) -> None:
    rcpt = "mallory@reject.test"
    sent = exim.send(SENDER, [rcpt], "Will bounce")
    bounce_id, _ = bounce_of(exim, sent.msgid)
    line = delivered(exim, bounce_id, "dave <dave@local.test>")
    tracker.expect("5xx failure and its bounce", {"msgid": sent.msgid}, [
        record("failure", msgid=sent.msgid, email=SENDER, recipient=rcpt, host=SINK_HOST, ip=SINK_HOST,
               message=ANY, reason="unknown_user", dsn="5.1.1", parent_msgid=""),  # message: the next test
        record("success", msgid=bounce_id, email="", sender=exim.user, recipient=SENDER, message="Accepted",
               parent_msgid=sent.msgid, subject="Mail delivery failed: returning message to sender"),
    ], line, exim.log)
    story = tracker.api(f"/api/v1/messages/{sent.msgid}")
    assert story["linked"] == [bounce_id]


def test_remote_5xx_is_a_failure_with_the_remote_reply(exim: EximServer, sinks: Sinks,
                                                       tracker: Tracker) -> None:
    rcpt = "oscar@reject.test"
    sent = exim.send(SENDER, [rcpt], "Will bounce too")
    bounce_id, _ = bounce_of(exim, sent.msgid)
    line = delivered(exim, bounce_id, "dave <dave@local.test>")
    reply = sinks.reject.rcpt_reply(rcpt)
    tracker.expect("5xx failure", {"msgid": sent.msgid}, [
        record("failure", msgid=sent.msgid, email=SENDER, recipient=rcpt, host=SINK_HOST, ip=SINK_HOST,
               message=f"SMTP error from remote mail server after RCPT TO:<{rcpt}>: {reply}",
               reason="unknown_user"),
        record("success", msgid=bounce_id, email="", sender=exim.user, recipient=SENDER, message="Accepted"),
    ], line, exim.log)
