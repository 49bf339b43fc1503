"""Exim main-log parser: one behaviour per test, on hand-written lines in Exim's format and on real corpora.

The hand-written lines follow the real logs under ../shared/corpora/exim but use documentation addresses
(example.com/net/org, 192.0.2.x, 198.51.100.x) and made-up message ids. Times are epochs with TZ=UTC
(conftest.py sets it).
"""

from __future__ import annotations

import calendar
import re
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from trackdelivery.parse import exim
from trackdelivery.parse.exim import (
    ARRIVAL,
    CANCELLED,
    COMPLETED,
    DEFER,
    DELIVERY,
    FAILURE,
    FROZEN,
    NOTE,
    REJECTED,
    REMOVED,
    SENDER_ID,
    SPAM_SCORE,
    UNFROZEN,
    UNKNOWN,
    EximLine,
    local_epoch,
    parse_exim_line,
    split_host,
    unquote,
)

ALL_KINDS = {
    ARRIVAL,
    DELIVERY,
    DEFER,
    FAILURE,
    COMPLETED,
    REJECTED,
    SPAM_SCORE,
    SENDER_ID,
    FROZEN,
    UNFROZEN,
    CANCELLED,
    REMOVED,
    NOTE,
    UNKNOWN,
}
ID = "1vQk7Z-00000002aB3-x9Yz"  # 23-char id (Exim >= 4.97)
BOUNCE_ID = "1vQk8A-00000002aC4-Lm2N"
T0 = calendar.timegm((2026, 11, 16, 10, 0, 0))  # "2026-11-16 10:00:00" in UTC


@pytest.fixture(autouse=True, params=["compiled", "python"])
def implementation(request, monkeypatch):
    """Every test here runs twice: with the compiled fast path (which hands lines it does not read to
    Python), and with the Python reference alone."""
    if request.param == "compiled":
        assert exim.COMPILED is not None, "the compiled Exim parser is not built"
        monkeypatch.setitem(globals(), "parse_exim_line", exim.COMPILED)
    else:
        monkeypatch.setitem(globals(), "parse_exim_line", exim.parse_exim_line_py)
    return request.param


def parse(text: str) -> EximLine:
    result = parse_exim_line(text)
    assert result.kind in ALL_KINDS
    return result


# --- arrivals "<=" --------------------------------------------------------------------------------


def test_arrival_is_recognised_with_sender_and_time():
    line = parse(f"2026-11-16 10:00:00 {ID} <= alice@example.com H=[192.0.2.10] P=smtp S=1234")
    assert (line.kind, line.flag, line.msgid) == (ARRIVAL, "<=", ID)
    assert line.address == "alice@example.com"
    assert line.time == T0


def test_arrival_host_with_only_an_ip_gives_the_ip():
    line = parse(f"2026-11-16 10:00:00 {ID} <= alice@example.com H=[192.0.2.10] P=smtp S=1234")
    assert line.fields["H"] == "[192.0.2.10]"
    assert split_host(line.fields["H"]) == ("", "", "192.0.2.10", "")


def test_arrival_host_with_helo_and_ip_gives_both():
    line = parse(
        f"2026-11-16 10:00:00 {ID} <= alice@example.com H=(client.example.net) [192.0.2.11] P=esmtp S=99"
    )
    assert split_host(line.fields["H"]) == ("", "client.example.net", "192.0.2.11", "")
    assert line.fields["P"] == "esmtp"


def test_arrival_host_with_name_and_ip_gives_both():
    line = parse(
        f"2026-11-16 10:00:00 {ID} <= alice@example.com H=mail.example.net [192.0.2.12] P=esmtp S=99"
    )
    assert split_host(line.fields["H"]) == ("mail.example.net", "", "192.0.2.12", "")


def test_arrival_host_with_name_helo_ip_and_port_gives_all_four():
    line = parse(
        f"2026-11-16 10:00:00 {ID} <= alice@example.com H=mail.example.net (client.example.net) "
        "[192.0.2.13]:54321 I=[198.51.100.5]:25 P=esmtps S=99"
    )
    assert split_host(line.fields["H"]) == ("mail.example.net", "client.example.net", "192.0.2.13", "54321")
    assert line.fields["I"] == "[198.51.100.5]:25"


def test_arrival_host_with_ipv6_address_gives_the_address_and_port():
    line = parse(f"2026-11-16 10:00:00 {ID} <= alice@example.com H=(client) [2001:db8::10]:4711 P=esmtp S=99")
    assert split_host(line.fields["H"]) == ("", "client", "2001:db8::10", "4711")


def test_arrival_reads_protocol_tls_cipher_and_certificate_check():
    line = parse(
        f"2026-11-16 10:00:00 {ID} <= alice@example.com H=(client.example.net) [192.0.2.13]:54321 "
        "I=[198.51.100.5]:587 P=esmtpsa X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no S=4321"
    )
    assert line.fields["P"] == "esmtpsa"
    assert line.fields["X"] == "TLS1.3:TLS_AES_256_GCM_SHA384:256"
    assert line.fields["CV"] == "no"


def test_arrival_reads_authenticator_and_login_id():
    line = parse(
        f"2026-11-16 10:00:00 {ID} <= alice@example.com H=(client) [192.0.2.13]:54321 P=esmtpa "
        "A=dovecot_login:alice@example.com S=4321"
    )
    assert line.fields["A"] == "dovecot_login:alice@example.com"


def test_arrival_reads_size_and_message_id_header():
    line = parse(
        f"2026-11-16 10:00:00 {ID} <= alice@example.com U=alice P=local S=4321 "
        "id=20261116100000.GA42@client.example.com"
    )
    assert line.fields["S"] == "4321"
    assert line.fields["id"] == "20261116100000.GA42@client.example.com"


def test_arrival_subject_unquotes_escaped_quotes_and_keeps_non_ascii():
    line = parse(
        f"2026-11-16 10:00:00 {ID} <= alice@example.com U=alice P=local S=4321 "
        'T="Quarterly \\"report\\" f\u00fcr J\u00fcrgen \u2013 \u65e5\u672c" from <alice@example.com> '
        "for bob@example.net"
    )
    assert unquote(line.fields["T"]) == 'Quarterly "report" f\u00fcr J\u00fcrgen \u2013 \u65e5\u672c'


