"""The test MTAs' daemons as processes: started with their output in a file, waited for until their log
says they are up, found through /proc, and stopped together with anything they left running.

MTA-agnostic: the Exim and the Postfix of the tests (exim.py, postfix.py) are run and stopped the same way.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .maillog import MailLog

START_SECONDS = 15  # how long a daemon may take to log that it started
STOP_SECONDS = 10  # how long a daemon, then what it forked, may take to end after SIGTERM


def start_daemon(command: list[str], output: Path, **options: Any) -> subprocess.Popen[bytes]:
    """Run ``command`` in the background, its standard output and error into the file ``output``."""
    with output.open("wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                **options)


def logged_start(process: subprocess.Popen[bytes], log: MailLog, started: str | re.Pattern[str]) -> bool:
    """Whether the daemon's log says ``started`` within START_SECONDS (False at once if it exits)."""
    deadline = time.monotonic() + START_SECONDS
    while log.find(started) is None:
        if process.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def last_lines(workdir: Path, names: tuple[str, ...], count: int = 20) -> str:
    """The last lines of each of the files ``names`` under ``workdir`` that exist, for failure messages."""
    parts = []
    for name in names:
        path = workdir / name
        if path.exists():
            last = path.read_text(errors="replace").splitlines()[-count:]
            parts.append(f"--- {name}:\n" + "\n".join(last))
    return "\n".join(parts) or "(no output)"


def processes_with(marker: bytes, proc_file: str) -> list[int]:
    """Every live process but this one whose /proc/PID/``proc_file`` ("cmdline" or "environ") contains
    ``marker``: how a daemon's children are found once it has gone."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / proc_file).read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def stop_daemon(process: subprocess.Popen[bytes] | None, own_processes: Callable[[], list[int]]) -> None:
    """End the daemon (SIGTERM, then SIGKILL if it does not exit), give the processes ``own_processes``
    lists time to finish (deliveries in progress), then end those left with SIGTERM and at last SIGKILL."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_SECONDS)
    deadline = time.monotonic() + STOP_SECONDS
    while own_processes() and time.monotonic() < deadline:
        time.sleep(0.1)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        left = own_processes()
        if not left:
            break
        for pid in left:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        time.sleep(0.5)
