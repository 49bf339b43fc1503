"""A Postfix of the tests' own: its main.cf/master.cf, queue, maps, mailboxes and log in a temporary
directory, one smtpd on one loopback port, test domains routed to the SMTP sinks. The system's mail
setup (/etc/postfix, /var/spool/postfix, port 25) is never touched.

Domains and addresses it knows (the tests rely on them):
- ``@local.test`` (``virtual_mailbox_domains``, delivered by virtual(8) to maildirs under ``mail/``):
  mailboxes alice, bob, carol, dave; ``virtual_alias_maps`` team → alice, bob and sales → team;
  ``discard`` → the ``discard:`` transport; ``dropped`` → an access ``DISCARD`` action at RCPT;
  ``blocked`` → refused at RCPT by ``check_recipient_access`` (REJECT).
- ``@accept.test``, ``@greylist.test``, ``@reject.test``, ``@silent.test``, ``@tls.test``: the sinks of the
  same names, through ``transport_maps`` entries ``smtp:[127.0.0.1]:PORT`` (``relay_domains``).
- STARTTLS both ways, with the tests' self-signed certificate (certificate.py): smtpd offers it
  (``smtpd_tls_security_level = may``), smtp uses it where offered (``smtp_tls_security_level = may``:
  only the tls sink offers it); both log each session (``*_tls_loglevel = 1``).
- SMTP AUTH PLAIN with alice / wonderland, checked by ``DovecotAuthServer``: Postfix's
  ``smtpd_sasl_type = dovecot`` client talking to a tiny Dovecot auth protocol server on a socket here.
- ``header_checks`` ``/^Subject:/ INFO``: Postfix logs a message's subject only through such a rule.

Accounts: Postfix insists on an unprivileged ``mail_owner`` and a ``setgid_group`` that share no id with
each other or with ``default_privs`` (nobody). Debian's base-passwd accounts do, so nothing is created:
``mail`` owns the queue (the job Debian's package gives a ``postfix`` user), group ``daemon`` is the
setgid group (it only names the group of maildrop/ and public/ in our own queue: nothing runs set-gid,
the tests submit over SMTP), and mail is delivered into the mailboxes as ``nobody``.
"""

from __future__ import annotations

import base64
import grp
import os
import pwd
import re
import secrets
import shutil
import socketserver
import subprocess
import threading
from pathlib import Path
from typing import BinaryIO

import pytest

from .certificate import Certificate
from .maillog import MailLog
from .processes import last_lines, logged_start, processes_with, start_daemon, stop_daemon
from .sinks import LOOPBACK, free_port
from .submission import Sent, submit

LOCAL_DOMAIN = "local.test"
MAILBOXES = ("alice", "bob", "carol", "dave")
ALIASES = {"team": ("alice", "bob"), "sales": ("team",)}
AUTH_USER, AUTH_PASSWORD = "alice", "wonderland"
BLOCKED = f"blocked@{LOCAL_DOMAIN}"
BLOCKED_MESSAGE = "Recipient blocked by policy"
DISCARD = f"discard@{LOCAL_DOMAIN}"  # transport_maps: discard:
DISCARD_TEXT = "Discarded by the test transport"
DROPPED = f"dropped@{LOCAL_DOMAIN}"  # check_recipient_access: DISCARD
SINK_DOMAINS = ("accept", "greylist", "reject", "silent")
MAIL_OWNER, SETGID_GROUP, MAILBOX_OWNER = "mail", "daemon", "nobody"
# The silent sink never answers: give up quickly so the suite stays fast.
SILENT_TIMEOUT_SECONDS = 5
# Deferred mail is retried only when a test asks (postqueue -i): no retry the records did not plan for.
BACKOFF = "1h"