def test_arrival_subject_with_backslash_is_unescaped_once():
    line = parse(f'2026-11-16 10:00:00 {ID} <= alice@example.com U=alice P=local S=1 T="C:\\\\temp \\"x\\""')
    assert unquote(line.fields["T"]) == 'C:\\temp "x"'


def test_arrival_lists_every_recipient_after_for():
    line = parse(
        f'2026-11-16 10:00:00 {ID} <= alice@example.com U=alice P=local S=4321 T="Hi" '
        "from <alice@example.com> for bob@example.net carol@example.net dave@example.org"
    )
    assert line.recipients == ["bob@example.net", "carol@example.net", "dave@example.org"]


def test_arrival_reads_envelope_from():
    line = parse(
        f'2026-11-16 10:00:00 {ID} <= alice@example.com U=alice P=local S=1 T="Hi" '
        "from <alice@example.com> for bob@example.net"
    )
    assert line.fields["from"] == "alice@example.com"


def test_arrival_subject_containing_for_is_not_the_recipient_list():
    line = parse(
        f'2026-11-16 10:00:00 {ID} <= alice@example.com U=alice P=local S=1 T="Tickets for the show" '
        "for bob@example.net"
    )
    assert line.recipients == ["bob@example.net"]
    assert unquote(line.fields["T"]) == "Tickets for the show"


def test_arrival_recipient_with_quoted_local_part_stays_one_address():
    # Exim logs an SRS-style or quoted local part as it is: for "SRS0=...=bob"@example.com
    line = parse(
        f"2026-11-16 10:00:00 {BOUNCE_ID} <= <> R={ID} U=mailnull P=local S=2000 "
        'for "SRS0=AbCd=XY=example.net=bob"@example.com carol@example.net'
    )
    assert line.recipients == ['"SRS0=AbCd=XY=example.net=bob"@example.com', "carol@example.net"]


def test_bounce_arrival_has_empty_sender_and_names_its_parent_message():
    line = parse(
        f"2026-11-16 10:00:01 {BOUNCE_ID} <= <> R={ID} U=mailnull P=local S=2000 "
        'T="Mail delivery failed: returning message to sender" from <> for alice@example.com'
    )
    assert line.kind == ARRIVAL
    assert line.address == ""
    assert line.fields["R"] == ID
    assert line.recipients == ["alice@example.com"]


def test_local_submission_reads_the_local_user():
    line = parse(f"2026-11-16 10:00:00 {ID} <= alice@example.com U=alice P=local S=812 for bob@example.net")
    assert line.fields["U"] == "alice"
    assert line.fields["P"] == "local"


# --- deliveries "=>" "->" ">>" "*>" ----------------------------------------------------------------


def test_local_delivery_reads_user_and_original_recipient():
    line = parse(f"2026-11-16 10:00:02 {ID} => bob <bob@example.net> R=localuser T=local_delivery")
    assert (line.kind, line.flag) == (DELIVERY, "=>")
    assert (line.address, line.orig, line.parent) == ("bob", "bob@example.net", "")
    assert line.fields["R"] == "localuser"
    assert line.fields["T"] == "local_delivery"


def test_alias_delivery_reads_final_address_parent_and_original():
    line = parse(
        f"2026-11-16 10:00:02 {ID} => bob@example.org (sales@example.net) <info@example.net> "
        'R=dnslookup T=remote_smtp H=mx.example.org [198.51.100.7] C="250 OK"'
    )
    assert (line.address, line.parent, line.orig) == (
        "bob@example.org",
        "sales@example.net",
        "info@example.net",
    )


def test_pipe_delivery_keeps_the_whole_command_with_spaces():
    line = parse(
        f"2026-11-16 10:00:02 {ID} => |/usr/local/bin/ticket-import --queue support -v "
        "<support@example.net> R=system_aliases T=address_pipe"
    )
    assert line.address == "|/usr/local/bin/ticket-import --queue support -v"
    assert line.orig == "support@example.net"
    assert line.fields["T"] == "address_pipe"


def test_file_delivery_keeps_the_path():
    line = parse(
        f"2026-11-16 10:00:02 {ID} => /var/mail/archive (archive@example.net) <records@example.net> "
        "R=file_aliases T=address_file"
    )
    assert (line.address, line.parent, line.orig) == (
        "/var/mail/archive",
        "archive@example.net",
        "records@example.net",
    )


def test_dev_null_delivery_keeps_the_bypassed_transport():
    line = parse(
        f"2026-11-16 10:00:02 {ID} => /dev/null <devnull@example.net> R=system_aliases T=**bypassed**"
    )
    assert (line.kind, line.address, line.orig) == (DELIVERY, "/dev/null", "devnull@example.net")
    assert line.fields["T"] == "**bypassed**"


def test_blackhole_delivery_reads_blackhole_and_original():
    line = parse(f"2026-11-16 10:00:02 {ID} => :blackhole: <nobody@example.net> R=blackhole_aliases")
    assert (line.kind, line.address, line.orig) == (DELIVERY, ":blackhole:", "nobody@example.net")
    assert line.fields["R"] == "blackhole_aliases"


def test_acl_discarded_recipients_delivery_reads_the_acl():
    line = parse(f"2026-11-16 10:00:02 {ID} => blackhole (RCPT ACL discarded recipients)")
    assert (line.kind, line.address, line.parent) == (DELIVERY, "blackhole", "RCPT ACL discarded recipients")


def test_acl_discarded_recipients_delivery_with_log_message_keeps_the_address_apart():
    # receive.c: "=> blackhole (%s)%s%s" with ": <log_message>" when the discard ACL sets one
    line = parse(
        f"2026-11-16 10:00:02 {ID} => blackhole (DATA ACL discarded recipients): spam score too high"
    )
    assert (line.kind, line.address, line.parent) == (DELIVERY, "blackhole", "DATA ACL discarded recipients")
    assert line.message == "spam score too high"


