"""Address trace: ask the local mail server where mail to an address would go (cPanel's Email Address Trace).

The MTA answers (Exim: ``exim -bt``; Postfix: ``postconf`` and ``postmap -q`` on its tables); pure
functions turn that answer into a tree — the address, the aliases and forwarders it passes through, and
where each branch ends: a local mailbox, a pipe or file, remote hosts, or the reason it cannot be delivered.
"""

from __future__ import annotations

import ipaddress
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


def find_program(names: Iterable[str], directories: Iterable[str]) -> str | None:
    """The first of ``names`` on PATH, else in ``directories`` (sbin is often not on a user's PATH)."""
    names = tuple(names)
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    for directory in directories:
        for name in names:
            path = os.path.join(directory, name)
            if os.path.isfile(path) and os.access(path, os.X_OK):
                return path
    return None


def find_exim() -> str | None:
    """The Exim binary: ``exim``/``exim4`` on PATH, else in the usual sbin directories."""
    return find_program(EXIM_NAMES, EXIM_DIRS)


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


# -- Postfix: its configuration, lookup tables and master.cf ---------------------------------------
# Postfix has no "-bt": where mail goes follows from main.cf's address classes (ADDRESS_CLASS_README),
# the tables it names (asked with "postmap -q KEY TABLE") and master.cf (the program behind each
# transport). PostfixResolver walks them the way trivial-rewrite and cleanup do; the tables are asked
# through a function, so the walk is pure and tested without Postfix.

POSTFIX = "postfix"
POSTFIX_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")
# What the walk reads from main.cf ("postconf -x": $name references expanded).
POSTFIX_PARAMETERS = (
    "myorigin", "mydestination", "virtual_alias_maps", "virtual_alias_domains", "virtual_mailbox_domains",
    "virtual_mailbox_maps", "relay_domains", "relay_recipient_maps", "transport_maps", "local_transport",
    "virtual_transport", "relay_transport", "default_transport", "relayhost", "alias_maps",
    "local_recipient_maps", "recipient_delimiter", "parent_domain_matches_subdomains",
)  # fmt: skip
# Postfix gives up on deeper alias nesting (virtual_alias_recursion_limit, 1000) by deferring the message.
MAX_ALIAS_DEPTH = 50
# Address classes (ADDRESS_CLASS_README), shown as the "router" of a leaf.
LOCAL_CLASS = "local"  # mydestination: local(8), alias_maps
VIRTUAL_ALIAS_CLASS = "virtual_alias"  # virtual_alias_domains: every address must be an alias
VIRTUAL_MAILBOX_CLASS = "virtual_mailbox"  # virtual_mailbox_domains: virtual(8) mailboxes
RELAY_CLASS = "relay"  # relay_domains: relayed to another server
DEFAULT_CLASS = "default"  # any other domain: default_transport
# master.cf commands (the program behind a transport) → where a delivery through them ends.
_POSTFIX_COMMAND_KINDS = {"local": LOCAL, "virtual": LOCAL, "pipe": PIPE, "discard": DISCARDED,
                          "error": UNDELIVERABLE, "retry": DEFERRED}  # fmt: skip
_POSTFIX_REMOTE_COMMANDS = frozenset(("smtp", "lmtp"))
# "name = value" of postconf (an empty value: "name =").
_POSTCONF_RE = re.compile(r"(?P<name>[A-Za-z0-9_.-]+) =(?: (?P<value>.*))?\Z")
# An alias target: "a quoted string, with commas" or a word.
_ALIAS_ITEM_RE = re.compile(r'"(?:[^"\\]|\\.)*"|[^\s,"]+')
# A table: "type:name" (hash:/etc/postfix/virtual, inline:{...}, proxy:unix:passwd.byname).
_TABLE_RE = re.compile(r"[a-z][a-z0-9_-]*:\S")

Lookup = Callable[[str, str], "str | None"]  # (key, "type:name") → the table's value, None if not there


def parse_postconf(output: str) -> dict[str, str]:
    """``postconf -x name ...`` → {name: value} (pure)."""
    params: dict[str, str] = {}
    for line in output.splitlines():
        if m := _POSTCONF_RE.match(line.strip()):
            params[m["name"]] = (m["value"] or "").strip()
    return params


