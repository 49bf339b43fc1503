"""``trackdelivery trace`` against a real Exim: its answer for a mailbox, an alias chain, a remote domain,
a discard and an address nobody can route (the tests' own Exim configuration, see exim.py)."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import pytest

from .conftest import Sinks
from .exim import EximServer
from .tracing import alias_chain_text, alias_chain_tree, json_answer, run_trace, web_trace_client

pytestmark = pytest.mark.mta

LOCAL_MAILBOX = {"kind": "local", "router": "local_user", "transport": "local_maildir",
                 "driver": "appendfile"}
DELIVERED_HERE = "delivered on this server [router local_user, transport local_maildir (appendfile)]"


def trace(exim: EximServer, address: str, *options: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    # The same Exim the tests run (it may be unpacked rather than installed): first on PATH.
    env["PATH"] = os.path.dirname(exim.binary) + os.pathsep + env.get("PATH", "")
    return run_trace([address, "--config-file", str(exim.config), *options], env)


def trace_json(exim: EximServer, address: str, exit_code: int = 0) -> dict[str, Any]:
    return json_answer(trace(exim, address, "--format", "json"), "exim", address, exit_code)


def test_trace_of_a_local_mailbox(exim: EximServer) -> None:
    answer = trace_json(exim, "alice@local.test")
    assert answer["status"] == "deliverable"
    assert answer["tree"] == {"address": "alice@local.test", **LOCAL_MAILBOX}


def test_trace_follows_an_alias_chain_to_its_mailboxes(exim: EximServer) -> None:
    answer = trace_json(exim, "sales@local.test")  # sales → team → alice, bob
    assert answer["tree"] == alias_chain_tree(LOCAL_MAILBOX)


def test_trace_of_a_remote_domain_names_the_hosts(exim: EximServer, sinks: Sinks) -> None:
    answer = trace_json(exim, "carol@accept.test")
    assert answer["tree"] == {
        "address": "carol@accept.test", "kind": "remote", "router": "accept_sink", "transport": "accept_smtp",
        "driver": "smtp", "hosts": [{"name": "127.0.0.1", "ip": "127.0.0.1", "mx": None,
                                     "port": sinks.accept.port, "usable": True, "notes": []}],
    }


def test_trace_of_a_discarding_alias(exim: EximServer) -> None:
    answer = trace_json(exim, "discard@local.test")
    assert answer["status"] == "discarded"
    assert answer["tree"] == {"address": "discard@local.test", "kind": "discarded"}


def test_trace_of_an_unrouteable_address_says_why_and_exits_2(exim: EximServer) -> None:
    answer = trace_json(exim, "nobody@nowhere.test", exit_code=2)
    assert answer["status"] == "undeliverable"
    assert answer["tree"] == {"address": "nobody@nowhere.test", "kind": "undeliverable",
                              "error": "Unrouteable address"}


def test_trace_text_shows_the_chain_as_a_tree(exim: EximServer) -> None:
    done = trace(exim, "sales@local.test")
    assert done.returncode == 0, done.stderr
    assert done.stdout == alias_chain_text(DELIVERED_HERE)


# -- the same Exim through the web API (GET /api/v1/trace) ----------------------------------------


def test_the_web_api_traces_with_the_real_exim_and_keeps_tenants_to_their_domains(
        exim: EximServer, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", os.path.dirname(exim.binary) + os.pathsep + os.environ.get("PATH", ""))
    db = tmp_path_factory.mktemp("web-trace") / "td.sqlite3"
    get = web_trace_client(db, "exim", str(exim.config))

    admin = get("admin", "sales@local.test")
    assert admin.status_code == 200, admin.text
    command = admin.json()["command"]
    assert os.path.realpath(command[0]) == os.path.realpath(exim.binary)  # "exim" may link to "exim4"
    assert command[1:] == ["-C", str(exim.config), "-bt", "--", "sales@local.test"]
    assert admin.json() == {**trace_json(exim, "sales@local.test"), "command": command}
    assert admin.json()["tree"]["children"][0]["children"] == [
        {"address": "alice@local.test", **LOCAL_MAILBOX}, {"address": "bob@local.test", **LOCAL_MAILBOX}]
    own = get("local", "alice@local.test")
    assert own.status_code == 200 and own.json()["tree"] == {"address": "alice@local.test", **LOCAL_MAILBOX}
    assert own.json()["command"] == []
    other = get("local", "carol@accept.test")
    assert other.status_code == 403 and other.json() == {"error": "You can trace only addresses in your own domains."}
    option = get("admin", "-bd")
    assert option.status_code == 400 and "cannot be traced" in option.json()["error"]
