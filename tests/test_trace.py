"""trace.py: ``exim -bt`` answers parsed into a tree, shown as text and JSON, and the CLI's errors.

The outputs below were captured from Debian's Exim 4.96 (exim4-daemon-light) with test configurations
(redirect routers, manualroute, :fail:/:defer:/:blackhole:, pipes and files), except MX_ANSWER, which
follows the MX form of Exim's verify.c (no DNS in the test machine to capture it from).
"""

from __future__ import annotations

import json
import subprocess

import pytest
from click.testing import CliRunner

from trackdelivery import trace as tr
from trackdelivery.cli import main

LOCAL = "alice@local.test\n  router = mailbox, transport = local_maildir\n"
ALIAS_CHAIN_WITH_DUPLICATE = """\
alice@local.test
    <-- list@local.test
    <-- fwd@local.test
    <-- deep@local.test
  router = mailbox, transport = local_maildir
bob@local.test
    <-- list@local.test
    <-- fwd@local.test
    <-- deep@local.test
  router = mailbox, transport = local_maildir
alice@local.test   [duplicate, would not be delivered]
    <-- list@local.test
    <-- fwd@local.test
    <-- deep@local.test
  router = mailbox, transport = local_maildir
"""
ALIAS_TO_LOCAL_AND_REMOTE = """\
alice@local.test
    <-- out@local.test
  router = mailbox, transport = local_maildir
carol@named.test
    <-- out@local.test
  router = byname, transport = remote_smtp
  host localhost [127.0.0.1]
"""
MANUALROUTE_WITH_PORTS = """\
x@multi.test
  router = byname, transport = remote_smtp
  host 127.0.0.1 [127.0.0.1]
  host 127.0.0.2 [127.0.0.2] port=2525
"""
# verify.c pads host names and addresses to line up, then prints MX= for hosts found by MX.
MX_ANSWER = """\
bob@example.net
  router = dnslookup, transport = remote_smtp
  host mx1.example.net        [192.0.2.10]   MX=10
  host mx2.backup.example.net [198.51.100.7] MX=20 ** unusable **
"""
UNROUTEABLE = "nobody@local.test is undeliverable: Unrouteable address\n"
ALIAS_TO_UNROUTEABLE = "nobody@local.test is undeliverable: Unrouteable address\n    <-- broken@local.test\n"
FAIL_REDIRECT = "failme@local.test is undeliverable: No such person at this address\n"
DEFER_REDIRECT = "deferme@local.test cannot be resolved at this time: Mailbox database is offline\n"
DISCARDED = "mail to discard@local.test is discarded\n"
PIPE = "pipeme@local.test -> |/usr/bin/true\n  transport = address_pipe\n"
FILE = "root@localhost -> /var/mail/mail\n  transport = address_file\n"  # Debian's default configuration
SYNTAX_ERROR = "syntax error: domain missing or malformed\n"
NOT_ADMIN = "nobody@nowhere.invalid is undeliverable\n"  # a non-admin caller is not told why
MIXED = """\
alice@local.test
  router = mailbox, transport = local_maildir
failme@local.test is undeliverable: No such person at this address
deferme@local.test cannot be resolved at this time: Mailbox database is offline
"""
TRANSPORTS = """\

local_maildir transport:
no_body_only
current_directory = 
driver = appendfile
group = Debian-exim
address_pipe transport:
driver = pipe
remote_smtp transport:
driver = smtp
"""  # noqa: W291 - "current_directory = " ends in a space in Exim's output


def tree(output: str, address: str, drivers: dict[str, str] | None = None) -> dict:
    return tr.build_tree(address, tr.parse_exim_address_test(output), drivers).to_dict()


def result(output: str, address: str) -> tr.AddressTrace:
    return tr.AddressTrace(address, "exim", ["exim", "-bt", address],
                           tr.build_tree(address, tr.parse_exim_address_test(output)))


def test_local_mailbox_is_a_leaf_with_router_and_transport() -> None:
    assert tree(LOCAL, "alice@local.test", {"local_maildir": "appendfile"}) == {
        "address": "alice@local.test", "kind": "local", "router": "mailbox", "transport": "local_maildir",
        "driver": "appendfile"}


def test_unqualified_address_is_shown_as_the_mta_qualified_it() -> None:
    assert tree(LOCAL, "alice")["address"] == "alice@local.test"


