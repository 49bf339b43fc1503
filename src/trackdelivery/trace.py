"""Address trace: ask the local mail server where mail to an address would go (cPanel's Email Address Trace).

The MTA answers (Exim: ``exim -bt``); a pure function turns that answer into a tree — the address, the
aliases and forwarders it passes through, and where each branch ends: a local mailbox, a pipe or file,
remote hosts, or the reason it cannot be delivered. Another MTA (Postfix) is another ``Tracer``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

# Where a branch of the tree ends (or REDIRECT: an alias or forwarder with children).
LOCAL = "local"
REMOTE = "remote"
PIPE = "pipe"
FILE = "file"
AUTOREPLY = "autoreply"
DISCARDED = "discarded"
UNDELIVERABLE = "undeliverable"
DEFERRED = "deferred"
REDIRECT = "redirect"

# The trace's overall answer; the command's exit status follows it.
DELIVERABLE = "deliverable"
STATUS_EXIT_CODES = {DELIVERABLE: 0, DISCARDED: 0, UNDELIVERABLE: 2, DEFERRED: 3}

TIMEOUT_SECONDS = 60
EXIM_NAMES = ("exim", "exim4")
# Where Exim lives when it is not on PATH (non-root users rarely have the sbin directories).
EXIM_DIRS = ("/usr/sbin", "/usr/local/sbin", "/usr/exim/bin", "/usr/lib")
# Transport drivers that hand the message to another server; the others deliver on this one.
REMOTE_DRIVERS = frozenset(("smtp",))
_DRIVER_KINDS = {"pipe": PIPE, "autoreply": AUTOREPLY}


class TraceError(Exception):
    """The trace could not be run; the message is one sentence for the user."""


@dataclass(slots=True)
class TraceHost:
    """One server a remote delivery would try, in order."""

    name: str
    ip: str = ""  # "" when the address is not known yet
    mx: int | None = None  # MX preference when the host came from an MX record
    port: int | None = None  # when not the transport's default (25)
    usable: bool = True  # Exim marks hosts it would skip (retry time not reached) "** unusable **"
    notes: list[str] = field(default_factory=list)  # anything else Exim printed, e.g. "dnssec=yes"


@dataclass(slots=True)
class TraceNode:
    """An address and what happens to it: delivered somewhere, redirected to children, or an error."""

    address: str
    kind: str = REDIRECT
    router: str = ""
    transport: str = ""
    driver: str = ""  # the transport's driver (appendfile, smtp, pipe, lmtp, ...) when the MTA says
    hosts: list[TraceHost] = field(default_factory=list)
    error: str = ""
    duplicate: bool = False  # the same final address again: it would be delivered only once
    children: list[TraceNode] = field(default_factory=list)

    def leaves(self) -> Iterable[TraceNode]:
        if not self.children:
            yield self
        for child in self.children:
            yield from child.leaves()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"address": self.address, "kind": self.kind}
        if self.router or self.transport:
            out.update(router=self.router, transport=self.transport, driver=self.driver)
        if self.hosts:
            out["hosts"] = [
                {"name": h.name, "ip": h.ip, "mx": h.mx, "port": h.port, "usable": h.usable, "notes": h.notes}
                for h in self.hosts
            ]
        if self.error:
            out["error"] = self.error
        if self.duplicate:
            out["duplicate"] = True
        if self.children:
            out["children"] = [c.to_dict() for c in self.children]
        return out


@dataclass(slots=True)
class AddressTrace:
    """The whole answer: which MTA was asked, how, the tree, and the overall status."""

    address: str
    mta: str
    command: list[str]
    root: TraceNode

    @property
    def status(self) -> str:
        kinds = {leaf.kind for leaf in self.root.leaves() if not leaf.duplicate}
        if UNDELIVERABLE in kinds:
            return UNDELIVERABLE
        if DEFERRED in kinds:
            return DEFERRED
        if kinds <= {DISCARDED}:
            return DISCARDED
        return DELIVERABLE

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "mta": self.mta, "command": self.command, "status": self.status,
                "tree": self.root.to_dict()}


# -- Exim: parsing `exim -bt` ----------------------------------------------------------------------
# The forms come from Exim's verify.c (address test mode) and were captured from Exim 4.96:
#   "alice@example.com"                                   a routed address, then its lines:
#   "    <-- sales@example.com"                           the alias/forwarder it came from (nearest first)
#   "  router = localuser, transport = local_delivery"
#   "  host mx1.example.net [192.0.2.7] MX=10 port=2525"  remote hosts in order (names padded to align)
#   "alice@example.com   [duplicate, would not be delivered]"
#   "pipeme@example.com -> |/usr/bin/prog"                a pipe, file ("/path") or autoreply (">...")
#   "  transport = address_pipe"                          ... which has no router line
#   "bob@example.com is undeliverable: Unrouteable address"
#   "bob@example.com cannot be resolved at this time: host lookup did not complete"
#   "mail to discard@example.com is discarded"
#   "syntax error: domain missing or malformed"
_UNDELIVERABLE_RE = re.compile(r"(?P<addr>\S+) is undeliverable(?:: (?P<why>.*))?\Z")
_DEFERRED_RE = re.compile(r"(?P<addr>\S+) cannot be resolved at this time(?:: (?P<why>.*))?\Z")
_DISCARDED_RE = re.compile(r"mail to (?P<addr>\S+) is discarded\Z")
_SYNTAX_RE = re.compile(r"syntax error: (?P<why>.*)\Z")
_PFR_RE = re.compile(r"(?P<parent>\S+) -> (?P<target>[|/>].*)\Z")
_DUPLICATE = "[duplicate, would not be delivered]"
_PARENT_RE = re.compile(r"\s+<-- (?P<addr>\S+)\Z")
_ROUTER_RE = re.compile(r"\s+(?:router = (?P<router>[^,]*), )?transport = (?P<transport>\S+)\Z")
_HOST_RE = re.compile(r"\s+host (?P<name>\S+)\s*(?:\[(?P<ip>[^\]]*)\])?\s*(?P<rest>.*)\Z")
_TRANSPORT_HEAD_RE = re.compile(r"(?P<name>\S+) transport:\Z")


@dataclass(slots=True)
class RoutedAddress:
    """One block of the MTA's answer: where one final address goes, and the chain of addresses above it."""

    node: TraceNode
    chain: list[str] = field(default_factory=list)  # nearest parent first, the queried address last