def parse_master_services(output: str) -> dict[str, str]:
    """``postconf -M`` (master.cf, one service a line) → {transport: the program it runs} (pure).

    "smtp      unix  -       -       y       -       -       smtp" → {"smtp": "smtp"}. Only UNIX-domain
    services can be transports: Debian's "smtp inet ... smtpd" (the server) is another service.
    """
    services: dict[str, str] = {}
    for line in output.splitlines():
        fields = line.split()
        if len(fields) >= 8 and fields[1] == "unix" and not fields[0].startswith("#"):
            services[fields[0]] = fields[7]
    return services


def split_postfix_list(value: str) -> list[str]:
    """A main.cf list → its items (pure): separated by commas and spaces, except inside braces.

    "a, b c" → [a, b, c]; "{ x y }, z" → ["x y", z]; "inline:{ k=v, { k2 = v 2 } }" stays one item.
    """
    items: list[str] = []
    current: list[str] = []
    depth = 0
    for char in value + " ":
        if depth == 0 and (char == "," or char.isspace()):
            item = "".join(current).strip()
            if item.startswith("{") and item.endswith("}"):
                item = item[1:-1].strip()
            if item:
                items.append(item)
            current = []
            continue
        depth += 1 if char == "{" else -1 if char == "}" and depth > 0 else 0
        current.append(char)
    return items


def split_transport(value: str) -> tuple[str, str]:
    """A transport_maps result or *_transport value → (transport, nexthop) (pure).

    "smtp:[192.0.2.7]:2525" → ("smtp", "[192.0.2.7]:2525"), ":[gw.example]" → ("", "[gw.example]"),
    "error:5.1.1 Gone" → ("error", "5.1.1 Gone"), "virtual" → ("virtual", "").
    """
    transport, _, nexthop = value.strip().partition(":")
    return transport.strip(), nexthop.strip()


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def nexthop_hosts(nexthop: str, mx_lookup: bool = True) -> list[TraceHost]:
    """A nexthop ("[192.0.2.7]:2525", "mx.example.net", "[a]:587, [b]:587", "inet:host:24") → its hosts.

    A name in brackets is used as it is; a bare name is looked up as a domain's MX by smtp(8) (the
    trace does no DNS: its host is the domain, noted "MX lookup"). A UNIX socket has no host (pure).
    """
    hosts = []
    for item in split_postfix_list(nexthop):
        if item.startswith("unix:") or item.startswith("/"):
            continue
        if item.startswith("inet:"):
            item = item[5:]
        port: int | None = None
        if item.startswith("["):
            name, _, rest = item[1:].partition("]")
            if name.lower().startswith("ipv6:"):
                name = name[5:]
            if rest.startswith(":") and rest[1:].isdigit():
                port = int(rest[1:])
            host = TraceHost(name, name if _is_ip(name) else "", port=port)
        else:
            name, colon, rest = item.rpartition(":")
            if not colon or not rest.isdigit() or not name:
                name, rest = item, ""
            port = int(rest) if rest else None
            host = TraceHost(name, name if _is_ip(name) else "", port=port)
            if mx_lookup and not host.ip:
                host.notes.append("MX lookup")
        hosts.append(host)
    return hosts


def alias_targets(value: str, origin: str) -> list[str]:
    """A virtual_alias_maps or alias_maps value → its targets, unqualified ones completed with @origin.

    'alice, bob@example.com' → ['alice@origin', 'bob@example.com']; '"|/usr/bin/vacation alice", alice'
    → ['|/usr/bin/vacation alice', 'alice@origin']; "/var/mail/archive" and ":include:/file" stay (pure).
    """
    targets = []
    for item in _ALIAS_ITEM_RE.findall(value):
        if item.startswith('"') and item.endswith('"') and len(item) >= 2:
            item = item[1:-1].replace('\\"', '"')
        if not item:
            continue
        if "@" not in item and not item.startswith(("|", "/", ":include:")) and origin:
            item = f"{item}@{origin}"
        targets.append(item)
    return targets


def _split_address(address: str) -> tuple[str, str]:
    local, at, domain = address.rpartition("@")
    return (local, domain.lower()) if at else (address, "")