def test_alias_chain_becomes_nested_redirects_with_the_duplicate_marked() -> None:
    root = tree(ALIAS_CHAIN_WITH_DUPLICATE, "deep@local.test")
    assert root["address"] == "deep@local.test" and root["kind"] == "redirect"
    fwd = root["children"]
    assert [c["address"] for c in fwd] == ["fwd@local.test"]
    listed = fwd[0]["children"]
    assert [c["address"] for c in listed] == ["list@local.test"]
    leaves = listed[0]["children"]
    assert [(c["address"], c.get("duplicate", False)) for c in leaves] == [
        ("alice@local.test", False), ("alice@local.test", True), ("bob@local.test", False)]


def test_alias_to_a_mailbox_and_a_remote_address() -> None:
    root = tree(ALIAS_TO_LOCAL_AND_REMOTE, "out@local.test")
    assert [(c["address"], c["kind"]) for c in root["children"]] == [
        ("alice@local.test", "local"), ("carol@named.test", "remote")]
    assert root["children"][1]["hosts"] == [
        {"name": "localhost", "ip": "127.0.0.1", "mx": None, "port": None, "usable": True, "notes": []}]


def test_hosts_keep_their_order_and_ports() -> None:
    hosts = tree(MANUALROUTE_WITH_PORTS, "x@multi.test")["hosts"]
    assert [(h["name"], h["ip"], h["port"]) for h in hosts] == [
        ("127.0.0.1", "127.0.0.1", None), ("127.0.0.2", "127.0.0.2", 2525)]


def test_mx_hosts_have_their_preference_and_unusable_ones_are_marked() -> None:
    hosts = tree(MX_ANSWER, "bob@example.net")["hosts"]
    assert [(h["name"], h["ip"], h["mx"], h["usable"]) for h in hosts] == [
        ("mx1.example.net", "192.0.2.10", 10, True), ("mx2.backup.example.net", "198.51.100.7", 20, False)]


def test_transport_with_its_own_hosts_is_remote_by_its_driver() -> None:
    answer = "x@relay.test\n  router = smarthost, transport = to_smarthost\n"  # hosts on the transport
    assert tree(answer, "x@relay.test", {"to_smarthost": "smtp"})["kind"] == "remote"


@pytest.mark.parametrize(("output", "address", "kind", "error"), [
    (UNROUTEABLE, "nobody@local.test", "undeliverable", "Unrouteable address"),
    (FAIL_REDIRECT, "failme@local.test", "undeliverable", "No such person at this address"),
    (DEFER_REDIRECT, "deferme@local.test", "deferred", "Mailbox database is offline"),
    (NOT_ADMIN, "nobody@nowhere.invalid", "undeliverable", None),
    (SYNTAX_ERROR, "bad@", "undeliverable", "syntax error: domain missing or malformed"),
])
def test_errors_say_why(output: str, address: str, kind: str, error: str | None) -> None:
    node = tree(output, address)
    assert (node["address"], node["kind"], node.get("error")) == (address, kind, error)


def test_alias_to_an_unrouteable_address_shows_where_it_breaks() -> None:
    assert tree(ALIAS_TO_UNROUTEABLE, "broken@local.test") == {
        "address": "broken@local.test", "kind": "redirect", "children": [
            {"address": "nobody@local.test", "kind": "undeliverable", "error": "Unrouteable address"}]}


def test_discard_is_its_own_kind() -> None:
    assert tree(DISCARDED, "discard@local.test") == {"address": "discard@local.test", "kind": "discarded"}


@pytest.mark.parametrize(("output", "asked", "parent", "target", "kind"), [
    (PIPE, "pipeme@local.test", "pipeme@local.test", "|/usr/bin/true", "pipe"),
    (PIPE, "viapipe@local.test", "pipeme@local.test", "|/usr/bin/true", "pipe"),
    (FILE, "root@localhost", "root@localhost", "/var/mail/mail", "file"),
])
def test_pipes_and_files_hang_under_the_address_that_made_them(output: str, asked: str, parent: str,
                                                               target: str, kind: str) -> None:
    root = tree(output, asked)
    assert root["address"] == asked
    leaf = root["children"][0] if parent == asked else root["children"][0]["children"][0]
    assert (leaf["address"], leaf["kind"]) == (target, kind)