_MAIN_CF = """\
# The trackdelivery MTA tests' own Postfix: loopback only, everything under {workdir}.
compatibility_level = 3.6
queue_directory = {workdir}/queue
data_directory = {workdir}/data
meta_directory = {config_dir}
command_directory = {command_dir}
daemon_directory = {daemon_dir}
shlib_directory = {shlib_dir}
mail_owner = {mail_owner}
setgid_group = {setgid_group}
# The unpacked package's daemons find its libpostfix-*.so through LD_LIBRARY_PATH (master's environment).
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C POSTLOG_SERVICE POSTLOG_HOSTNAME LD_LIBRARY_PATH
maillog_file = {workdir}/log/maillog
maillog_file_prefixes = {workdir}
myhostname = mta.test
myorigin = {local_domain}
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
biff = no
inet_interfaces = {loopback}
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_banner = $myhostname ESMTP
delay_warning_time = 0
virtual_mailbox_domains = {local_domain}
virtual_mailbox_base = {workdir}/mail
virtual_mailbox_maps = hash:{config_dir}/virtual_mailboxes
virtual_alias_maps = hash:{config_dir}/virtual_aliases
virtual_uid_maps = static:{mailbox_uid}
virtual_gid_maps = static:{mailbox_gid}
relay_domains = {sink_domains}
transport_maps = hash:{config_dir}/transport
smtpd_recipient_restrictions = check_recipient_access hash:{config_dir}/recipient_access,
    permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
header_checks = regexp:{config_dir}/header_checks
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = {auth_socket}
smtpd_tls_security_level = may
smtpd_tls_cert_file = {tls_cert}
smtpd_tls_key_file = {tls_key}
smtpd_tls_loglevel = 1
smtp_tls_security_level = may
smtp_tls_loglevel = 1
smtp_connect_timeout = {silent_timeout}s
smtp_helo_timeout = {silent_timeout}s
# One timed-out delivery must not suspend the silent sink's other messages ("dead destination").
smtp_destination_concurrency_failed_cohort_limit = 100
queue_run_delay = {backoff}
minimal_backoff_time = {backoff}
maximal_backoff_time = {backoff}
"""