class PostfixResolver:
    """Where Postfix would deliver an address, from its parameters, master.cf and table lookups."""

    def __init__(self, params: dict[str, str], services: dict[str, str], lookup: Lookup) -> None:
        self.params = params
        self.services = services
        self.lookup = lookup
        self.origin = params.get("myorigin", "").lower()
        self.delimiters = params.get("recipient_delimiter", "")
        self.parent_matches = set(split_postfix_list(params.get("parent_domain_matches_subdomains", "")))

    def resolve(self, address: str) -> TraceNode:
        if "@" not in address and self.origin:
            address = f"{address}@{self.origin}"  # append_at_myorigin
        root = self._trace(address, ())
        _sort_children(root)
        _mark_duplicates(root, set())
        return root

    # -- lookups -------------------------------------------------------------------------------

    def _tables(self, name: str) -> list[str]:
        return [t for t in split_postfix_list(self.params.get(name, "")) if _TABLE_RE.match(t)]

    def _find(self, name: str, keys: list[str]) -> str | None:
        """The first of ``keys`` found in the first of parameter ``name``'s tables that has one."""
        for table in self._tables(name):
            if table.startswith("proxy:"):
                table = table[6:]  # the proxymap service answers for the same table; postmap reads it itself
            for key in keys:
                value = self.lookup(key.lower(), table)
                if value is not None:
                    return value
        return None

    def _without_extension(self, local: str) -> str | None:
        for delimiter in self.delimiters:
            if delimiter in local and local.index(delimiter) > 0:
                return local[: local.index(delimiter)]
        return None

    def _address_keys(self, local: str, domain: str, local_forms: bool) -> list[str]:
        """virtual(5) and transport(5) search order: user+ext@domain, user@domain, (user+ext, user), @domain."""
        bare = self._without_extension(local)
        keys = [f"{local}@{domain}"] + ([f"{bare}@{domain}"] if bare else [])
        if local_forms:
            keys += [local] + ([bare] if bare else [])
        return keys

    def _in_domain_list(self, name: str, domain: str) -> bool:
        """Whether ``domain`` is in the list parameter ``name`` (names, .parents, !negations, tables)."""
        subdomains = name in self.parent_matches
        for item in split_postfix_list(self.params.get(name, "")):
            negated = item.startswith("!")
            item = item[1:] if negated else item
            if _TABLE_RE.match(item):
                parents = [domain] + ([domain[i:] for i, c in enumerate(domain) if c == "."] if subdomains else [])
                found = self._find_in(item, parents)
            else:
                pattern = item.lower()
                found = domain == pattern or (pattern.startswith(".") and domain.endswith(pattern)) or (
                    subdomains and domain.endswith("." + pattern))
            if found:
                return not negated
        return False

    def _find_in(self, table: str, keys: list[str]) -> bool:
        if table.startswith("proxy:"):
            table = table[6:]
        return any(self.lookup(key.lower(), table) is not None for key in keys)

    # -- the walk --------------------------------------------------------------------------------

    def address_class(self, domain: str) -> str:
        if self._in_domain_list("mydestination", domain):
            return LOCAL_CLASS
        if self._in_domain_list("virtual_alias_domains", domain):
            return VIRTUAL_ALIAS_CLASS
        if self._in_domain_list("virtual_mailbox_domains", domain):
            return VIRTUAL_MAILBOX_CLASS
        if self._in_domain_list("relay_domains", domain):
            return RELAY_CLASS
        return DEFAULT_CLASS

    def _aliases(self, local: str, domain: str, address_class: str) -> tuple[list[str], bool] | None:
        """The targets of virtual_alias_maps (every class), else of alias_maps (local class: True), else None."""
        keys = self._address_keys(local, domain, address_class == LOCAL_CLASS) + [f"@{domain}"]
        value = self._find("virtual_alias_maps", keys)
        if value is not None:
            return alias_targets(value, self.origin), False
        if address_class == LOCAL_CLASS:
            bare = self._without_extension(local)
            value = self._find("alias_maps", [local] + ([bare] if bare else []))
            if value is not None:
                return alias_targets(value, self.origin), True
        return None

    def _trace(self, address: str, above: tuple[str, ...]) -> TraceNode:
        local, domain = _split_address(address)
        address_class = self.address_class(domain)
        aliased = self._aliases(local, domain, address_class)
        if aliased is None:
            return self._deliver(address, local, domain, address_class)
        targets, by_local = aliased
        node = TraceNode(address, REDIRECT)
        chain = (*above, address.lower())
        for target in targets:
            if by_local and target.startswith(("|", "/", ":include:")):
                # local(8) runs the command, appends to the file or reads the list itself.
                kind = PIPE if target.startswith("|") else FILE if target.startswith("/") else REDIRECT
                transport, _ = split_transport(self.params.get("local_transport", "local"))
                node.children.append(TraceNode(target, kind, LOCAL_CLASS, transport,
                                               self.services.get(transport, "")))
            elif target.lower() == address.lower():
                # "An address can expand into itself once": delivered as it is, not expanded again.
                t_local, t_domain = _split_address(target)
                node.children.append(self._deliver(target, t_local, t_domain, self.address_class(t_domain)))
            elif target.lower() in chain or len(chain) >= MAX_ALIAS_DEPTH:
                # Postfix expands until virtual_alias_recursion_limit, then defers the message.
                why = "alias loop: " + " → ".join((*chain, target.lower())) if target.lower() in chain \
                    else f"aliases nested more than {MAX_ALIAS_DEPTH} deep"
                node.children.append(TraceNode(target, DEFERRED, error=why))
            else:
                node.children.append(self._trace(target, chain))
        return node

    def _unknown_user(self, local: str, domain: str, address_class: str) -> str:
        """Why smtpd would refuse the address as unknown ("" when a recipient table lists it)."""
        keys = self._address_keys(local, domain, False) + [f"@{domain}"]
        if address_class == VIRTUAL_ALIAS_CLASS:
            return "User unknown in virtual alias table"
        if address_class == VIRTUAL_MAILBOX_CLASS and self._find("virtual_mailbox_maps", keys) is None:
            return "User unknown in virtual mailbox table"
        if address_class == RELAY_CLASS and self._tables("relay_recipient_maps") and \
                self._find("relay_recipient_maps", keys) is None:
            return "User unknown in relay recipient table"
        if address_class == LOCAL_CLASS and self._tables("local_recipient_maps"):
            bare = self._without_extension(local)
            if self._find("local_recipient_maps", [local] + ([bare] if bare else [])) is None:
                return "User unknown in local recipient table"
        return ""

    def _deliver(self, address: str, local: str, domain: str, address_class: str) -> TraceNode:
        unknown = self._unknown_user(local, domain, address_class)
        if unknown:
            return TraceNode(address, UNDELIVERABLE, error=unknown)
        relayhost = self.params.get("relayhost", "")
        class_default = {
            LOCAL_CLASS: ("local_transport", "local", domain),
            VIRTUAL_MAILBOX_CLASS: ("virtual_transport", "virtual", domain),
            RELAY_CLASS: ("relay_transport", "relay", relayhost or domain),
            DEFAULT_CLASS: ("default_transport", "smtp", relayhost or domain),
        }[address_class]
        transport, nexthop = split_transport(self.params.get(class_default[0]) or class_default[1])
        nexthop = nexthop or class_default[2]
        keys = self._address_keys(local, domain, False) + [domain]
        keys += [domain[i:] for i, c in enumerate(domain) if c == "."] + ["*"]
        override = self._find("transport_maps", keys)
        if override is not None:
            new_transport, new_nexthop = split_transport(override)
            transport, nexthop = new_transport or transport, new_nexthop or nexthop
        command = self.services.get(transport)
        node = TraceNode(address, LOCAL, address_class, transport, command or "")
        if command is None:
            node.kind = DEFERRED
            node.error = f"mail transport unavailable: {transport} is not in master.cf"
        elif command in _POSTFIX_REMOTE_COMMANDS:
            node.hosts = nexthop_hosts(nexthop, mx_lookup=command == "smtp")
            node.kind = REMOTE if node.hosts else LOCAL  # lmtp to a UNIX socket: a local server
        else:
            # error(8) run as the "retry" service defers instead of bouncing (Debian's master.cf has both).
            node.kind = DEFERRED if transport == "retry" else _POSTFIX_COMMAND_KINDS.get(command, LOCAL)
            if node.kind in (UNDELIVERABLE, DEFERRED):
                node.error = nexthop if nexthop != domain else f"the {transport} transport refuses it"
        return node


