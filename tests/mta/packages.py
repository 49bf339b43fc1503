"""The Debian packages the MTA tests need: found on this machine, or installed with apt-get as root.

A missing package the tests cannot install is a failure with a clear message, never a skip: these
tests are the evidence that the tracker reads real mail servers correctly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")
APT_TIMEOUT = 600
# Wait for another apt/dpkg run (a parallel test session, unattended-upgrades) instead of failing.
APT_OPTIONS = ("-o", "DPkg::Lock::Timeout=300")
MTA_VIRTUAL_PACKAGE = "mail-transport-agent"


def find_program(*names: str) -> str | None:
    """The first of ``names`` on PATH or in the sbin directories (not always on a user's PATH)."""
    path_dirs = os.environ.get("PATH", "").split(os.pathsep)
    for name in names:
        for directory in (*path_dirs, *SBIN_DIRS):
            candidate = os.path.join(directory, name)
            if directory and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
    return None


def is_root() -> bool:
    return os.geteuid() == 0


def _run(command: list[str], timeout: float = APT_TIMEOUT,
         cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(command, 1, "", str(exc))


def _tail(done: subprocess.CompletedProcess[str], lines: int = 12) -> str:
    return "\n".join((done.stdout + done.stderr).strip().splitlines()[-lines:])


def require_root_to_install(packages: list[str], what: str) -> None:
    if not is_root():
        pytest.fail(f"{what} is not installed and these tests are not running as root, so they cannot "
                    f"install it: run 'sudo apt-get install {' '.join(packages)}', or run 'make test' as "
                    "root.", pytrace=False)


def apt_install(packages: list[str], what: str) -> None:
    """Install ``packages`` (no recommends), or fail the test saying what went wrong."""
    require_root_to_install(packages, what)
    if find_program("apt-get") is None:
        pytest.fail(f"{what} is not installed and this machine has no apt-get to install "
                    f"{' '.join(packages)} with: install them by hand.", pytrace=False)
    update = _run(["apt-get", *APT_OPTIONS, "update", "-qq"])
    install = _run(["apt-get", *APT_OPTIONS, "install", "-y", "-qq", "--no-install-recommends", *packages])
    if install.returncode != 0:
        detail = _tail(install) + ("\n(apt-get update also failed: " + _tail(update, 3) + ")"
                                   if update.returncode else "")
        pytest.fail(f"Could not install {' '.join(packages)} for the MTA tests ({what}); "
                    f"apt-get said:\n{detail}", pytrace=False)


def installed_packages_providing(virtual: str) -> list[str]:
    """Installed packages that provide ``virtual`` (e.g. the MTA that is installed, if any)."""
    done = _run(["dpkg-query", "-W", "-f", "${db:Status-Abbrev}\t${Package}\t${Provides}\n"], timeout=60)
    found = []
    for line in done.stdout.splitlines():
        status, _, rest = line.partition("\t")
        package, _, provides = rest.partition("\t")
        if status.startswith("ii") and virtual in [p.strip().split(" ")[0] for p in provides.split(",")]:
            found.append(package)
    return found


def unpack_package(package: str, into: Path, what: str, libraries_only: bool = False) -> Path:
    """Download ``package`` and unpack it under ``into`` without installing it; returns the unpacked root.

    Its dependencies are installed normally (with ``libraries_only``, only the ``lib*`` ones its programs
    load: the others serve its install scripts, which do not run). This is how an MTA is tested when
    another MTA is installed (Debian lets only one package provide mail-transport-agent).
    """
    require_root_to_install([package], what)
    into.mkdir(parents=True, exist_ok=True)
    download = _run(["apt-get", *APT_OPTIONS, "-o", "APT::Sandbox::User=root", "download", package], cwd=into)
    debs = sorted(into.glob(f"{package}_*.deb"))
    if download.returncode != 0 or not debs:
        pytest.fail(f"Could not download {package} to unpack it ({what}); apt-get said:\n{_tail(download)}",
                    pytrace=False)
    depends = _run(["dpkg-deb", "-f", str(debs[-1]), "Depends"], timeout=60).stdout
    needed = []
    for item in depends.split(","):
        name = item.split("|")[0].strip().split(" ")[0].split(":")[0]
        if name and not package_installed(name) and (name.startswith("lib") or not libraries_only):
            needed.append(name)
    if needed:
        apt_install(needed, f"the libraries {package} needs")
    root = into / "root"
    unpacked = _run(["dpkg-deb", "-x", str(debs[-1]), str(root)], timeout=120)
    if unpacked.returncode != 0:
        pytest.fail(f"Could not unpack {debs[-1].name}: {_tail(unpacked)}", pytrace=False)
    return root


def require_program(name: str, package: str, what: str) -> str:
    """The program ``name``: installed from Debian's ``package`` when missing (``what`` says why it is
    needed); the test fails with a sentence when that is not possible."""
    found = find_program(name)
    if found is None:
        apt_install([package], what)
        found = find_program(name)
    if found is None:
        pytest.fail(f"{name} was installed but is not on PATH.", pytrace=False)
    return found


def perl_module_available(module: str) -> bool:
    """Whether Perl can load ``module`` (e.g. Net::SSLeay, which swaks needs for --tls)."""
    return _run(["perl", f"-M{module}", "-e1"], timeout=60).returncode == 0


def package_installed(package: str) -> bool:
    done = _run(["dpkg-query", "-W", "-f", "${db:Status-Abbrev}", package], timeout=60)
    return done.returncode == 0 and done.stdout.startswith("ii")


def pid_from_file(pid_file: str) -> int | None:
    """The live process named by ``pid_file``, if any."""
    try:
        pid = int(Path(pid_file).read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return None
    return pid


def stop_package_daemon(service: str, pid_file: str, program: str) -> None:
    """Stop the daemon a package's install script started (our MTA runs on its own ports).

    Only the process the package's pid file names, and only if it is ``program``; nothing else.
    """
    pid = pid_from_file(pid_file)
    if pid is None:
        return
    if find_program("service"):
        _run(["service", service, "stop"], timeout=60)
    deadline = time.monotonic() + 10
    while pid_from_file(pid_file) == pid and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid_from_file(pid_file) == pid:
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            return
        if name.startswith(program):
            os.kill(pid, signal.SIGTERM)