def test_status_is_the_worst_outcome() -> None:
    assert result(LOCAL, "alice@local.test").status == "deliverable"
    assert result(MIXED, "alice@local.test").status == "undeliverable"
    assert result(DEFER_REDIRECT, "deferme@local.test").status == "deferred"
    assert result(DISCARDED, "discard@local.test").status == "discarded"
    assert result(ALIAS_CHAIN_WITH_DUPLICATE, "deep@local.test").status == "deliverable"


def test_transport_listing_gives_each_driver() -> None:
    assert tr.parse_exim_transport_drivers(TRANSPORTS) == {
        "local_maildir": "appendfile", "address_pipe": "pipe", "remote_smtp": "smtp"}


def test_debug_lines_without_an_address_above_them_are_ignored() -> None:
    assert tr.parse_exim_address_test("   R: nonlocal for x@y\n") == []


def test_text_shows_hosts_under_their_address() -> None:
    text = tr.format_trace(result(MX_ANSWER, "bob@example.net"))
    assert text == (
        "bob@example.net  → sent to another server [router dnslookup, transport remote_smtp]\n"
        "   MX 10: host mx1.example.net [192.0.2.10]\n"
        "   MX 20: host mx2.backup.example.net [198.51.100.7] (skipped for now: retry time not reached)\n"
        "\n"
        "Mail to bob@example.net would be delivered.\n"
    )


def test_text_of_an_error() -> None:
    assert tr.format_trace(result(UNROUTEABLE, "nobody@local.test")).splitlines() == [
        "nobody@local.test  → undeliverable: Unrouteable address",
        "",
        "Mail to nobody@local.test would bounce (at least one destination cannot be delivered to).",
    ]


class FakeExim:
    """Stands in for subprocess.run: answers -bt and -bP transports like Exim, records the commands."""

    def __init__(self, bt: str, returncode: int = 0, stderr: str = "") -> None:
        self.bt, self.returncode, self.stderr = bt, returncode, stderr
        self.commands: list[list[str]] = []

    def __call__(self, command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        self.commands.append(command)
        if "-bP" in command:
            return subprocess.CompletedProcess(command, 0, TRANSPORTS, "")
        return subprocess.CompletedProcess(command, self.returncode, self.bt, self.stderr)


def test_exim_is_asked_with_its_config_and_the_address_after_double_dash() -> None:
    fake = FakeExim(LOCAL)
    exim = ["/usr/sbin/exim", "-C", "/etc/exim/test.conf"]
    answer = tr.EximTracer(exim[2], binary=exim[0], run=fake).trace("-alice@local.test")
    assert fake.commands == [[*exim, "-bt", "--", "-alice@local.test"], [*exim, "-bP", "transports"]]
    assert answer.root.driver == "appendfile"


def test_exim_that_cannot_answer_is_one_clear_sentence() -> None:
    fake = FakeExim("", returncode=1, stderr="exim: permission denied\n")
    with pytest.raises(tr.TraceError, match=r"^Exim could not test the address: exim: permission denied\.$"):
        tr.EximTracer(binary="/usr/sbin/exim", run=fake).trace("bob@example.com")


def test_no_mta_installed_is_one_clear_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tr, "find_exim", lambda: None)
    monkeypatch.setattr(tr, "find_postfix_program", lambda name: None)
    result = CliRunner().invoke(main, ["trace", "bob@example.com"])
    assert result.exit_code == 1
    assert result.output == ("Error: No supported mail server is installed here: the trace needs Exim "
                             "('exim' or 'exim4') or Postfix ('postconf' and 'postmap') on PATH or in /usr/sbin.\n")


@pytest.mark.parametrize("address", ["", "bob @example.com", "bob@example.com\n-bd"])
def test_addresses_that_are_not_one_word_are_refused(address: str) -> None:
    with pytest.raises(tr.TraceError):
        tr.trace_address(address, tracers=[])