def _pfr_kind(target: str) -> str:
    if target.startswith("|"):
        return PIPE
    if target.startswith(">"):
        return AUTOREPLY
    return FILE


def _host(match: re.Match[str]) -> TraceHost:
    ip = match["ip"] or ""
    host = TraceHost(match["name"], "" if ip == "unknown" else ip)
    rest = match["rest"]
    if "** unusable **" in rest:
        host.usable = False
        rest = rest.replace("** unusable **", " ")
    for token in rest.split():
        key, _, value = token.partition("=")
        if key == "MX" and value.lstrip("-").isdigit():
            host.mx = int(value)
        elif key == "port" and value.isdigit():
            host.port = int(value)
        else:
            host.notes.append(token)
    return host


def parse_exim_address_test(output: str) -> list[RoutedAddress]:
    """The blocks of ``exim -bt`` output, in order (pure: text in, values out)."""
    outcomes: list[RoutedAddress] = []
    current: RoutedAddress | None = None
    for raw in output.splitlines():
        line = raw.rstrip()
        if not line.strip():
            continue
        if line[0].isspace():
            if current is None:
                continue  # indented text with no address above it (debug output): not ours
            node = current.node
            if m := _PARENT_RE.match(line):
                current.chain.append(m["addr"])
            elif m := _ROUTER_RE.match(line):
                node.router, node.transport = m["router"] or "", m["transport"]
                if node.kind == REDIRECT:
                    node.kind = LOCAL
            elif m := _HOST_RE.match(line):
                node.hosts.append(_host(m))
                node.kind = REMOTE
            continue
        current = RoutedAddress(_top_line(line))
        if current.node.address.startswith(("|", "/", ">")) and (m := _PFR_RE.match(line)):
            current.chain.append(m["parent"])
        outcomes.append(current)
    return outcomes


def _top_line(line: str) -> TraceNode:
    if m := _UNDELIVERABLE_RE.match(line):
        return TraceNode(m["addr"], UNDELIVERABLE, error=m["why"] or "")  # no reason for non-admin users
    if m := _DEFERRED_RE.match(line):
        return TraceNode(m["addr"], DEFERRED, error=m["why"] or "")
    if m := _DISCARDED_RE.match(line):
        return TraceNode(m["addr"], DISCARDED)
    if m := _SYNTAX_RE.match(line):
        return TraceNode("", UNDELIVERABLE, error="syntax error: " + m["why"])
    if m := _PFR_RE.match(line):
        return TraceNode(m["target"], _pfr_kind(m["target"]))
    duplicate = line.endswith(_DUPLICATE)
    address = line[: -len(_DUPLICATE)].strip() if duplicate else line.strip()
    return TraceNode(address, REDIRECT, duplicate=duplicate)


