"""An Exim of the tests' own: its configuration, spool and logs in a temporary directory, listening on
one loopback port, routing test domains to the SMTP sinks. The system's mail setup is never touched.

Domains and addresses it knows (the tests rely on them):
- ``@local.test``: mailboxes alice, bob, carol, dave (maildirs under ``mail/``); aliases ``team`` → alice,
  bob and ``sales`` → team; ``discard`` → :blackhole:; ``blocked`` refused at RCPT by the ACL.
- ``@accept.test``, ``@greylist.test``, ``@reject.test``, ``@silent.test``, ``@tls.test``: the sinks of the
  same names, each through its own manualroute router (``<name>_sink``) and smtp transport
  (``<name>_smtp``); Exim tries STARTTLS wherever it is offered (only the tls sink offers it).
- SMTP AUTH PLAIN with alice / wonderland (advertised without TLS as well: loopback only).
- STARTTLS offered to every client, with the tests' self-signed certificate (certificate.py).
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .certificate import Certificate
from .maillog import MailLog
from .processes import last_lines, logged_start, processes_with, start_daemon, stop_daemon
from .sinks import LOOPBACK, free_port
from .submission import Sent, submit

LOCAL_DOMAIN = "local.test"
MAILBOXES = ("alice", "bob", "carol", "dave")
ALIASES = {"team": "alice, bob", "sales": "team"}
AUTH_USER, AUTH_PASSWORD = "alice", "wonderland"
BLOCKED = f"blocked@{LOCAL_DOMAIN}"
BLOCKED_MESSAGE = "Recipient blocked by policy"
# Users Exim runs deliveries as, by distribution (Debian's exim4-base creates Debian-exim).
EXIM_USERS = ("Debian-exim", "exim", "mailnull")
# The silent sink never answers: give up quickly so the suite stays fast.
SILENT_TIMEOUT_SECONDS = 5

_CONFIG = """\
# The trackdelivery MTA tests' own Exim: loopback only, everything under {workdir}.
exim_path = {binary}
primary_hostname = mta.test
qualify_domain = {local_domain}
timezone = UTC
keep_environment =
never_users = root
exim_user = {user}
exim_group = {group}
spool_directory = {workdir}/spool
log_file_path = {workdir}/log/%slog
pid_file_path = {workdir}/exim.pid
local_interfaces = {loopback}
daemon_smtp_ports = {port}
daemon_startup_retries = 0
host_lookup =
rfc1413_hosts =
tls_advertise_hosts = *
tls_certificate = {workdir}/tls/tls.crt
tls_privatekey = {workdir}/tls/tls.key
log_selector = +all
delay_warning =
domainlist local_domains = {local_domain}
acl_smtp_rcpt = acl_check_rcpt

begin acl

acl_check_rcpt:
  deny    recipients = {blocked}
          message = {blocked_message}
  accept  hosts = {loopback}

begin routers

blackhole:
  driver = redirect
  domains = +local_domains
  local_parts = discard
  data = :blackhole:

aliases:
  driver = redirect
  domains = +local_domains
  data = ${{lookup{{$local_part}}lsearch{{{workdir}/aliases}}}}

local_user:
  driver = accept
  domains = +local_domains
  local_parts = {mailboxes}
  transport = local_maildir

{sink_routers}
begin transports

local_maildir:
  driver = appendfile
  directory = {workdir}/mail/${{local_part_data}}
  maildir_format
  create_directory
  user = {user}
  group = {group}
  mode = 0600

{sink_transports}
begin retry

*  *  F,10m,1m

begin authenticators

plain:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = ${{if and {{{{eq{{$auth2}}{{{auth_user}}}}}{{eq{{$auth3}}{{{auth_password}}}}}}}}}
  server_set_id = $auth2
  server_advertise_condition = true
"""

# One router and one transport per sink: the records name them, and Exim keeps no shared state across
# sinks (one message per connection: no "continued" delivery of another sink's message over it).
_SINK_ROUTER = """\
{name}_sink:
  driver = manualroute
  domains = {name}.test
  route_list = * {loopback}::{port}
  transport = {name}_smtp
  self = send