# Every service runs unchrooted (chroot "n"): the daemons need the unpacked libraries and our directories.
# tlsmgr: without it STARTTLS fails (swaks: "STARTTLS attempted but failed").
_MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command
{loopback}:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
smtp      unix  -       -       n       -       -       smtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
postlog   unix-dgram n  -       n       -       1       postlogd
"""

# The queue's directories and owners, as Postfix's postfix-files makes them.
_QUEUE_DIRS = {"active": 0o700, "bounce": 0o700, "corrupt": 0o700, "defer": 0o700, "deferred": 0o700,
               "flush": 0o700, "hold": 0o700, "incoming": 0o700, "private": 0o700, "saved": 0o700,
               "trace": 0o700, "maildrop": 0o730, "public": 0o710}  # fmt: skip

# Postfix's answer to DATA: "250 2.0.0 Ok: queued as <queue id>".
_QUEUE_ID_RE = re.compile(r"250 2\.0\.0 Ok: queued as (?P<id>[0-9A-Za-z]+)")


def account_ids(user: str) -> tuple[int, int]:
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        pytest.fail(f"The account {user!r} the test Postfix runs as does not exist (Debian's base-passwd "
                    "creates it).", pytrace=False)
    return entry.pw_uid, entry.pw_gid


class DovecotAuthServer:
    """The server half of Dovecot's authentication protocol (version 1.2), mechanism PLAIN only.

    Postfix's ``smtpd_sasl_type = dovecot`` connects, reads the handshake, then asks
    ``AUTH <id> PLAIN service=smtp ... resp=<base64>`` and gets ``OK <id> user=<name>`` or ``FAIL <id>``.
    """

    def __init__(self, path: Path, users: dict[str, str]) -> None:
        self.path = path
        self.users = users
        self.logins: list[str] = []  # user names that logged in, for assertions
        self._server: socketserver.ThreadingUnixStreamServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        owner = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                owner._serve(self.rfile, self.wfile)  # type: ignore[arg-type]

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.parent.chmod(0o755)
        self._server = socketserver.ThreadingUnixStreamServer(str(self.path), Handler)
        self._server.daemon_threads = True
        self.path.chmod(0o666)  # smtpd runs as the mail owner
        self._thread = threading.Thread(target=self._server.serve_forever, name="dovecot-auth", daemon=True)
        self._thread.start()

    def _serve(self, rfile: BinaryIO, wfile: BinaryIO) -> None:
        write = wfile.write
        write(f"VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nSPID\t{os.getpid()}\nCUID\t1\n"
              f"COOKIE\t{secrets.token_hex(16)}\nDONE\n".encode())
        waiting: dict[str, str] = {}  # request id → mechanism, for a response that comes in a CONT
        for raw in rfile:
            fields = raw.decode("utf-8", "replace").rstrip("\r\n").split("\t")
            if fields[0] == "AUTH" and len(fields) >= 3:
                request_id, mechanism = fields[1], fields[2]
                params = dict(p.partition("=")[::2] for p in fields[3:])
                if mechanism.upper() != "PLAIN":
                    write(f"FAIL\t{request_id}\treason=Unsupported mechanism\n".encode())
                elif "resp" in params:
                    write(self._answer(request_id, params["resp"]))
                else:
                    waiting[request_id] = mechanism
                    write(f"CONT\t{request_id}\t\n".encode())
            elif fields[0] == "CONT" and len(fields) >= 3 and fields[1] in waiting:
                del waiting[fields[1]]
                write(self._answer(fields[1], fields[2]))
            wfile.flush()

    def _answer(self, request_id: str, response: str) -> bytes:
        try:
            _authzid, user, password = base64.b64decode(response, validate=True).decode().split("\0")
        except ValueError:
            return f"FAIL\t{request_id}\treason=Invalid PLAIN response\n".encode()
        if self.users.get(user) == password:
            self.logins.append(user)
            return f"OK\t{request_id}\tuser={user}\n".encode()
        return f"FAIL\t{request_id}\tuser={user}\n".encode()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


class PostfixServer:
    """Postfix's master in the foreground (``master -c DIR -d``) with its own configuration directory.

    ``root`` is where the package's files are: ``/`` when Postfix is installed, else the directory the
    package was unpacked into (``dpkg-deb -x``).
    """

    name = "postfix"

    def __init__(self, root: Path, swaks: str, workdir: Path, sinks: dict[str, tuple[str, int]],
                 certificate: Certificate) -> None:
        self.root = root
        self.swaks = swaks
        self.workdir = workdir
        self.sinks = sinks  # sink name → (host, port)
        self.certificate = certificate  # read by master's children while still root: no copy needed
        self.port = free_port()
        self.command_dir = root / "usr" / "sbin"
        self.daemon_dir = root / "usr" / "lib" / "postfix" / "sbin"
        self.shlib_dir = root / "usr" / "lib" / "postfix"
        self.config_dir = workdir / "etc"
        self.log = MailLog(workdir / "log" / "maillog")
        self.auth = DovecotAuthServer(workdir / "auth" / "socket", {AUTH_USER: AUTH_PASSWORD})
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """The environment of every Postfix program we run: the unpacked libraries, UTC, our config."""
        library_path = os.pathsep.join(p for p in (str(self.shlib_dir), os.environ.get("LD_LIBRARY_PATH", ""))
                                       if p)
        return {**os.environ, "LD_LIBRARY_PATH": library_path, "TZ": "UTC", "MAIL_CONFIG": str(self.config_dir)}

    def program(self, name: str) -> str:
        return str(self.command_dir / name)

    def command(self, name: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run a Postfix command (postconf, postmap, postqueue, ...) with ``-c`` our configuration."""
        return subprocess.run([self.program(name), "-c", str(self.config_dir), *args], capture_output=True,
                              text=True, timeout=timeout, env=self.env, stdin=subprocess.DEVNULL)

    # -- set-up --------------------------------------------------------------------------------

    def write_config(self) -> None:
        owner_uid, _ = account_ids(MAIL_OWNER)
        mailbox_uid, mailbox_gid = account_ids(MAILBOX_OWNER)
        try:
            setgid_gid = grp.getgrnam(SETGID_GROUP).gr_gid
        except KeyError:
            pytest.fail(f"The group {SETGID_GROUP!r} the test Postfix uses as setgid_group does not exist.",
                        pytrace=False)
        for sub in ("etc", "queue", "log"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
            (self.workdir / sub).chmod(0o755)
        for sub, uid, gid, mode in (("data", owner_uid, -1, 0o700), ("mail", mailbox_uid, mailbox_gid, 0o755)):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
            os.chown(self.workdir / sub, uid, gid)
            (self.workdir / sub).chmod(mode)
        queue = self.workdir / "queue"
        for sub, mode in _QUEUE_DIRS.items():
            (queue / sub).mkdir(exist_ok=True)
            os.chown(queue / sub, owner_uid, setgid_gid if mode != 0o700 else -1)
            (queue / sub).chmod(mode)
        (queue / "pid").mkdir(exist_ok=True)
        (queue / "pid").chmod(0o755)

        sink_domains = [f"{name}.test" for name in self.sinks]
        maps = {
            "virtual_mailboxes": [f"{m}@{LOCAL_DOMAIN} {m}/" for m in MAILBOXES] + [f"{DISCARD} discard/"],
            "virtual_aliases": [f"{alias}@{LOCAL_DOMAIN} " + ", ".join(f"{t}@{LOCAL_DOMAIN}" for t in targets)
                                for alias, targets in ALIASES.items()],
            "transport": [f"{name}.test smtp:[{host}]:{port}" for name, (host, port) in self.sinks.items()]
            + [f"{DISCARD} discard:{DISCARD_TEXT}"],
            "recipient_access": [f"{BLOCKED} REJECT {BLOCKED_MESSAGE}", f"{DROPPED} DISCARD"],
        }
        for name, lines in maps.items():
            (self.config_dir / name).write_text("\n".join(lines) + "\n")
        (self.config_dir / "header_checks").write_text("/^Subject:/ INFO\n")
        shipped = self.root / "usr" / "share" / "postfix" / "dynamicmaps.cf"
        if shipped.exists():  # the optional map types' plugins (Debian's postinst installs it in /etc)
            shutil.copyfile(shipped, self.config_dir / "dynamicmaps.cf")
        (self.config_dir / "main.cf").write_text(_MAIN_CF.format(
            workdir=self.workdir, config_dir=self.config_dir, command_dir=self.command_dir,
            daemon_dir=self.daemon_dir, shlib_dir=self.shlib_dir, mail_owner=MAIL_OWNER,
            setgid_group=SETGID_GROUP, local_domain=LOCAL_DOMAIN, loopback=LOOPBACK,
            mailbox_uid=mailbox_uid, mailbox_gid=mailbox_gid, sink_domains=" ".join(sink_domains),
            auth_socket=self.auth.path, silent_timeout=SILENT_TIMEOUT_SECONDS, backoff=BACKOFF,
            tls_cert=self.certificate.cert, tls_key=self.certificate.key,
        ))
        (self.config_dir / "master.cf").write_text(_MASTER_CF.format(loopback=LOOPBACK, port=self.port))
        for name in maps:
            built = self.command("postmap", f"hash:{self.config_dir / name}")
            if built.returncode != 0:
                pytest.fail(f"postmap could not build {name}:\n{built.stdout}{built.stderr}", pytrace=False)
        checked = self.command("postconf", "-n")
        problems = [line for line in checked.stderr.splitlines() if "warning" in line or "fatal" in line]
        if checked.returncode != 0 or problems:
            pytest.fail(f"Postfix rejects the test configuration {self.config_dir}:\n{checked.stderr}",
                        pytrace=False)

    def start(self, attempts: int = 3) -> None:
        self.auth.start()
        for attempt in range(1, attempts + 1):
            self.write_config()
            # -d: master stays in the foreground, so its pid is ours to stop; its own session, because on
            # SIGTERM it signals its whole process group.
            self.process = start_daemon([str(self.daemon_dir / "master"), "-c", str(self.config_dir), "-d"],
                                        self.workdir / "master.out", env=self.env, start_new_session=True)
            if logged_start(self.process, self.log, rf"postfix/master\[{self.process.pid}\]: daemon started"):
                return
            if self.process.poll() is not None and "in use" in self.diagnostics() and attempt < attempts:
                self.port = free_port()  # taken between choosing it and master binding it: choose again
                continue
            self.stop()
            pytest.fail("Postfix did not start: " + self.diagnostics(), pytrace=False)

    def diagnostics(self) -> str:
        return last_lines(self.workdir, ("master.out", "log/maillog"))

    # -- using it ------------------------------------------------------------------------------

    def send(self, sender: str, recipients: list[str], subject: str, auth: tuple[str, str] | None = None,
             expect_refusal: bool = False, tls: bool = False) -> Sent:
        """Submit one message over SMTP with swaks (``tls``: after STARTTLS); returns Postfix's queue id."""
        return submit(self.swaks, self.port, _QUEUE_ID_RE, "Postfix", sender, recipients, subject, auth,
                      expect_refusal, tls)

    def run_queue(self, queue_id: str) -> None:
        """Deliver the deferred message ``queue_id`` now (``postqueue -i``), as an operator would."""
        done = self.command("postqueue", "-i", queue_id, timeout=60)
        if done.returncode != 0:
            pytest.fail(f"postqueue -i {queue_id} failed:\n{done.stdout}{done.stderr}", pytrace=False)

    def maildir_files(self, mailbox: str) -> list[Path]:
        return sorted((self.workdir / "mail" / mailbox).glob("*/*"))

    # -- tear-down -----------------------------------------------------------------------------

    def own_processes(self) -> list[int]:
        """Every live process of this Postfix: master passes MAIL_CONFIG=<our directory> to its children."""
        return processes_with(b"MAIL_CONFIG=" + str(self.config_dir).encode() + b"\0", "environ")

    def stop(self) -> None:
        self.log.close()
        stop_daemon(self.process, self.own_processes)  # master ends its children and exits
        self.auth.stop()
