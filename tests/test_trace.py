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
    result = CliRunner().invoke(main, ["trace", "bob@example.com"])
    assert result.exit_code == 1
    assert result.output == ("Error: No supported mail server is installed here: the trace needs Exim "
                             "('exim' or 'exim4' on PATH or in /usr/sbin).\n")


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
