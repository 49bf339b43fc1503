"""``trackdelivery trace`` against a real Postfix: the real postconf and postmap answering from the tests'
own configuration (see postfix.py) for a mailbox, an alias chain, a relay domain, a discard, an unknown
address in a virtual mailbox domain and a domain the configuration does not know."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import pytest

from .conftest import Sinks
from .postfix import DISCARD, DISCARD_TEXT, PostfixServer
from .tracing import alias_chain_text, alias_chain_tree, json_answer, run_trace, web_trace_client

pytestmark = pytest.mark.mta

MAILBOX = {"kind": "local", "router": "virtual_mailbox", "transport": "virtual", "driver": "virtual"}
DELIVERED_HERE = "delivered on this server [router virtual_mailbox, transport virtual (virtual)]"


def trace(postfix: PostfixServer, address: str, *options: str) -> subprocess.CompletedProcess[str]:
    env = dict(postfix.env)  # the unpacked package's libraries
    # The same Postfix the tests run (it is usually unpacked rather than installed): first on PATH.
    env["PATH"] = str(postfix.command_dir) + os.pathsep + env.get("PATH", "")
    del env["MAIL_CONFIG"]  # the configuration is named by --config-file alone
    return run_trace(["--config-file", str(postfix.config_dir), *options, "--", address], env)


def trace_json(postfix: PostfixServer, address: str, exit_code: int = 0) -> dict[str, Any]:
    answer = json_answer(trace(postfix, address, "--format", "json"), "postfix", address, exit_code)
    assert answer["command"][:4] == [str(postfix.command_dir / "postconf"), "-c", str(postfix.config_dir), "-x"]
    return answer


def test_trace_of_a_virtual_mailbox(postfix: PostfixServer) -> None:
    answer = trace_json(postfix, "alice@local.test")
    assert answer["status"] == "deliverable"
    assert answer["tree"] == {"address": "alice@local.test", **MAILBOX}


def test_trace_follows_a_virtual_alias_chain_to_its_mailboxes(postfix: PostfixServer) -> None:
    answer = trace_json(postfix, "sales@local.test")  # sales → team → alice, bob
    assert answer["tree"] == alias_chain_tree(MAILBOX)


def test_trace_of_a_relay_domain_names_the_transport_maps_nexthop(postfix: PostfixServer, sinks: Sinks) -> None:
    answer = trace_json(postfix, "carol@accept.test")
    assert answer["tree"] == {
        "address": "carol@accept.test", "kind": "remote", "router": "relay", "transport": "smtp",
        "driver": "smtp", "hosts": [{"name": "127.0.0.1", "ip": "127.0.0.1", "mx": None,
                                     "port": sinks.accept.port, "usable": True, "notes": []}],
    }


def test_trace_of_an_address_routed_to_the_discard_transport(postfix: PostfixServer) -> None:
    answer = trace_json(postfix, DISCARD)
    assert answer["status"] == "discarded"
    assert answer["tree"] == {"address": DISCARD, "kind": "discarded", "router": "virtual_mailbox",
                              "transport": "discard", "driver": "discard"}
    assert DISCARD_TEXT  # what discard(8) logs as the reason; the trace needs only the transport


def test_trace_of_an_unknown_address_in_a_virtual_mailbox_domain_exits_2(postfix: PostfixServer) -> None:
    answer = trace_json(postfix, "nobody@local.test", exit_code=2)
    assert answer["status"] == "undeliverable"
    assert answer["tree"] == {"address": "nobody@local.test", "kind": "undeliverable",
                              "error": "User unknown in virtual mailbox table"}


def test_trace_of_a_domain_the_configuration_does_not_know_goes_to_its_mx(postfix: PostfixServer) -> None:
    answer = trace_json(postfix, "someone@elsewhere.test")
    assert answer["tree"] == {
        "address": "someone@elsewhere.test", "kind": "remote", "router": "default", "transport": "smtp",
        "driver": "smtp", "hosts": [{"name": "elsewhere.test", "ip": "", "mx": None, "port": None,
                                     "usable": True, "notes": ["MX lookup"]}],
    }


def test_trace_text_shows_the_chain_as_a_tree(postfix: PostfixServer) -> None:
    done = trace(postfix, "sales@local.test", "--mta", "postfix")
    assert done.returncode == 0, done.stderr
    assert done.stdout == alias_chain_text(DELIVERED_HERE)


def test_an_address_that_looks_like_an_option_is_only_a_lookup_key(postfix: PostfixServer) -> None:
    answer = trace_json(postfix, "-x@local.test", exit_code=2)  # postmap -q -x@local.test: a key, not -x
    assert answer["tree"] == {"address": "-x@local.test", "kind": "undeliverable",
                              "error": "User unknown in virtual mailbox table"}


# -- the same Postfix through the web API (GET /api/v1/trace) ---------------------------------------


def test_the_web_api_traces_with_the_real_postfix_and_keeps_tenants_to_their_domains(
        postfix: PostfixServer, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # The server process finds the same (usually unpacked) Postfix and its libraries.
    for name, value in postfix.env.items():
        if name != "MAIL_CONFIG":
            monkeypatch.setenv(name, value)
    monkeypatch.delenv("MAIL_CONFIG", raising=False)
    monkeypatch.setenv("PATH", str(postfix.command_dir) + os.pathsep + os.environ.get("PATH", ""))
    db = tmp_path_factory.mktemp("web-trace-postfix") / "td.sqlite3"
    get = web_trace_client(db, "postfix", str(postfix.config_dir))

    admin = get("admin", "sales@local.test")
    assert admin.status_code == 200, admin.text
    assert admin.json()["mta"] == "postfix" and admin.json()["tree"] == alias_chain_tree(MAILBOX)
    assert admin.json() == {**trace_json(postfix, "sales@local.test"), "command": admin.json()["command"]}
    own = get("local", "alice@local.test")
    assert own.status_code == 200 and own.json()["tree"] == {"address": "alice@local.test", **MAILBOX}
    assert own.json()["command"] == []  # a tenant does not see the server's paths
    other = get("local", "carol@accept.test")
    assert other.status_code == 403 and other.json() == {"error": "You can trace only addresses in your own domains."}
    option = get("admin", "-q")
    assert option.status_code == 400 and "cannot be traced" in option.json()["error"]