def test_remote_delivery_reads_router_transport_host_tls_and_reply():
    line = parse(
        f"2026-11-16 10:00:02 {ID} => bob@example.org R=dnslookup T=remote_smtp H=mx.example.org "
        '[198.51.100.7]:25 X=TLS1.2:ECDHE_RSA_AES_128_GCM_SHA256:128 CV=yes C="250 2.0.0 Ok: queued as 4Xy7Z"'
    )
    assert line.fields["R"] == "dnslookup"
    assert line.fields["T"] == "remote_smtp"
    assert split_host(line.fields["H"]) == ("mx.example.org", "", "198.51.100.7", "25")
    assert line.fields["X"] == "TLS1.2:ECDHE_RSA_AES_128_GCM_SHA256:128"
    assert line.fields["CV"] == "yes"
    assert unquote(line.fields["C"]) == "250 2.0.0 Ok: queued as 4Xy7Z"


def test_delivery_reply_unquotes_an_escaped_quote():
    line = parse(
        f"2026-11-16 10:00:02 {ID} => bob@example.org R=dnslookup T=remote_smtp H=mx.example.org "
        '[198.51.100.7] C="250 OK id=\\"q-42\\" accepted"'
    )
    assert unquote(line.fields["C"]) == '250 OK id="q-42" accepted'


def test_delivery_host_with_port_and_trailing_asterisk_keeps_ip_and_port():
    # deliver.c appends "*" after H= when the delivery reused an open connection (continue_sequence > 1)
    line = parse(
        f"2026-11-16 10:00:02 {ID} => bob@example.org R=dnslookup T=remote_smtp "
        'H=mx.example.org [198.51.100.7]:25* C="250 OK"'
    )
    assert split_host(line.fields["H"]) == ("mx.example.org", "", "198.51.100.7", "25")
    assert unquote(line.fields["C"]) == "250 OK"


def test_delivery_host_with_dnssec_marker_keeps_name_and_ip():
    # log_selector +dnssec: "H=<name> DS [<ip>]:<port>" (deliver.c d_hostlog)
    line = parse(
        f"2026-11-16 10:00:02 {ID} => bob@example.org R=dnslookup T=remote_smtp "
        'H=mx.example.org DS [198.51.100.7]:25 C="250 OK"'
    )
    name, _helo, ip, port = split_host(line.fields["H"])
    assert (name, ip, port) == ("mx.example.org", "198.51.100.7", "25")


def test_delivery_reads_queue_time_and_delivery_time():
    line = parse(
        f"2026-11-16 10:00:02 {ID} => bob <bob@example.net> R=localuser T=local_delivery QT=2m3s DT=1s"
    )
    assert (line.fields["QT"], line.fields["DT"]) == ("2m3s", "1s")


def test_additional_address_on_same_delivery_is_a_delivery():
    line = parse(
        f"2026-11-16 10:00:02 {ID} -> carol@example.net R=dnslookup T=remote_smtp "
        'H=mx.example.net [198.51.100.8] C="250 OK"'
    )
    assert (line.kind, line.flag, line.address) == (DELIVERY, "->", "carol@example.net")


def test_cutthrough_delivery_is_a_delivery():
    line = parse(
        f"2026-11-16 10:00:02 {ID} >> dave@example.org P=<alice@example.com> R=dnslookup T=remote_smtp "
        'H=mx.example.org [198.51.100.7] C="250 OK"'
    )
    assert (line.kind, line.flag, line.address) == (DELIVERY, ">>", "dave@example.org")


def test_suppressed_delivery_is_a_delivery_with_its_flag():
    line = parse(
        f"2026-11-16 10:00:02 {ID} *> erin@example.org R=dnslookup T=remote_smtp "
        'H=mx.example.org [198.51.100.7] C="delivery bypassed by -N option"'
    )
    assert (line.kind, line.flag, line.address) == (DELIVERY, "*>", "erin@example.org")


# --- deferrals "==" ------------------------------------------------------------------------------


def test_defer_with_host_reads_errno_host_and_remote_reply():
    line = parse(
        f"2026-11-16 10:00:03 {ID} == bob@example.org R=dnslookup T=remote_smtp defer (-44) "
        "H=mx.example.org [198.51.100.7]: SMTP error from remote mail server after "
        "RCPT TO:<bob@example.org>: 451 4.7.1 Greylisted, try again later"
    )
    assert (line.kind, line.flag, line.address) == (DEFER, "==", "bob@example.org")
    assert line.fields["errno"] == "-44"
    assert split_host(line.fields["H"]) == ("mx.example.org", "", "198.51.100.7", "")
    assert line.message == (
        "SMTP error from remote mail server after RCPT TO:<bob@example.org>: "
        "451 4.7.1 Greylisted, try again later"
    )


def test_defer_without_host_reads_the_reason():
    line = parse(
        f"2026-11-16 10:00:03 {ID} == bob@example.org R=dnslookup T=remote_smtp defer (-53): "
        "retry time not reached"
    )
    assert (line.kind, line.address) == (DEFER, "bob@example.org")
    assert line.fields["errno"] == "-53"
    assert line.fields["R"] == "dnslookup"
    assert line.message == "retry time not reached"
    assert "H" not in line.fields


def test_routing_defer_reads_errno_and_reason():
    line = parse(
        f"2026-11-16 10:00:03 {ID} == bob@example.org routing defer (-56): domain is in queue_domains"
    )
    assert (line.kind, line.address) == (DEFER, "bob@example.org")
    assert line.fields["errno"] == "-56"
    assert line.message == "domain is in queue_domains"


def test_defer_connection_timeout_finds_the_host_inside_the_message():
    line = parse(
        f"2026-11-16 10:00:03 {ID} == bob@example.org R=dnslookup T=remote_smtp defer (dd): "
        "Connection timed out H=mx.example.org [198.51.100.7]: SMTP timeout after RCPT TO:<bob@example.org>"
    )
    assert line.fields["errno"] == "dd"
    assert split_host(line.fields["H"])[2] == "198.51.100.7"
    assert line.message.startswith("Connection timed out")
    assert line.message.endswith("SMTP timeout after RCPT TO:<bob@example.org>")