def parse_exim_transport_drivers(output: str) -> dict[str, str]:
    """``exim -bP transports`` → {transport name: driver} (pure)."""
    drivers: dict[str, str] = {}
    name = ""
    for line in output.splitlines():
        if m := _TRANSPORT_HEAD_RE.match(line.strip()):
            name = m["name"]
        elif name and line.startswith("driver = "):
            drivers[name] = line[len("driver = ") :].strip()
    return drivers


def build_tree(address: str, outcomes: list[RoutedAddress],
               drivers: dict[str, str] | None = None) -> TraceNode:
    """One tree: the queried address at the root, aliases and forwarders below, outcomes at the leaves."""
    drivers = drivers or {}
    for outcome in outcomes:
        node = outcome.node
        if node.transport and node.transport in drivers:
            node.driver = drivers[node.transport]
            if node.kind == LOCAL:
                if node.driver in REMOTE_DRIVERS:
                    node.kind = REMOTE  # a transport with its own hosts: -bt lists none
                else:
                    node.kind = _DRIVER_KINDS.get(node.driver, LOCAL)
    if len(outcomes) == 1 and not outcomes[0].chain:
        root = outcomes[0].node
        if not root.address:
            root.address = address  # "syntax error: ..." names no address
        return root
    # Chains end with the queried address (as the MTA qualified it); a pipe or file names only its
    # nearest parent, so an address missing from the chain hangs under the queried one.
    tops = [o.chain[-1] for o in outcomes if o.chain and _same_address(o.chain[-1], address)]
    root = TraceNode(tops[0] if tops else address, REDIRECT)
    for outcome in outcomes:
        chain = outcome.chain
        steps = chain[:-1] if chain and _same_address(chain[-1], address) else chain
        parent = root
        for step in reversed(steps):
            found = next((c for c in parent.children if c.address == step and c.kind == REDIRECT), None)
            if found is None:
                found = TraceNode(step, REDIRECT)
                parent.children.append(found)
            parent = found
        parent.children.append(outcome.node)
    _sort_children(root)
    return root


def _sort_children(node: TraceNode) -> None:
    """Alphabetical, so the same setup always reads the same (Exim's own order depends on its dedup);
    a stable sort keeps a duplicate after the address it repeats."""
    node.children.sort(key=lambda c: c.address.lower())
    for child in node.children:
        _sort_children(child)


def _same_address(printed: str, asked: str) -> bool:
    """``alice@example.com`` is what the MTA prints for ``alice`` (qualified) or ``Alice@Example.com``."""
    p, a = printed.lower(), asked.lower()
    return p == a or ("@" not in a and p.startswith(a + "@"))


# -- running the MTA --------------------------------------------------------------------------------

Runner = Callable[..., "subprocess.CompletedProcess[str]"]


class Tracer(Protocol):
    """One MTA's way of answering "where would mail to this address go?"."""

    name: str

    def available(self) -> bool: ...

    def trace(self, address: str) -> AddressTrace: ...


def find_exim() -> str | None:
    """The Exim binary: ``exim``/``exim4`` on PATH, else in the usual sbin directories."""
    for name in EXIM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    for directory in EXIM_DIRS:
        for name in EXIM_NAMES:
            path = os.path.join(directory, name)
            if os.path.isfile(path) and os.access(path, os.X_OK):
                return path
    return None


