"""The address trace behind /api/v1/trace: which addresses a caller may trace, which MTA is asked, and
what of the answer a tenant sees.

The address comes from whoever calls the API and becomes an argument of the mail server's command, so
it is checked strictly before any process starts: one plain address, never something an MTA could read
as an option or a route.
"""

from __future__ import annotations

import re
from typing import Any

from .. import trace
from ..config import TraceSettings
from ..search import Scope

MAX_ADDRESS = 254  # RFC 5321's longest forward path
MAX_LOCAL_PART = 64

# One plain address, ASCII only: letters, digits and "_ + = -" in dot-separated words before the "@", a
# host name after it. The first character is a letter, digit or "_", so it can never be an option
# ("-bd"); there are no quotes, "%", "!", "/", "|", ":", "&", "$", backquotes, a second "@" (routing
# and shell characters), spaces or control characters.
_CHAR = r"[A-Za-z0-9_+=-]"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
ADDRESS_RE = re.compile(rf"[A-Za-z0-9_]{_CHAR}*(?:\.{_CHAR}+)*@{_LABEL}(?:\.{_LABEL})*")

EXAMPLE = "bob@example.com"
NOT_YOURS_DOMAINS = "You can trace only addresses in your own domains."
NOT_YOURS_MAILBOX = "You can trace only your own address, {address}."
TURNED_OFF = "The address trace is turned off on this server ([trace] enabled = false in its config file)."


def address_problem(address: str) -> str | None:
    """Why ``address`` cannot be traced from the web (None when it can)."""
    if not address:
        return f"Give the address to trace, e.g. {EXAMPLE}."
    if len(address) > MAX_ADDRESS:
        return "That address is too long to be an email address."
    shown = repr(address[:40]) + ("…" if len(address) > 40 else "")
    if not ADDRESS_RE.fullmatch(address) or len(address.rpartition("@")[0]) > MAX_LOCAL_PART:
        return (f"{shown} cannot be traced: give one plain address like {EXAMPLE} (letters, digits and "
                ". _ + = - before the @).")
    return trace.check_address(address)  # the library's own rule, which must agree


def in_scope(address: str, scope: Scope | None) -> bool:
    """May a caller with ``scope`` trace ``address``: its own address, or one in its own domains."""
    if scope is None:
        return True
    address = address.lower()
    domain = address.rpartition("@")[2]
    return address in (scope.addresses or ()) or domain in (scope.domains or ())


def scope_problem(address: str, scope: Scope | None) -> str | None:
    if in_scope(address, scope):
        return None
    if scope is not None and scope.addresses and not scope.domains:
        return NOT_YOURS_MAILBOX.format(address=scope.addresses[0])
    return NOT_YOURS_DOMAINS


def tracers_for(settings: TraceSettings) -> list[trace.Tracer]:
    """The tracers to ask for the ``[trace]`` table, chosen as ``trackdelivery trace --mta`` chooses
    them, each given the table's time limit."""
    tracers = trace.tracers_for(settings.mta, settings.config_file or None)
    for tracer in tracers:
        if isinstance(tracer, trace.EximTracer | trace.PostfixTracer):
            tracer.timeout = settings.timeout_seconds
    return tracers


def answer_for(result: trace.AddressTrace, scope: Scope | None) -> dict[str, Any]:
    """The trace as the API answers it (``AddressTrace.to_dict()``); for a tenant, without the command
    (the server's paths) and without what another tenant's aliases and forwarders expand to."""
    answer = result.to_dict()
    if scope is not None:
        answer["command"] = []
        answer["tree"] = _hide_others(answer["tree"], scope, top=True)
    return answer


def _hide_others(node: dict[str, Any], scope: Scope, top: bool) -> dict[str, Any]:
    children = node.get("children")
    if not children:
        return node
    if not top and not in_scope(node["address"], scope):
        # Mail goes on to another tenant's alias: that it does is the caller's own setting; where it
        # goes from there is the other tenant's (their mailboxes, forwarders, programs).
        hidden = {key: value for key, value in node.items() if key != "children"}
        hidden["hidden"] = True
        return hidden
    return {**node, "children": [_hide_others(child, scope, top=False) for child in children]}