def test_defer_of_aliased_address_reads_original_recipient():
    line = parse(
        f"2026-11-16 10:00:03 {ID} == bob@example.org <info@example.net> R=dnslookup T=remote_smtp "
        "defer (-53): retry time not reached for any host for 'example.org'"
    )
    assert (line.address, line.orig) == ("bob@example.org", "info@example.net")
    assert line.message == "retry time not reached for any host for 'example.org'"


# --- failures "**" -------------------------------------------------------------------------------


def test_routing_failure_reads_address_and_reason():
    line = parse(f"2026-11-16 10:00:04 {ID} ** nobody@example.invalid: Unrouteable address")
    assert (line.kind, line.flag) == (FAILURE, "**")
    assert line.address == "nobody@example.invalid"
    assert line.message == "Unrouteable address"


def test_failure_with_router_and_spaced_colon_reads_router_and_reason():
    line = parse(f"2026-11-16 10:00:04 {ID} ** nobody@example.net R=fail_router : mailbox is disabled")
    assert line.address == "nobody@example.net"
    assert line.fields["R"] == "fail_router"
    assert line.message == "mailbox is disabled"


def test_failure_smtp_error_reads_host_and_the_full_remote_reply():
    line = parse(
        f"2026-11-16 10:00:04 {ID} ** frank@example.org <frank@example.org> R=dnslookup T=remote_smtp "
        "H=mx.example.org [198.51.100.7] : SMTP error from remote mail server after "
        "RCPT TO:<frank@example.org>: 550 5.1.1 <frank@example.org>: Recipient address rejected: User unknown"
    )
    assert (line.kind, line.address, line.orig) == (FAILURE, "frank@example.org", "frank@example.org")
    assert (line.fields["R"], line.fields["T"]) == ("dnslookup", "remote_smtp")
    assert split_host(line.fields["H"]) == ("mx.example.org", "", "198.51.100.7", "")
    assert line.message == (
        "SMTP error from remote mail server after RCPT TO:<frank@example.org>: "
        "550 5.1.1 <frank@example.org>: Recipient address rejected: User unknown"
    )


def test_failure_after_retry_timeout_reads_the_reason():
    line = parse(f"2026-11-16 10:00:04 {ID} ** grace@example.org: retry timeout exceeded")
    assert (line.kind, line.address, line.message) == (FAILURE, "grace@example.org", "retry timeout exceeded")


def test_failure_with_sender_field_ending_in_colon_reads_sender_and_reason():
    line = parse(
        f"2026-11-16 10:00:04 {ID} ** heidi@example.org F=<alice@example.com>: "
        "all relevant MX records point to non-existent hosts"
    )
    assert line.address == "heidi@example.org"
    assert line.fields["F"] == "<alice@example.com>"
    assert line.message == "all relevant MX records point to non-existent hosts"


def test_failure_of_pipe_reads_command_and_reason():
    line = parse(
        f"2026-11-16 10:00:04 {ID} ** |/usr/local/bin/ticket-import --strict <support@example.net> "
        "R=system_aliases T=address_pipe : Child process of address_pipe transport returned 75"
    )
    assert (line.address, line.orig) == ("|/usr/local/bin/ticket-import --strict", "support@example.net")
    assert line.message == "Child process of address_pipe transport returned 75"


# --- message state lines ---------------------------------------------------------------------------


def test_completed_line_is_completed():
    line = parse(f"2026-11-16 10:00:05 {ID} Completed")
    assert (line.kind, line.msgid, line.time) == (COMPLETED, ID, T0 + 5)


def test_completed_line_with_queue_time_is_completed():
    assert parse(f"2026-11-16 10:00:05 {ID} Completed QT=5s").kind == COMPLETED


def test_frozen_line_keeps_the_reason():
    line = parse(f"2026-11-16 10:00:05 {ID} Frozen (delivery error message)")
    assert line.kind == FROZEN
    assert "delivery error message" in line.message


def test_frozen_by_admin_is_frozen():
    line = parse(f"2026-11-16 10:00:05 {ID} frozen by root")
    assert (line.kind, line.message) == (FROZEN, "frozen by root")


def test_unfrozen_by_admin_is_unfrozen():
    assert parse(f"2026-11-16 10:00:05 {ID} unfrozen by root").kind == UNFROZEN


def test_cancelled_by_system_filter_keeps_the_reason():
    line = parse(
        f"2026-11-16 10:00:05 {ID} cancelled by system filter: attachments of type .exe are not accepted"
    )
    assert line.kind == CANCELLED
    assert line.message.endswith("attachments of type .exe are not accepted")


def test_removed_by_root_is_removed():
    line = parse(f"2026-11-16 10:00:05 {ID} removed by root")
    assert (line.kind, line.message) == (REMOVED, "removed by root")


# --- SMTP-time rejections ----------------------------------------------------------------------------


def test_rejected_rcpt_reads_recipient_host_interface_sender_and_reason():
    line = parse(
        "2026-11-16 10:00:06 H=(helo.example.net) [192.0.2.20]:40000 I=[198.51.100.5]:25 "
        "F=<spammer@example.net> rejected RCPT <victim@example.org>: relay not permitted"
    )
    assert (line.kind, line.flag, line.msgid) == (REJECTED, "RCPT", "")
    assert line.address == "victim@example.org"
    assert split_host(line.fields["H"]) == ("", "helo.example.net", "192.0.2.20", "40000")
    assert line.fields["I"] == "[198.51.100.5]:25"
    assert line.fields["F"] == "<spammer@example.net>"
    assert line.message == "relay not permitted"


def test_rejected_rcpt_without_angle_brackets_reads_recipient():
    line = parse(
        "2026-11-16 10:00:06 [10099] H=(helo.example.net) [192.0.2.20]:3755 I=[198.51.100.5]:25 "
        "F=spammer@example.net rejected RCPT victim@example.org: relay not permitted"
    )
    assert (line.kind, line.address, line.message) == (REJECTED, "victim@example.org", "relay not permitted")
    assert line.fields["F"] == "spammer@example.net"


