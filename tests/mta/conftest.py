"""Fixtures for the MTA tests: the Debian packages (installed as root when missing, never skipped), SMTP
sinks on loopback, a self-signed TLS certificate, an Exim of the tests' own, and the tracker following
that Exim's live log.

The Postfix half is the same with ``postfix.py`` (a server class like ``exim.py``) and the fixtures
``postfix_root``/``postfix``/``postfix_tracker``; the sinks, the log watcher, the tracker, running and
stopping the daemon (``processes.py``) and sending with swaks (``submission.py``) are shared.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from . import packages
from .certificate import Certificate, make_certificate
from .exim import EximServer
from .postfix import PostfixServer
from .sinks import AcceptingSink, GreylistingSink, RejectingSink, SilentSink, SinkLoop, TlsSink
from .tracker import Tracker

REPO = Path(__file__).resolve().parents[2]
EXIM_PACKAGE = "exim4-daemon-light"
EXIM_PROGRAMS = ("exim4", "exim")
EXIM_SERVICE, EXIM_PID_FILE = "exim4", "/run/exim4/exim.pid"
SWAKS_PACKAGE = "swaks"
# swaks --tls needs the Perl module Net::SSLeay (swaks only recommends it).
SWAKS_TLS_PACKAGE, SWAKS_TLS_MODULE = "libnet-ssleay-perl", "Net::SSLeay"
# "unpacked": run Exim from its package unpacked into a temporary directory instead of installing it
# (what happens anyway when another MTA, e.g. Postfix, is installed: Debian allows only one).
EXIM_MODE_ENV = "TRACKDELIVERY_TEST_EXIM"
POSTFIX_PACKAGE = "postfix"
# "unpacked": run Postfix from its package unpacked into a temporary directory even when it is installed.
POSTFIX_MODE_ENV = "TRACKDELIVERY_TEST_POSTFIX"


def reachable_tempdir(prefix: str) -> Path:
    """A temporary directory the MTA's own unprivileged user can reach (pytest's are private to us)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


@pytest.fixture(scope="session")
def swaks() -> str:
    found = packages.require_program("swaks", SWAKS_PACKAGE, "swaks (the SMTP client the tests send mail with)")
    if not packages.perl_module_available(SWAKS_TLS_MODULE):
        packages.apt_install([SWAKS_TLS_PACKAGE], f"{SWAKS_TLS_MODULE} (what swaks needs to send with --tls)")
        if not packages.perl_module_available(SWAKS_TLS_MODULE):
            pytest.fail(f"{SWAKS_TLS_PACKAGE} was installed but Perl still cannot load {SWAKS_TLS_MODULE}.",
                        pytrace=False)
    return found