def _mark_duplicates(node: TraceNode, seen: set[str]) -> None:
    """The second delivery to one final address is dropped (Postfix keeps one copy per recipient)."""
    if not node.children:
        if node.kind != REDIRECT:
            key = node.address.lower()
            node.duplicate = key in seen
            seen.add(key)
        return
    for child in node.children:
        _mark_duplicates(child, seen)


def find_postfix_program(name: str) -> str | None:
    """A Postfix command (postconf, postmap) on PATH, else in the usual sbin directories."""
    return find_program((name,), POSTFIX_DIRS)


class PostfixTracer:
    """Postfix's configuration (``postconf``, ``-c CONFIG_DIR`` when given) and tables (``postmap -q``)."""

    name = POSTFIX

    def __init__(self, config_dir: str | None = None, postconf: str | None = None, postmap: str | None = None,
                 run: Runner = subprocess.run, timeout: float = TIMEOUT_SECONDS) -> None:
        self.config_dir = config_dir
        self.postconf = postconf or find_postfix_program("postconf")
        self.postmap = postmap or find_postfix_program("postmap")
        self.run = run
        self.timeout = timeout
        self._cache: dict[tuple[str, str], str | None] = {}

    def available(self) -> bool:
        return self.postconf is not None and self.postmap is not None

    def _command(self, program: str, *args: str) -> list[str]:
        config = ["-c", self.config_dir] if self.config_dir else []
        return [program, *config, *args]

    def _call(self, command: list[str]) -> subprocess.CompletedProcess[str]:
        try:
            return self.run(command, capture_output=True, text=True, errors="replace", timeout=self.timeout,
                            stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise TraceError(f"Postfix did not answer within {self.timeout:g} seconds.") from None
        except OSError as exc:
            raise TraceError(f"Cannot run {command[0]}: {exc.strerror}.") from None

    def lookup(self, key: str, table: str) -> str | None:
        """``postmap -q KEY TABLE``: the value, None when the table has no such key."""
        if (key, table) in self._cache:
            return self._cache[(key, table)]
        assert self.postmap is not None
        # The key is -q's argument: getopt takes the next word as it is, even one starting with "-".
        done = self._call(self._command(self.postmap, "-q", key, table))
        if done.returncode == 0:
            value: str | None = done.stdout.rstrip("\n")
        elif "fatal:" in done.stderr:
            detail = _first_line(done.stderr[done.stderr.index("fatal:") + 6 :])
            raise TraceError(f"Postfix could not read the table {table}: {detail}")
        else:
            value = None
        self._cache[(key, table)] = value
        return value

    def trace(self, address: str) -> AddressTrace:
        if not self.available():
            raise TraceError("Postfix is not installed here (no postconf and postmap on PATH or in /usr/sbin), "
                             "so there is no mail server to ask.")
        assert self.postconf is not None
        command = self._command(self.postconf, "-x", *POSTFIX_PARAMETERS)
        done = self._call(command)
        params = parse_postconf(done.stdout)
        if done.returncode != 0 or not params:
            detail = _first_line(done.stderr) or f"exit status {done.returncode}"
            raise TraceError(f"Postfix could not show its configuration: {detail}")
        services = parse_master_services(self._call(self._command(self.postconf, "-M")).stdout)
        root = PostfixResolver(params, services, self.lookup).resolve(address)
        return AddressTrace(address, self.name, command, root)


def check_address(address: str) -> str | None:
    """Why ``address`` cannot be traced (None when it can): the MTA gets it as one argument."""
    if not address.strip():
        return "Give the address to trace, e.g. 'trackdelivery trace bob@example.com'."
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in address):
        return "An address to trace has no spaces or control characters."
    if len(address) > 1000:
        return "That address is too long to be an email address."
    return None