def test_rejected_mail_reads_sender_and_reason():
    line = parse(
        "2026-11-16 10:00:06 H=mail.example.net [192.0.2.21] rejected MAIL <spammer@example.net>: "
        "Access denied - sender blocked"
    )
    assert (line.kind, line.flag) == (REJECTED, "MAIL")
    assert line.fields["F"] == "spammer@example.net"
    assert line.message == "Access denied - sender blocked"


def test_rejected_after_data_keeps_msgid_and_virus_message():
    line = parse(
        f"2026-11-16 10:00:06 [2516] {ID} H=mail.example.net [192.0.2.21]:32706 I=[198.51.100.5]:25 "
        "F=<spammer@example.net> rejected after DATA: This message contains a virus (Eicar-Signature)."
    )
    assert (line.kind, line.flag, line.msgid) == (REJECTED, "after DATA", ID)
    assert line.fields["F"] == "<spammer@example.net>"
    assert line.message == "This message contains a virus (Eicar-Signature)."


def test_rejected_by_local_scan_keeps_the_reason():
    line = parse(
        f"2026-11-16 10:00:06 {ID} F=<spammer@example.net> H=(helo.example.net) [192.0.2.21]:43671 "
        "I=[198.51.100.5]:25 P=esmtp rejected by local_scan(): Rejected: hits=9.1 required=5.0"
    )
    assert (line.kind, line.msgid) == (REJECTED, ID)
    assert line.message == "Rejected: hits=9.1 required=5.0"


def test_temporarily_rejected_rcpt_is_a_rejection_with_reason():
    line = parse(
        "2026-11-16 10:00:06 H=(helo.example.net) [192.0.2.20] F=<alice@example.com> "
        "temporarily rejected RCPT <bob@example.org>: greylisted, please try again later"
    )
    assert (line.kind, line.address) == (REJECTED, "bob@example.org")
    assert line.message == "greylisted, please try again later"


def test_rejected_rcpt_from_ipv6_client_reads_the_address():
    line = parse(
        "2026-11-16 10:00:06 H=[2001:db8::5]:40000 I=[2001:db8::1]:25 F=<a@example.net> "
        "rejected RCPT <b@example.org>: relay not permitted"
    )
    assert split_host(line.fields["H"]) == ("", "", "2001:db8::5", "40000")


# --- cPanel and SpamAssassin lines ---------------------------------------------------------------------


def test_cpanel_spamassassin_warning_gives_the_score():
    line = parse(
        f'2026-11-16 10:00:07 {ID} Warning: "SpamAssassin as cpaneleximscanner detected message as '
        'NOT spam (-0.3)"'
    )
    assert (line.kind, line.msgid, line.message) == (SPAM_SCORE, ID, "-0.3")


def test_cpanel_spamassassin_warning_for_spam_gives_the_score():
    line = parse(
        f'2026-11-16 10:00:07 {ID} Warning: "SpamAssassin as cpaneleximscanner detected message as '
        'spam (12.5)"'
    )
    assert (line.kind, line.message) == (SPAM_SCORE, "12.5")


def test_sa_exim_action_gives_the_score():
    line = parse(
        f"2026-11-16 10:00:07 {ID} SA: Action: flagged as Spam but accepted: score=8.2 required=5.0 "
        "(scanned in 2/2 secs | Message-Id: 42.abc@example.net). From <spammer@example.net> "
        "(host=mail.example.net [192.0.2.21]) for alice@example.com"
    )
    assert (line.kind, line.message) == (SPAM_SCORE, "8.2")


def test_cwd_line_of_queue_runner_is_a_note():
    line = parse(f"2026-11-16 10:00:07 cwd=/var/spool/exim 3 args: /usr/sbin/exim -Mc {ID}")
    assert line.kind == NOTE
    assert line.time == T0 + 7


def test_cpanel_sender_identification_reads_user_domain_and_sender():
    line = parse(f"2026-11-16 10:00:07 {ID} Sender identification U=alice D=example.com S=alice@example.com")
    assert (line.kind, line.msgid) == (SENDER_ID, ID)
    assert (line.fields["U"], line.fields["D"], line.fields["S"]) == (
        "alice",
        "example.com",
        "alice@example.com",
    )


# --- prefixes: time, zone, pid, syslog, split lines, id forms ----------------------------------------------


def test_timestamp_without_zone_is_local_time():
    assert parse(f"2026-11-01 10:00:00 {ID} Completed").time == calendar.timegm((2026, 11, 1, 10, 0, 0))


def test_millisecond_timestamp_is_read_to_the_second():
    line = parse(f"2026-11-01 10:00:00.123 {ID} Completed")
    assert (line.kind, line.msgid) == (COMPLETED, ID)
    assert line.time == calendar.timegm((2026, 11, 1, 10, 0, 0))


def test_timezone_offset_is_applied_to_the_epoch():
    line = parse(f"2026-11-01 10:00:00 +0100 {ID} Completed")
    assert (line.kind, line.msgid) == (COMPLETED, ID)
    assert line.time == calendar.timegm((2026, 11, 1, 9, 0, 0))


def test_negative_timezone_offset_with_minutes_is_applied_to_the_epoch():
    line = parse(f"2026-11-01 10:00:00 -0330 {ID} Completed")
    assert line.time == calendar.timegm((2026, 11, 1, 13, 30, 0))


def test_milliseconds_zone_and_pid_together():
    line = parse(f"2026-11-01 10:00:00.123 +0100 [4242] {ID} <= alice@example.com U=alice P=local S=1")
    assert (line.kind, line.msgid, line.address) == (ARRIVAL, ID, "alice@example.com")
    assert line.time == calendar.timegm((2026, 11, 1, 9, 0, 0))


def test_local_epoch_with_zone_does_not_use_the_per_minute_cache():
    assert local_epoch("2026-11-01 10:00:30") == calendar.timegm((2026, 11, 1, 10, 0, 30))
    assert local_epoch("2026-11-01 10:00:30", "+0100") == calendar.timegm((2026, 11, 1, 9, 0, 30))
    assert local_epoch("2026-11-01 10:00:30") == calendar.timegm((2026, 11, 1, 10, 0, 30))


def test_pid_prefix_is_skipped():
    line = parse(f"2026-11-16 10:00:00 [4242] {ID} => bob <bob@example.net> R=localuser T=local_delivery")
    assert (line.kind, line.msgid, line.address) == (DELIVERY, ID, "bob")