class EximTracer:
    """``exim -bt ADDRESS`` (with ``-C CONFIG`` when given), parsed into a tree."""

    name = "exim"

    def __init__(self, config_file: str | None = None, binary: str | None = None,
                 run: Runner = subprocess.run, timeout: float = TIMEOUT_SECONDS) -> None:
        self.config_file = config_file
        self.binary = binary or find_exim()
        self.run = run
        self.timeout = timeout

    def available(self) -> bool:
        return self.binary is not None

    def _command(self, *args: str) -> list[str]:
        assert self.binary is not None
        config = ["-C", self.config_file] if self.config_file else []
        return [self.binary, *config, *args]

    def _call(self, command: list[str]) -> subprocess.CompletedProcess[str]:
        try:
            return self.run(command, capture_output=True, text=True, errors="replace", timeout=self.timeout,
                            stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise TraceError(f"Exim did not answer within {self.timeout:g} seconds "
                             "(it may be waiting for DNS lookups).") from None
        except OSError as exc:
            raise TraceError(f"Cannot run {command[0]}: {exc.strerror}.") from None

    def trace(self, address: str) -> AddressTrace:
        if self.binary is None:
            raise TraceError("Exim is not installed here (no exim or exim4 on PATH or in /usr/sbin), "
                             "so there is no mail server to ask.")
        command = self._command("-bt", "--", address)  # "--": an address starting with "-" is not an option
        done = self._call(command)
        outcomes = parse_exim_address_test(done.stdout)
        if not outcomes:
            detail = _first_line(done.stderr) or _first_line(done.stdout) or f"exit status {done.returncode}"
            raise TraceError(f"Exim could not test the address: {detail}")
        drivers: dict[str, str] = {}
        if any(o.node.transport for o in outcomes):
            listing = self._call(self._command("-bP", "transports"))
            if listing.returncode == 0:
                drivers = parse_exim_transport_drivers(listing.stdout)
        return AddressTrace(address, self.name, command, build_tree(address, outcomes, drivers))


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip().rstrip(".:") + "."
    return ""


def check_address(address: str) -> str | None:
    """Why ``address`` cannot be traced (None when it can): the MTA gets it as one argument."""
    if not address.strip():
        return "Give the address to trace, e.g. 'trackdelivery trace bob@example.com'."
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in address):
        return "An address to trace has no spaces or control characters."
    if len(address) > 1000:
        return "That address is too long to be an email address."
    return None


def trace_address(address: str, config_file: str | None = None,
                  tracers: list[Tracer] | None = None) -> AddressTrace:
    """Ask the first available MTA where mail to ``address`` would go."""
    problem = check_address(address)
    if problem:
        raise TraceError(problem)
    candidates: list[Tracer] = tracers if tracers is not None else [EximTracer(config_file)]
    for tracer in candidates:
        if tracer.available():
            return tracer.trace(address)
    raise TraceError("No supported mail server is installed here: the trace needs Exim "
                     "('exim' or 'exim4' on PATH or in /usr/sbin).")


# -- showing it ------------------------------------------------------------------------------------

_KIND_TEXT = {
    LOCAL: "delivered on this server",
    REMOTE: "sent to another server",
    PIPE: "piped to a program",
    FILE: "written to a file",
    AUTOREPLY: "answered automatically",
    DISCARDED: "discarded (no delivery, no bounce)",
    REDIRECT: "alias or forwarder",
}
_STATUS_TEXT = {
    DELIVERABLE: "Mail to {address} would be delivered.",
    DISCARDED: "Mail to {address} would be discarded.",
    UNDELIVERABLE: "Mail to {address} would bounce (at least one destination cannot be delivered to).",
    DEFERRED: "Mail to {address} would wait in the queue: a destination cannot be resolved at this time.",
}


def _describe(node: TraceNode) -> str:
    if node.kind in (UNDELIVERABLE, DEFERRED):
        label = "undeliverable" if node.kind == UNDELIVERABLE else "cannot be resolved at this time"
        return f"{node.address}  → {label}" + (f": {node.error}" if node.error else "")
    text = f"{node.address}  → {_KIND_TEXT.get(node.kind, node.kind)}"
    if node.duplicate:
        text += " (again: delivered only once)"
    parts = [f"router {node.router}"] if node.router else []
    if node.transport:
        parts.append(f"transport {node.transport}" + (f" ({node.driver})" if node.driver else ""))
    if parts:
        text += " [" + ", ".join(parts) + "]"
    return text


def _host_text(host: TraceHost) -> str:
    text = f"host {host.name}" + (f" [{host.ip}]" if host.ip else " [address unknown]")
    if host.mx is not None:
        text = f"MX {host.mx}: " + text
    if host.port is not None:
        text += f" port {host.port}"
    if host.notes:
        text += " " + " ".join(host.notes)
    if not host.usable:
        text += " (skipped for now: retry time not reached)"
    return text


def format_trace(result: AddressTrace) -> str:
    """The tree as indented text, then the overall answer in one sentence."""
    lines: list[str] = []

    def walk(node: TraceNode, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└─ " if last else "├─ ")
        lines.append(prefix + branch + _describe(node))
        inner = prefix if top else prefix + ("   " if last else "│  ")
        for host in node.hosts:
            lines.append(inner + "   " + _host_text(host))
        for i, child in enumerate(node.children):
            walk(child, inner, i == len(node.children) - 1, False)

    walk(result.root, "", True, True)
    lines.append("")
    lines.append(_STATUS_TEXT[result.status].format(address=result.address))
    return "\n".join(lines) + "\n"
