"""``trackdelivery trace`` as the Exim and Postfix trace tests run it (test_exim_trace.py,
test_postfix_trace.py), and its answers for the alias chain both test MTAs are configured with."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def run_trace(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``trackdelivery trace ARGS`` as a user runs it, in the environment ``env``."""
    return subprocess.run([sys.executable, "-m", "trackdelivery", "trace", *args], capture_output=True,
                          text=True, timeout=60, env=env)


def json_answer(done: subprocess.CompletedProcess[str], mta: str, address: str,
                exit_code: int = 0) -> dict[str, Any]:
    """The answer of ``trace --format json`` for ``address``, after checking its exit code and that it
    names the MTA that answered and the address asked about."""
    assert done.returncode == exit_code, done.stdout + done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    assert answer["mta"] == mta and answer["address"] == address
    return answer


def alias_chain_tree(mailbox: dict[str, str]) -> dict[str, Any]:
    """The trace tree of sales@local.test (sales → team → alice, bob: the ALIASES of exim.py and
    postfix.py), ``mailbox`` the fields the MTA gives a delivery to a mailbox."""
    return {
        "address": "sales@local.test", "kind": "redirect", "children": [
            {"address": "team@local.test", "kind": "redirect", "children": [
                {"address": "alice@local.test", **mailbox},
                {"address": "bob@local.test", **mailbox},
            ]},
        ],
    }


def alias_chain_text(delivered_here: str) -> str:
    """The text answer for sales@local.test, ``delivered_here`` the words for a delivery to a mailbox."""
    return (
        "sales@local.test  → alias or forwarder\n"
        "└─ team@local.test  → alias or forwarder\n"
        f"   ├─ alice@local.test  → {delivered_here}\n"
        f"   └─ bob@local.test  → {delivered_here}\n"
        "\n"
        "Mail to sales@local.test would be delivered.\n"
    )


TraceCall = Callable[[str, str], Any]  # (user, address) → the API's response


def web_trace_client(db: Path, mta: str, config: str) -> TraceCall:
    """``GET /api/v1/trace`` of a web app asking ``mta`` with ``config``, as the user "admin" or the
    account "local" (owner of local.test)."""
    from fastapi.testclient import TestClient

    from trackdelivery import users
    from trackdelivery.config import Config, TraceSettings
    from trackdelivery.store.sqlite import Store
    from trackdelivery.web import create_app

    with Store(db) as store:
        users.add_user(store.db, "admin", users.ADMIN)
        users.add_user(store.db, "local", users.ACCOUNT, domains=["local.test"])
        tokens = {name: users.create_token(store.db, name) for name in ("admin", "local")}
    settings = TraceSettings(mta=mta, config_file=config)
    client = TestClient(create_app(str(db), Config(db=str(db), trace=settings)))

    def get(user: str, address: str) -> Any:
        return client.get("/api/v1/trace", params={"address": address},
                          headers={"Authorization": f"Bearer {tokens[user]}"})

    return get