def test_bsd_syslog_wrapper_is_unwrapped():
    line = parse(
        f"Nov 16 10:00:00 mail exim[123]: 2026-11-16 10:00:00 [123] {ID} <= alice@example.com "
        "H=[192.0.2.10] P=smtp S=10"
    )
    assert (line.kind, line.msgid, line.address, line.time) == (ARRIVAL, ID, "alice@example.com", T0)


def test_iso_syslog_wrapper_is_unwrapped():
    line = parse(
        f"2026-11-16 10:00:09 mail exim[123]: 2026-11-16 10:00:00 {ID} => bob <bob@example.net> R=localuser"
    )
    assert (line.kind, line.msgid, line.address, line.time) == (DELIVERY, ID, "bob", T0)


def test_iso_syslog_wrapper_without_exim_timestamp_uses_the_syslog_time():
    line = parse(
        "2026-11-16 10:00:00 mail.example.com exim[29786]: dovecot_login authenticator failed for (User) "
        "[192.0.2.37]: 535 Incorrect authentication data (set_id=alice@example.com)"
    )
    assert (line.kind, line.time) == (NOTE, T0)


def test_host_and_program_syslog_wrapper_is_unwrapped():
    line = parse(f"mail.example.com exim[3751842]: 2026-11-16 10:00:00 {ID} Completed")
    assert (line.kind, line.msgid, line.time) == (COMPLETED, ID, T0)


def test_split_syslog_line_first_part_is_parsed_and_numbered():
    line = parse(
        f"Nov 16 10:00:00 mail exim[123]: [1/2] 2026-11-16 10:00:00 [123] {ID} <= alice@example.com "
        'H=[192.0.2.10] P=smtp S=10 T="A very long'
    )
    assert (line.kind, line.msgid, line.address) == (ARRIVAL, ID, "alice@example.com")
    assert (line.part, line.parts) == (1, 2)


def test_split_syslog_line_continuation_is_numbered():
    line = parse(
        'Nov 16 10:00:00 mail exim[123]: [2/2]  subject" from <alice@example.com> for bob@example.net'
    )
    assert line.kind in (NOTE, UNKNOWN)
    assert (line.part, line.parts) == (2, 2)


def test_split_syslog_line_broken_at_a_newline_is_numbered():
    # log.c write_syslog(): "[%d%c%d]" with '\\' instead of '/' when the piece ended at an embedded newline
    line = parse(
        f"Nov 16 10:00:00 mail exim[123]: [1\\3] 2026-11-16 10:00:00 [123] {ID} <= alice@example.com "
        'H=[192.0.2.10] P=smtp S=10 T="first line'
    )
    assert (line.kind, line.msgid, line.address) == (ARRIVAL, ID, "alice@example.com")
    assert (line.part, line.parts) == (1, 3)


def test_split_marker_after_exim_timestamp_is_numbered():
    line = parse(f"2026-11-16 10:00:00 [123] [1/2] {ID} <= alice@example.com H=[192.0.2.10] P=smtp S=10")
    assert (line.kind, line.msgid) == (ARRIVAL, ID)
    assert (line.part, line.parts) == (1, 2)


def test_unsplit_line_has_no_part_numbers():
    line = parse(f"2026-11-16 10:00:00 {ID} Completed")
    assert (line.part, line.parts) == (0, 0)


def test_sixteen_character_message_id_is_recognised():
    line = parse("2026-11-16 10:00:00 1ZeQYq-0000Wm-1V <= alice@example.com U=alice P=local S=10")
    assert (line.kind, line.msgid) == (ARRIVAL, "1ZeQYq-0000Wm-1V")


def test_twenty_three_character_message_id_is_recognised():
    line = parse("2026-11-16 10:00:00 1smkL5-00000000e65-24eQ <= alice@example.com U=alice P=local S=10")
    assert (line.kind, line.msgid) == (ARRIVAL, "1smkL5-00000000e65-24eQ")


def test_line_without_message_id_is_a_note_without_msgid():
    line = parse(
        "2026-11-16 10:00:00 SMTP connection from mail.example.net [192.0.2.21]:40001 I=[198.51.100.5]:25 "
        "closed by QUIT"
    )
    assert (line.kind, line.msgid, line.time) == (NOTE, "", T0)


def test_trailing_newline_is_ignored():
    line = parse(f"2026-11-16 10:00:05 {ID} ** grace@example.org: retry timeout exceeded\r\n")
    assert line.message == "retry timeout exceeded"


# --- robustness ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", " ", "\n", "\r\n", "\t  \t"])
def test_blank_line_is_a_note(text):
    assert parse(text).kind == NOTE


@pytest.mark.parametrize(
    "text",
    [
        "hello world",
        "*** garbage ***",
        "2026-13-45 99:99:99 nonsense",
        "<= => == ** -> *>",
        "exim[",
        "[1/2]",
        ": : :",
        "\x00\x01\x02",
        "Nov 16 10:00:00 mail exim[123]: not an exim line at all",
    ],
)
def test_garbage_line_is_unknown_or_note(text):
    assert parse(text).kind in (UNKNOWN, NOTE)


def test_invalid_utf8_decoded_with_replacement_still_parses():
    raw = (
        f'2026-11-16 10:00:00 {ID} <= alice@example.com U=alice P=local S=10 T="caf\xe9 \xff\xfe menu" '
        "for bob@example.net"
    ).encode("latin-1")
    line = parse(raw.decode("utf-8", errors="replace"))
    assert (line.kind, line.address, line.recipients) == (ARRIVAL, "alice@example.com", ["bob@example.net"])
    assert "\ufffd" in unquote(line.fields["T"])


DELIVERY_LINE = (
    f"2026-11-16 10:00:02.345 +0100 [4242] {ID} => bob@example.org (sales@example.net) <info@example.net> "
    "R=dnslookup T=remote_smtp H=mx.example.org (helo.example.org) [198.51.100.7]:25* "
    'X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes C="250 2.0.0 \\"Ok\\": queued as 4Xy7Z" QT=3s DT=1s'
)