@pytest.fixture(scope="session")
def certificate() -> Iterator[Certificate]:
    """The self-signed certificate the test MTAs and the TLS sink present (removed at the end)."""
    directory = reachable_tempdir("trackdelivery-tls-")
    try:
        yield make_certificate(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def exim_binary() -> Iterator[str]:
    """Exim's binary: the installed one, else installed now, else unpacked (another MTA is installed)."""
    mode = os.environ.get(EXIM_MODE_ENV, "")
    found = packages.find_program(*EXIM_PROGRAMS)
    if found and mode != "unpacked":
        yield found
        return
    other_mtas = [p for p in packages.installed_packages_providing(packages.MTA_VIRTUAL_PACKAGE)
                  if not p.startswith("exim4-daemon")]
    if mode == "unpacked" or other_mtas:
        unpack_dir = reachable_tempdir("trackdelivery-exim-pkg-")
        try:
            root = packages.unpack_package(EXIM_PACKAGE, unpack_dir, "Exim, unpacked because "
                                           + (", ".join(other_mtas) + " is installed" if other_mtas else
                                              f"{EXIM_MODE_ENV}=unpacked"))
            yield str(root / "usr" / "sbin" / "exim4")
        finally:
            shutil.rmtree(unpack_dir, ignore_errors=True)
        return
    daemon_was_running = packages.pid_from_file(EXIM_PID_FILE) is not None
    packages.apt_install([EXIM_PACKAGE], "Exim (the mail server under test)")
    if not daemon_was_running:
        # Debian starts the system's exim4 on port 25 after installing it; ours runs on its own port.
        packages.stop_package_daemon(EXIM_SERVICE, EXIM_PID_FILE, "exim")
    found = packages.find_program(*EXIM_PROGRAMS)
    if found is None:
        pytest.fail(f"{EXIM_PACKAGE} was installed but no exim4 or exim binary is on PATH or in /usr/sbin.",
                    pytrace=False)
    yield found


@pytest.fixture(scope="session")
def postfix_root() -> Iterator[Path]:
    """Where Postfix's files are: ``/`` when it is installed, else its package unpacked (never installed).

    Debian's postfix conflicts with exim4-config (mail-transport-agent), which exim4-base — the Exim
    tests' user and eximstats — needs: installing it would remove Exim, so it is downloaded and unpacked.
    """
    master = Path("usr/lib/postfix/sbin/master")
    if os.environ.get(POSTFIX_MODE_ENV, "") != "unpacked" and packages.package_installed(POSTFIX_PACKAGE) \
            and (Path("/") / master).exists():
        yield Path("/")
        return
    unpack_dir = reachable_tempdir("trackdelivery-postfix-pkg-")
    try:
        root = packages.unpack_package(POSTFIX_PACKAGE, unpack_dir, "Postfix, unpacked because installing it "
                                       "would remove Exim (both provide mail-transport-agent)",
                                       libraries_only=True)
        if not (root / master).exists():
            pytest.fail(f"The unpacked {POSTFIX_PACKAGE} package has no {master}: its layout changed.",
                        pytrace=False)
        yield root
    finally:
        shutil.rmtree(unpack_dir, ignore_errors=True)


@dataclass(slots=True)
class Sinks:
    accept: AcceptingSink
    greylist: GreylistingSink
    reject: RejectingSink
    silent: SilentSink
    tls: TlsSink

    def addresses(self) -> dict[str, tuple[str, int]]:
        return {s.name: (s.host, s.port)
                for s in (self.accept, self.greylist, self.reject, self.silent, self.tls)}

    def close(self) -> None:
        for sink in (self.silent, self.accept, self.greylist, self.reject, self.tls):
            sink.close()


@pytest.fixture(scope="module")
def sinks(certificate: Certificate) -> Iterator[Sinks]:
    loop = SinkLoop()
    made = Sinks(AcceptingSink(loop), GreylistingSink(loop), RejectingSink(loop), SilentSink(),
                 TlsSink(loop, certificate))
    try:
        yield made
    finally:
        made.close()
        loop.close()


@contextmanager
def running_mta(server: EximServer | PostfixServer, sinks: Sinks) -> Iterator[None]:
    """``server`` started for the block; stopped afterwards and its working directory removed."""
    try:
        server.start()
        yield
    finally:
        sinks.silent.close()  # a delivery still waiting for the silent sink gives up at once
        server.stop()
        shutil.rmtree(server.workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def exim(exim_binary: str, swaks: str, sinks: Sinks, certificate: Certificate) -> Iterator[EximServer]:
    server = EximServer(exim_binary, swaks, reachable_tempdir("trackdelivery-exim-"), sinks.addresses(),
                        certificate)
    with running_mta(server, sinks):
        yield server


@pytest.fixture(scope="module")
def postfix(postfix_root: Path, swaks: str, sinks: Sinks,
            certificate: Certificate) -> Iterator[PostfixServer]:
    if not packages.is_root():
        pytest.fail("The test Postfix needs root (its master refuses to run otherwise, and the queue belongs "
                    "to its own user): run these tests as root, e.g. 'make test' as root.", pytrace=False)
    server = PostfixServer(postfix_root, swaks, reachable_tempdir("trackdelivery-postfix-"),
                           sinks.addresses(), certificate)
    with running_mta(server, sinks):
        yield server


@contextmanager
def running_tracker(logs: list[Path], report_name: str) -> Iterator[Tracker]:
    """``trackdelivery serve`` following ``logs``; writes the measured latencies to test-artifacts/."""
    workdir = Path(tempfile.mkdtemp(prefix="trackdelivery-tracker-"))
    tracker = Tracker(workdir, logs)
    try:
        tracker.start()
        yield tracker
    finally:
        tracker.stop()
        if tracker.latencies:
            seconds = [s for _, s in tracker.latencies]
            lines = [f"{len(seconds)} checks; from the MTA logging a line to its records in the JSON API: "
                     f"max {max(seconds):.2f} s, mean {sum(seconds) / len(seconds):.2f} s"]
            lines += [f"  {s:5.2f} s  {name}" for name, s in tracker.latencies]
            (REPO / "test-artifacts").mkdir(exist_ok=True)
            (REPO / "test-artifacts" / f"{report_name}.txt").write_text("\n".join(lines) + "\n")
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def tracker(exim: EximServer) -> Iterator[Tracker]:
    with running_tracker([exim.log.path], "mta-exim-latency") as running:
        yield running


@pytest.fixture(scope="module")
def postfix_tracker(postfix: PostfixServer) -> Iterator[Tracker]:
    with running_tracker([postfix.log.path], "mta-postfix-latency") as running:
        yield running