def test_cli_json_and_exit_status(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeExim(UNROUTEABLE, returncode=2)
    real = tr.EximTracer
    monkeypatch.setattr(tr, "EximTracer", lambda config_file: real(config_file, "/usr/sbin/exim", fake))
    result = CliRunner().invoke(main, ["trace", "nobody@local.test", "--format", "json"])
    assert result.exit_code == 2
    assert json.loads(result.output) == {
        "address": "nobody@local.test", "mta": "exim", "status": "undeliverable",
        "command": ["/usr/sbin/exim", "-bt", "--", "nobody@local.test"],
        "tree": {"address": "nobody@local.test", "kind": "undeliverable", "error": "Unrouteable address"}}


# -- Postfix -------------------------------------------------------------------------------------------
# postconf -x and -M output in the form Debian's Postfix 3.7.11 prints it (captured, then given the values
# of a configuration made for these tests); FakePostfix answers the tables as postmap -q does (exit 1 and
# nothing for a missing key, "postmap: fatal: ..." for a table it cannot open).

POSTCONF_X = """\
myorigin = local.test
mydestination = mta.test, localhost
virtual_alias_maps = hash:/etc/pf/virtual_aliases
virtual_alias_domains = hash:/etc/pf/virtual_aliases
virtual_mailbox_domains = local.test
virtual_mailbox_maps = hash:/etc/pf/virtual_mailboxes
relay_domains = accept.test example.org
relay_recipient_maps =
transport_maps = hash:/etc/pf/transport
local_transport = local:mta.test
virtual_transport = virtual
relay_transport = relay
default_transport = smtp
relayhost =
alias_maps = hash:/etc/pf/aliases
local_recipient_maps = proxy:unix:passwd.byname $alias_maps
recipient_delimiter = +
parent_domain_matches_subdomains = debug_peer_list,fast_flush_domains,mynetworks,permit_mx_backup_networks,\
qmqpd_authorized_clients,relay_domains,smtpd_access_maps
"""
POSTCONF_M = """\
127.0.0.1:2525 inet n   -       n       -       -       smtpd
pickup     unix  n       -       n       60      1       pickup
relay      unix  -       -       n       -       -       smtp -o syslog_name=postfix/$service_name
error      unix  -       -       n       -       -       error
retry      unix  -       -       n       -       -       error
discard    unix  -       -       n       -       -       discard
local      unix  -       n       n       -       -       local
virtual    unix  -       n       n       -       -       virtual
smtp       unix  -       -       n       -       -       smtp
lmtp       unix  -       -       n       -       -       lmtp
smtp       inet  n       -       y       -       -       smtpd
"""
TABLES = {
    "hash:/etc/pf/virtual_mailboxes": {"alice@local.test": "alice/", "bob@local.test": "bob/",
                                       "discard@local.test": "discard/", "gone@local.test": "gone/",
                                       "queue@local.test": "queue/"},
    "hash:/etc/pf/virtual_aliases": {"team@local.test": "alice@local.test, bob@local.test",
                                     "sales@local.test": "team@local.test", "self@local.test": "self, bob",
                                     "ping@local.test": "pong@local.test", "pong@local.test": "ping@local.test",
                                     "both@local.test": "team@local.test, alice@local.test",
                                     "@alias.test": "alice@local.test"},
    "hash:/etc/pf/transport": {"accept.test": "smtp:[127.0.0.1]:2526", "discard@local.test": "discard:",
                               "gone@local.test": "error:5.1.1 This mailbox is closed",
                               "queue@local.test": "retry:4.3.0 Mailbox moving", ".lmtp.test": "lmtp:unix:private/dovecot"},
    "hash:/etc/pf/aliases": {"postmaster": "root", "root": "alice@local.test, /var/mail/archive",
                             "vacation": '"|/usr/bin/vacation alice"'},
    "unix:passwd.byname": {"root": "root:x:0:0:root:/root:/bin/bash"},
}


class FakePostfix:
    """Stands in for subprocess.run: answers postconf -x / -M and postmap -q, records the commands."""

    def __init__(self, postconf: str = POSTCONF_X, tables: dict[str, dict[str, str]] | None = None) -> None:
        self.postconf, self.tables = postconf, TABLES if tables is None else tables
        self.commands: list[list[str]] = []

    def __call__(self, command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        self.commands.append(command)
        if "-M" in command:
            return subprocess.CompletedProcess(command, 0, POSTCONF_M, "")
        if "-x" in command:
            return subprocess.CompletedProcess(command, 0, self.postconf, "")
        key, table = command[command.index("-q") + 1:]
        if table not in self.tables:
            return subprocess.CompletedProcess(command, 1, "", f"postmap: fatal: open database {table}.db: No such file")
        value = self.tables[table].get(key)
        return subprocess.CompletedProcess(command, 0 if value is not None else 1, f"{value}\n" if value else "", "")


def postfix_tree(address: str, postconf: str = POSTCONF_X) -> dict:
    tracer = tr.PostfixTracer(postconf="/usr/sbin/postconf", postmap="/usr/sbin/postmap", run=FakePostfix(postconf))
    return tracer.trace(address).root.to_dict()


VIRTUAL = {"kind": "local", "router": "virtual_mailbox", "transport": "virtual", "driver": "virtual"}


def test_postconf_values_are_read_with_empty_ones() -> None:
    params = tr.parse_postconf(POSTCONF_X)
    assert params["myorigin"] == "local.test" and params["relayhost"] == "" and params["relay_transport"] == "relay"


def test_master_cf_services_name_their_program() -> None:
    services = tr.parse_master_services(POSTCONF_M)
    assert (services["relay"], services["retry"], services["virtual"]) == ("smtp", "error", "virtual")
    assert "127.0.0.1:2525" not in services  # the SMTP server, not a transport


def test_postfix_lists_split_on_commas_and_spaces_and_keep_braces() -> None:
    assert tr.split_postfix_list("a.test, b.test  c.test,inline:{ x=y, { k = v w } }") == [
        "a.test", "b.test", "c.test", "inline:{ x=y, { k = v w } }"]
    assert tr.split_postfix_list("{ x y }, z") == ["x y", "z"]


@pytest.mark.parametrize(("value", "expected"), [
    ("smtp:[192.0.2.7]:2525", ("smtp", "[192.0.2.7]:2525")), (":[gw.example.net]", ("", "[gw.example.net]")),
    ("error:5.1.1 Gone away", ("error", "5.1.1 Gone away")), ("virtual", ("virtual", "")), ("relay:", ("relay", "")),
])
def test_transport_values_split_into_transport_and_nexthop(value: str, expected: tuple[str, str]) -> None:
    assert tr.split_transport(value) == expected


def test_nexthop_hosts_in_brackets_bare_names_and_sockets() -> None:
    hosts = tr.nexthop_hosts("[192.0.2.7]:2525, [mx.example.net], example.org:587, [ipv6:2001:db8::1]")
    assert [(h.name, h.ip, h.port, h.notes) for h in hosts] == [
        ("192.0.2.7", "192.0.2.7", 2525, []), ("mx.example.net", "", None, []),
        ("example.org", "", 587, ["MX lookup"]), ("2001:db8::1", "2001:db8::1", None, [])]
    assert tr.nexthop_hosts("unix:private/dovecot-lmtp") == []
    assert [(h.name, h.port, h.notes) for h in tr.nexthop_hosts("inet:lmtp.example:24", mx_lookup=False)] == [
        ("lmtp.example", 24, [])]


def test_alias_targets_are_qualified_and_keep_pipes_files_and_quotes() -> None:
    assert tr.alias_targets('alice, bob@example.org "|/usr/bin/vacation -a alice", /var/mail/x, :include:/l',
                            "local.test") == [
        "alice@local.test", "bob@example.org", "|/usr/bin/vacation -a alice", "/var/mail/x", ":include:/l"]


def test_postfix_virtual_mailbox() -> None:
    assert postfix_tree("alice@local.test") == {"address": "alice@local.test", **VIRTUAL}


def test_postfix_unqualified_address_gets_myorigin() -> None:
    assert postfix_tree("alice")["address"] == "alice@local.test"


def test_postfix_recipient_delimiter_extension_finds_the_mailbox() -> None:
    assert postfix_tree("alice+news@local.test") == {"address": "alice+news@local.test", **VIRTUAL}


def test_postfix_virtual_alias_chain_is_sorted_and_nested() -> None:
    assert postfix_tree("sales@local.test") == {"address": "sales@local.test", "kind": "redirect", "children": [
        {"address": "team@local.test", "kind": "redirect", "children": [
            {"address": "alice@local.test", **VIRTUAL}, {"address": "bob@local.test", **VIRTUAL}]}]}


def test_postfix_second_path_to_one_mailbox_is_a_duplicate() -> None:
    children = postfix_tree("both@local.test")["children"]
    assert [(c["address"], c.get("duplicate", False)) for c in children] == [
        ("alice@local.test", False), ("team@local.test", False)]
    assert [(c["address"], c.get("duplicate", False)) for c in children[1]["children"]] == [
        ("alice@local.test", True), ("bob@local.test", False)]


def test_postfix_alias_to_itself_is_delivered_once_not_expanded_again() -> None:
    children = postfix_tree("self@local.test")["children"]
    assert [(c["address"], c["kind"]) for c in children] == [("bob@local.test", "local"), ("self@local.test", "undeliverable")]
    assert children[1]["error"] == "User unknown in virtual mailbox table"  # self is no mailbox


def test_postfix_alias_loop_is_deferred_as_postfix_does() -> None:
    root = postfix_tree("ping@local.test")
    loop = root["children"][0]["children"][0]
    assert loop == {"address": "ping@local.test", "kind": "deferred",
                    "error": "alias loop: ping@local.test → pong@local.test → ping@local.test"}
    assert tr.AddressTrace("ping@local.test", "postfix", [], tr.TraceNode("x", tr.DEFERRED)).status == tr.DEFERRED


def test_postfix_catch_all_alias_of_a_domain() -> None:
    assert [c["address"] for c in postfix_tree("anyone@alias.test")["children"]] == ["alice@local.test"]


def test_postfix_relay_domain_through_transport_maps() -> None:
    assert postfix_tree("carol@accept.test") == {
        "address": "carol@accept.test", "kind": "remote", "router": "relay", "transport": "smtp", "driver": "smtp",
        "hosts": [{"name": "127.0.0.1", "ip": "127.0.0.1", "mx": None, "port": 2526, "usable": True, "notes": []}]}


def test_postfix_relay_domain_covers_its_subdomains_and_uses_relay_transport() -> None:
    tree = postfix_tree("x@sub.example.org")  # relay_domains is in parent_domain_matches_subdomains
    assert (tree["router"], tree["transport"], tree["driver"], tree["hosts"][0]["name"]) == (
        "relay", "relay", "smtp", "sub.example.org")


def test_postfix_relayhost_is_the_nexthop_of_other_domains() -> None:
    tree = postfix_tree("x@elsewhere.net", POSTCONF_X.replace("relayhost =", "relayhost = [smarthost.example]:587"))
    assert (tree["router"], tree["kind"]) == ("default", "remote")
    assert tree["hosts"] == [{"name": "smarthost.example", "ip": "", "mx": None, "port": 587, "usable": True,
                              "notes": []}]


def test_postfix_discard_error_and_retry_transports() -> None:
    assert postfix_tree("discard@local.test")["kind"] == "discarded"
    gone = postfix_tree("gone@local.test")
    assert (gone["kind"], gone["error"], gone["transport"]) == ("undeliverable", "5.1.1 This mailbox is closed", "error")
    queued = postfix_tree("queue@local.test")
    assert (queued["kind"], queued["error"]) == ("deferred", "4.3.0 Mailbox moving")


def test_postfix_lmtp_to_a_socket_is_delivered_here() -> None:
    tree = postfix_tree("x@box.lmtp.test", POSTCONF_X.replace("relay_domains = ", "relay_domains = lmtp.test "))
    assert (tree["kind"], tree["transport"], tree["driver"]) == ("local", "lmtp", "lmtp")


def test_postfix_unknown_virtual_mailbox_is_undeliverable() -> None:
    assert postfix_tree("nobody@local.test") == {"address": "nobody@local.test", "kind": "undeliverable",
                                                 "error": "User unknown in virtual mailbox table"}


def test_postfix_local_domain_aliases_to_a_file_a_pipe_and_a_mailbox() -> None:
    tree = postfix_tree("postmaster@mta.test")  # postmaster → root → alice@local.test, /var/mail/archive
    root = tree["children"][0]
    assert root["address"] == "root@local.test"  # alias_maps targets are qualified with myorigin
    postfix_root = postfix_tree("root@localhost")
    assert [(c["address"], c["kind"]) for c in postfix_root["children"]] == [
        ("/var/mail/archive", "file"), ("alice@local.test", "local")]
    assert postfix_tree("vacation@mta.test")["children"] == [
        {"address": "|/usr/bin/vacation alice", "kind": "pipe", "router": "local", "transport": "local",
         "driver": "local"}]


def test_postfix_local_user_and_unknown_local_user() -> None:
    assert postfix_tree("root@mta.test")["kind"] == "redirect"  # an alias first
    tables = {**TABLES, "hash:/etc/pf/aliases": {}}
    tracer = tr.PostfixTracer(postconf="/pc", postmap="/pm", run=FakePostfix(tables=tables))
    assert tracer.trace("root@mta.test").root.to_dict() == {
        "address": "root@mta.test", "kind": "local", "router": "local", "transport": "local", "driver": "local"}
    assert tracer.trace("nobody@mta.test").root.to_dict() == {
        "address": "nobody@mta.test", "kind": "undeliverable", "error": "User unknown in local recipient table"}


def test_postfix_transport_missing_from_master_cf_is_deferred() -> None:
    tree = postfix_tree("x@example.org", POSTCONF_X.replace("relay_transport = relay", "relay_transport = nosuch"))
    assert (tree["kind"], tree["error"]) == ("deferred", "mail transport unavailable: nosuch is not in master.cf")


def test_postfix_is_asked_with_its_config_dir_and_the_address_as_the_lookup_key() -> None:
    fake = FakePostfix()
    answer = tr.PostfixTracer("/etc/pf", postconf="/usr/sbin/postconf", postmap="/usr/sbin/postmap",
                              run=fake).trace("-alice@local.test")
    assert answer.command == ["/usr/sbin/postconf", "-c", "/etc/pf", "-x", *tr.POSTFIX_PARAMETERS]
    assert fake.commands[1] == ["/usr/sbin/postconf", "-c", "/etc/pf", "-M"]
    # -q takes the next word as its argument, even one that starts with "-"; each table asked once a key.
    assert ["/usr/sbin/postmap", "-c", "/etc/pf", "-q", "-alice@local.test", "hash:/etc/pf/virtual_aliases"] in fake.commands
    assert len(fake.commands) == len({tuple(c) for c in fake.commands})


def test_postfix_table_it_cannot_read_is_one_clear_sentence() -> None:
    tables = {k: v for k, v in TABLES.items() if k != "hash:/etc/pf/virtual_aliases"}
    tracer = tr.PostfixTracer(postconf="/pc", postmap="/pm", run=FakePostfix(tables=tables))
    with pytest.raises(tr.TraceError, match=r"^Postfix could not read the table hash:/etc/pf/virtual_aliases: "
                                            r"open database hash:/etc/pf/virtual_aliases\.db: No such file\.$"):
        tracer.trace("alice@local.test")


def test_postfix_not_installed_is_one_clear_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tr, "find_postfix_program", lambda name: None)
    result = CliRunner().invoke(main, ["trace", "bob@example.com", "--mta", "postfix"])
    assert result.exit_code == 1
    assert result.output == ("Error: Postfix is not installed here (no postconf and postmap on PATH or in "
                             "/usr/sbin), so there is no mail server to ask.\n")


def test_auto_takes_a_directory_for_postfix_and_a_file_for_exim(tmp_path) -> None:  # type: ignore[no-untyped-def]
    exim_conf = tmp_path / "exim.conf"
    exim_conf.write_text("")
    (tmp_path / "main.cf").write_text("")
    assert [t.name for t in tr.tracers_for("auto", str(tmp_path))] == ["postfix"]
    assert [(t.name, t.config_dir) for t in tr.tracers_for("auto", str(tmp_path / "main.cf"))  # type: ignore[attr-defined]
            ] == [("postfix", str(tmp_path))]
    assert [t.name for t in tr.tracers_for("auto", str(exim_conf))] == ["exim"]
    assert [t.name for t in tr.tracers_for("auto")] == ["exim", "postfix"]
    assert [t.name for t in tr.tracers_for("postfix")] == ["postfix"]


def test_cli_mta_postfix_json(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    fake = FakePostfix()
    real = tr.PostfixTracer
    monkeypatch.setattr(tr, "PostfixTracer", lambda config_dir=None: real(config_dir, "/pc", "/pm", fake))
    result = CliRunner().invoke(main, ["trace", "nobody@local.test", "--config-file", str(tmp_path), "--format", "json"])
    assert result.exit_code == 2
    answer = json.loads(result.output)
    assert (answer["mta"], answer["status"], answer["command"][:3]) == ("postfix", "undeliverable",
                                                                        ["/pc", "-c", str(tmp_path)])