def test_line_cut_anywhere_returns_a_result():
    kinds = Counter(parse(DELIVERY_LINE[:cut]).kind for cut in range(len(DELIVERY_LINE) + 1))
    assert set(kinds) <= ALL_KINDS
    assert kinds[DELIVERY] > 0


def test_line_cut_inside_quoted_reply_is_still_a_delivery_to_the_address():
    cut = DELIVERY_LINE.index("queued as")
    line = parse(DELIVERY_LINE[:cut])
    assert (line.kind, line.address, line.orig) == (DELIVERY, "bob@example.org", "info@example.net")


ONE_MB = 1_000_000
HUGE_LINES = {
    "subject": f"2026-11-16 10:00:00 {ID} <= alice@example.com U=alice P=local S=1 "
    f'T="{"x" * ONE_MB}" for b@example.net',
    "recipients": f"2026-11-16 10:00:00 {ID} <= alice@example.com U=alice P=local S=1 for "
    + " ".join(["bob@example.net"] * (ONE_MB // 16)),
    "unterminated_quote": f'2026-11-16 10:00:00 {ID} <= alice@example.com T="' + "x " * (ONE_MB // 2),
    "reply": f'2026-11-16 10:00:00 {ID} => bob@example.org R=r T=t C="250 {"y" * ONE_MB}"',
    "failure_message": f"2026-11-16 10:00:00 {ID} ** bob@example.org: " + "no " * (ONE_MB // 3),
    "spaces_after_flag": f"2026-11-16 10:00:00 {ID} ** " + " " * ONE_MB + "x",
    "tabs_in_address": f"2026-11-16 10:00:00 {ID} => bob" + "\t" * ONE_MB + "x",
    "parentheses": f"2026-11-16 10:00:00 {ID} == bob" + " (x" * (ONE_MB // 3),
    "angles": f"2026-11-16 10:00:00 {ID} ** bob" + " <x" * (ONE_MB // 3),
    "rejections": "2026-11-16 10:00:00 " + "rejected RCPT " * (ONE_MB // 14),
    "no_prefix": "z" * ONE_MB,
    "syslog_words": "Nov 16 10:00:00 " + "a " * (ONE_MB // 2),
}


def _too_slow(signum, frame):
    raise TimeoutError("parsing one line took over 10 s: the parser must stay linear in the line length")


@pytest.mark.parametrize("shape", sorted(HUGE_LINES))
def test_one_megabyte_line_returns_quickly(shape):
    previous = signal.signal(signal.SIGALRM, _too_slow)  # a quadratic regex would otherwise hang the run
    signal.alarm(10)
    try:
        started = time.perf_counter()
        parse(HUGE_LINES[shape])
        elapsed = time.perf_counter() - started
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert elapsed < 5, "parsing must stay linear in the line length"


# --- the real corpora (read in place, never copied) ------------------------------------------------------

# Independent of the parser: a timestamp (ms, zone, pid optional), a message id, then the flag.
_FLAG_LINE_RE = re.compile(
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{3})?(?: [-+]\d{4})?(?: \[\d+\])? "
    r"[0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4} (<=|=>|->|>>|\*>|==|\*\*|Completed)(?: |$)"
)
_FLAG_KIND = {
    "<=": ARRIVAL,
    "=>": DELIVERY,
    "->": DELIVERY,
    ">>": DELIVERY,
    "*>": DELIVERY,
    "==": DEFER,
    "**": FAILURE,
    "Completed": COMPLETED,
}


# A recipient is a run of non-spaces, except that a quoted local part may hold spaces: "a b"@example.com
_WORD_RE = re.compile(r'"(?:[^"\\]|\\.)*"\S*|\S+')


def _read_lines(path: Path) -> list[str]:
    return path.read_bytes().decode("utf-8", errors="replace").splitlines()


@pytest.fixture(scope="module")
def testsuite_mainlog(corpora: Path) -> list[tuple[str, EximLine]]:
    lines = _read_lines(corpora / "exim" / "exim-testsuite" / "ALL-mainlog-concatenated.log")
    return [(text, parse_exim_line(text)) for text in lines]


@pytest.mark.parametrize("kind", [ARRIVAL, DELIVERY, DEFER, FAILURE, COMPLETED])
def test_testsuite_every_flagged_line_gets_its_kind_and_nothing_else_does(testsuite_mainlog, kind):
    expected = set()
    for number, (text, _) in enumerate(testsuite_mainlog):
        m = _FLAG_LINE_RE.match(text)
        if m and _FLAG_KIND[m.group(1)] == kind:
            expected.add(number)
    parsed = {number for number, (_, line) in enumerate(testsuite_mainlog) if line.kind == kind}
    assert len(expected) > 300
    assert len(parsed) == len(expected)
    assert parsed == expected


def test_testsuite_arrival_sender_is_the_word_after_the_flag(testsuite_mainlog):
    wrong = []
    for text, line in testsuite_mainlog:
        if line.kind == ARRIVAL:
            word = text.split(" <= ", 1)[1].split(" ", 1)[0]
            if line.address != ("" if word == "<>" else word):
                wrong.append(text)
    assert wrong == []


def test_testsuite_every_delivery_names_an_address(testsuite_mainlog):
    assert [text for text, line in testsuite_mainlog if line.kind == DELIVERY and not line.address] == []


def test_testsuite_arrival_recipients_match_the_words_after_for(testsuite_mainlog):
    wrong = []
    for text, line in testsuite_mainlog:
        if line.kind == ARRIVAL and " for " in text and ' T="' not in text:
            if line.recipients != _WORD_RE.findall(text.rsplit(" for ", 1)[1]):
                wrong.append(text)
    assert wrong == []


def test_testsuite_bounces_link_to_their_parent_message(testsuite_mainlog):
    bounces = [line for text, line in testsuite_mainlog if line.kind == ARRIVAL and " <= <> R=" in text]
    assert len(bounces) > 50
    assert all(
        re.fullmatch(r"[0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4}", b.fields["R"]) for b in bounces
    )


def test_testsuite_every_other_log_parses_without_error(corpora: Path):
    files = sorted(
        p
        for folder in ("log", "rejectlog", "paniclog", "msglog")
        for p in (corpora / "exim" / "exim-testsuite" / folder).iterdir()
    )
    assert len(files) > 1000
    kinds = Counter(parse(text).kind for path in files for text in _read_lines(path))
    assert kinds[ARRIVAL] > 1000
    assert kinds[REJECTED] > 100


def test_alaveteli_files_parse_without_error(corpora: Path):
    files = sorted((corpora / "exim" / "alaveteli").iterdir())
    assert len(files) >= 4
    for path in files:
        for text in _read_lines(path):
            parse(text)


def test_alaveteli_syslog_wrapped_arrival_is_found(corpora: Path):
    lines = [parse(t) for t in _read_lines(corpora / "exim" / "alaveteli" / "exim-mainlog-2016-04-28")]
    arrivals = [line for line in lines if line.kind == ARRIVAL]
    assert [(a.msgid, a.address) for a in arrivals] == [("1avnJx-00039F-Hs", "foi+request-1234@example.com")]
    assert arrivals[0].time == calendar.timegm((2016, 4, 28, 15, 53, 37))


def test_alaveteli_known_arrivals_and_deliveries_are_found(corpora: Path):
    lines = [parse(t) for t in _read_lines(corpora / "exim" / "alaveteli" / "extracted-from-specs.log")]
    arrival = next(line for line in lines if line.kind == ARRIVAL and line.msgid == "1ZeQYq-0000Wm-1V")
    assert arrival.address == "request@example.com"
    assert arrival.recipients == ["body@example.com", "body@example.com"]
    delivery = next(line for line in lines if line.kind == DELIVERY and line.msgid == "1ZeQYq-0000Wm-1V")
    assert delivery.address == "body@example.com"
    assert split_host(delivery.fields["H"])[2] == "62.208.144.158"
    assert unquote(delivery.fields["C"]).startswith("250 2.0.0 Ok: queued as")
    assert (delivery.fields["QT"], delivery.fields["DT"]) == ("0s", "0s")


def test_alaveteli_pipe_delivery_and_bounce_are_found(corpora: Path):
    lines = [parse(t) for t in _read_lines(corpora / "exim" / "alaveteli" / "extracted-from-specs.log")]
    pipes = [line for line in lines if line.kind == DELIVERY and line.address.startswith("|")]
    assert pipes and all(" " in p.address and p.orig for p in pipes)
    failures = [line for line in lines if line.kind == FAILURE]
    assert failures and all(
        f.message == "all relevant MX records point to non-existent hosts" for f in failures
    )
    bounce = next(line for line in lines if line.kind == ARRIVAL and line.address == "")
    assert bounce.fields["R"] in {f.msgid for f in failures}


def test_alaveteli_bad_utf8_file_parses_without_error(corpora: Path):
    lines = _read_lines(corpora / "exim" / "alaveteli" / "exim-bad-utf8-exim-log")
    assert any("\ufffd" in text for text in lines)
    assert {parse(text).kind for text in lines} <= {NOTE, UNKNOWN}


@pytest.mark.parametrize("name", ["exim.log", "exim-spam.log", "exim.raw", "exim-spam.raw"])
def test_fail2ban_files_parse_without_error(corpora: Path, name):
    for text in _read_lines(corpora / "exim" / "fail2ban" / name):
        parse(text)


def test_fail2ban_rcpt_rejections_are_all_found(corpora: Path):
    texts = _read_lines(corpora / "exim" / "fail2ban" / "exim.log") + _read_lines(
        corpora / "exim" / "fail2ban" / "exim-spam.log"
    )
    expected = [t for t in texts if " rejected RCPT " in t]
    found = [(t, parse(t)) for t in expected]
    assert len(expected) >= 5
    assert all(line.kind == REJECTED and "@" in line.address and line.message for _, line in found)


def test_fail2ban_sa_exim_scores_are_found(corpora: Path):
    lines = [parse(t) for t in _read_lines(corpora / "exim" / "fail2ban" / "exim-spam.log")]
    assert sorted(float(line.message) for line in lines if line.kind == SPAM_SCORE) == [8.2, 31.0, 35.8]


def test_fail2ban_virus_rejection_after_data_keeps_its_message_id(corpora: Path):
    lines = [parse(t) for t in _read_lines(corpora / "exim" / "fail2ban" / "exim-spam.log")]
    virus = [line for line in lines if line.kind == REJECTED and line.flag == "after DATA"]
    assert len(virus) == 1
    assert virus[0].msgid and virus[0].message.startswith("This message contains a virus")


def test_octal_escaped_utf8_subject_is_decoded() -> None:
    line = (r'2026-11-16 10:00:00 1tAbCd-00000000aB1-1a2B <= a@example.net H=[192.0.2.1] P=esmtp S=9 '
            r'T="\303\211l\303\250ve \342\200\224 \"r\303\251sum\303\251\" \\ \342\234\223" for b@example.com')
    assert unquote(parse_exim_line(line).fields["T"]) == 'Élève — "résumé" \\ ✓'


def test_host_fields_inside_a_timeout_defer_text_are_lifted_out() -> None:
    line = ("2026-11-16 10:00:00 1tAbCd-00000000aB1-1a2B == h@silent.example R=r T=t defer (110): Connection "
            "timed out H=mx.example.net [192.0.2.9]:25 I=[192.0.2.1]:4321 DT=5s: SMTP timeout after initial connection")
    parsed = parse_exim_line(line)
    assert parsed.message == "Connection timed out: SMTP timeout after initial connection"
    assert parsed.fields["H"] == "mx.example.net [192.0.2.9]:25"


def test_trailing_delivery_time_is_not_part_of_a_failure_text() -> None:
    line = ("2026-11-16 10:00:00 1tAbCd-00000000aB1-1a2B ** o@example.org R=r T=t H=mx [192.0.2.9] : SMTP error "
            "from remote mail server after RCPT TO:<o@example.org>: 550 5.1.1 User unknown DT=0.000s")
    parsed = parse_exim_line(line)
    assert parsed.message.endswith("550 5.1.1 User unknown")
    assert parsed.fields["DT"] == "0.000s"