"""
_SINK_TRANSPORT = """\
{name}_smtp:
  driver = smtp
  allow_localhost
  connection_max_messages = 1
{extra}
"""

# Exim's answer to DATA: "250 OK id=<queue id>".
_QUEUE_ID_RE = re.compile(r"250 OK id=(?P<id>[0-9A-Za-z-]+)")


def exim_user() -> tuple[str, str]:
    for name in EXIM_USERS:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return name, grp.getgrgid(entry.pw_gid).gr_name
    pytest.fail(f"None of the users Exim delivers as ({', '.join(EXIM_USERS)}) exists: install exim4-base, "
                "which creates Debian-exim.", pytrace=False)
    raise AssertionError("unreachable")


class EximServer:
    """Exim as a foreground daemon (``-bdf``) with ``-C`` its own configuration."""

    name = "exim"

    def __init__(self, binary: str, swaks: str, workdir: Path, sinks: dict[str, tuple[str, int]],
                 certificate: Certificate) -> None:
        self.binary = binary
        self.swaks = swaks
        self.workdir = workdir
        self.sinks = sinks  # sink name → (host, port)
        self.certificate = certificate
        self.port = free_port()
        self.config = workdir / "exim.conf"
        self.log = MailLog(workdir / "log" / "mainlog")
        self.process: subprocess.Popen[bytes] | None = None
        self.user, self.group = exim_user()

    # -- set-up --------------------------------------------------------------------------------

    def write_config(self) -> None:
        uid, gid = pwd.getpwnam(self.user).pw_uid, pwd.getpwnam(self.user).pw_gid
        for sub in ("spool", "log", "mail", "tls"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
            os.chown(self.workdir / sub, uid, gid)
        # Exim reads its TLS key as its own user, not as root (Debian's is root:Debian-exim, mode 640).
        for source in (self.certificate.cert, self.certificate.key):
            copy = Path(shutil.copy2(source, self.workdir / "tls" / source.name))
            os.chown(copy, uid, gid)
        (self.workdir / "aliases").write_text("".join(f"{k}: {v}\n" for k, v in ALIASES.items()))
        routers, transports = [], []
        for name, (host, port) in self.sinks.items():
            routers.append(_SINK_ROUTER.format(name=name, loopback=host, port=port))
            extra = ""
            if name == "silent":
                extra = (f"  connect_timeout = {SILENT_TIMEOUT_SECONDS}s\n"
                         f"  command_timeout = {SILENT_TIMEOUT_SECONDS}s\n")
            transports.append(_SINK_TRANSPORT.format(name=name, extra=extra))
        self.config.write_text(_CONFIG.format(
            workdir=self.workdir, binary=self.binary, user=self.user, group=self.group, port=self.port,
            loopback=LOOPBACK, local_domain=LOCAL_DOMAIN, mailboxes=" : ".join(MAILBOXES), blocked=BLOCKED,
            blocked_message=BLOCKED_MESSAGE, sink_routers="".join(routers),
            sink_transports="".join(transports), auth_user=AUTH_USER, auth_password=AUTH_PASSWORD,
        ))
        self.config.chmod(0o644)  # Exim refuses a configuration others can write
        checked = self.exim("-bV")
        if checked.returncode != 0:
            pytest.fail(f"Exim rejects the test configuration {self.config}:\n"
                        f"{checked.stdout}{checked.stderr}", pytrace=False)

    def start(self, attempts: int = 3) -> None:
        for attempt in range(1, attempts + 1):
            self.write_config()
            # -bdf: the daemon stays in the foreground, so its pid is ours to stop.
            self.process = start_daemon([self.binary, "-C", str(self.config), "-bdf", "-oX", str(self.port)],
                                        self.workdir / "daemon.out")
            if logged_start(self.process, self.log, rf"daemon started: pid={self.process.pid}\b"):
                return
            if self.process.poll() is not None and "Address already in use" in self.diagnostics() \
                    and attempt < attempts:
                self.port = free_port()  # taken between choosing it and Exim binding it: choose again
                continue
            self.stop()
            pytest.fail("Exim did not start: " + self.diagnostics(), pytrace=False)

    def diagnostics(self) -> str:
        return last_lines(self.workdir, ("daemon.out", "log/paniclog", "log/mainlog"))

    # -- using it ------------------------------------------------------------------------------

    def exim(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.binary, "-C", str(self.config), *args], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def send(self, sender: str, recipients: list[str], subject: str, auth: tuple[str, str] | None = None,
             expect_refusal: bool = False, tls: bool = False) -> Sent:
        """Submit one message over SMTP with swaks (``tls``: after STARTTLS); returns Exim's queue id."""
        return submit(self.swaks, self.port, _QUEUE_ID_RE, "Exim", sender, recipients, subject, auth,
                      expect_refusal, tls)

    def run_queue(self, selector: str) -> None:
        """A forced queue run (``-Rff``) for the messages with a recipient containing ``selector``."""
        done = self.exim("-Rff", selector, timeout=60)
        if done.returncode != 0:
            pytest.fail(f"exim -Rff {selector} failed:\n{done.stdout}{done.stderr}", pytrace=False)

    def maildir_files(self, mailbox: str) -> list[Path]:
        return sorted((self.workdir / "mail" / mailbox).glob("*/*"))

    # -- tear-down -----------------------------------------------------------------------------

    def own_processes(self) -> list[int]:
        """Every process running with our configuration file: the daemon and what it forked or ran."""
        return processes_with(str(self.config).encode(), "cmdline")

    def stop(self) -> None:
        self.log.close()
        # Deliveries in progress finish on their own (the sinks are closed first); any left are ended.
        stop_daemon(self.process, self.own_processes)