MTA_CHOICES = ("auto", "exim", POSTFIX)


def tracers_for(mta: str = "auto", config: str | None = None) -> list[Tracer]:
    """The tracers ``trace_address`` tries, in order, for ``--mta`` and ``--config-file``.

    ``auto``: a directory (or a file named main.cf) is Postfix's configuration, another file Exim's;
    without a configuration, Exim if installed, else Postfix.
    """
    if mta == "exim":
        return [EximTracer(config)]
    if mta == POSTFIX:
        return [PostfixTracer(_postfix_config_dir(config))]
    if config is not None and (os.path.isdir(config) or os.path.basename(config) == "main.cf"):
        return [PostfixTracer(_postfix_config_dir(config))]
    if config is not None:
        return [EximTracer(config)]
    return [EximTracer(config), PostfixTracer()]


def _postfix_config_dir(config: str | None) -> str | None:
    if config is not None and not os.path.isdir(config):
        return os.path.dirname(config) or "."  # main.cf named: its directory
    return config


NO_MTA = ("No supported mail server is installed here: the trace needs Exim ('exim' or 'exim4') or Postfix "
          "('postconf' and 'postmap') on PATH or in /usr/sbin.")


def trace_address(address: str, config_file: str | None = None,
                  tracers: list[Tracer] | None = None, mta: str = "auto") -> AddressTrace:
    """Ask the first available MTA where mail to ``address`` would go."""
    problem = check_address(address)
    if problem:
        raise TraceError(problem)
    candidates: list[Tracer] = tracers if tracers is not None else tracers_for(mta, config_file)
    if mta != "auto" and len(candidates) == 1:
        return candidates[0].trace(address)  # the one asked for: its own "not installed" sentence
    for tracer in candidates:
        if tracer.available():
            return tracer.trace(address)
    raise TraceError(NO_MTA)


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
