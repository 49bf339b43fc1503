"""``trackdelivery trace`` against a real Exim: its answer for a mailbox, an alias chain, a remote domain,
a discard and an address nobody can route (the tests' own Exim configuration, see exim.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from .conftest import Sinks
from .exim import EximServer

pytestmark = pytest.mark.mta

LOCAL_MAILBOX = {"kind": "local", "router": "local_user", "transport": "local_maildir",
                 "driver": "appendfile"}
DELIVERED_HERE = "delivered on this server [router local_user, transport local_maildir (appendfile)]"


def trace(exim: EximServer, address: str, *options: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    # The same Exim the tests run (it may be unpacked rather than installed): first on PATH.
    env["PATH"] = os.path.dirname(exim.binary) + os.pathsep + env.get("PATH", "")
    return subprocess.run([sys.executable, "-m", "trackdelivery", "trace", address, "--config-file",
                           str(exim.config), *options], capture_output=True, text=True, timeout=60, env=env)


def trace_json(exim: EximServer, address: str, exit_code: int = 0) -> dict[str, Any]:
    done = trace(exim, address, "--format", "json")
    assert done.returncode == exit_code, done.stdout + done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    assert answer["mta"] == "exim" and answer["address"] == address
    return answer


def test_trace_of_a_local_mailbox(exim: EximServer) -> None:
    answer = trace_json(exim, "alice@local.test")
    assert answer["status"] == "deliverable"
    assert answer["tree"] == {"address": "alice@local.test", **LOCAL_MAILBOX}


def test_trace_follows_an_alias_chain_to_its_mailboxes(exim: EximServer) -> None:
    answer = trace_json(exim, "sales@local.test")  # sales → team → alice, bob
    assert answer["tree"] == {
        "address": "sales@local.test", "kind": "redirect", "children": [
            {"address": "team@local.test", "kind": "redirect", "children": [
                {"address": "alice@local.test", **LOCAL_MAILBOX},
                {"address": "bob@local.test", **LOCAL_MAILBOX},
            ]},
        ],
    }


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
    assert done.stdout == (
        "sales@local.test  → alias or forwarder\n"
        "└─ team@local.test  → alias or forwarder\n"
        f"   ├─ alice@local.test  → {DELIVERED_HERE}\n"
        f"   └─ bob@local.test  → {DELIVERED_HERE}\n"
        "\n"
        "Mail to sales@local.test would be delivered.\n"
    )
