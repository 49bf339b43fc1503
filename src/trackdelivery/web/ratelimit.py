"""Rate limits: failed logins per user name and client address (kept in the database), and calls that
start a process, such as the address trace (kept in memory).

Failed logins are kept in SQLite rather than memory so that a restart or a second server process does
not reset them: they guard passwords. The call limits guard the machine's processes, which a restart
frees anyway.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass

WINDOW = 300  # seconds
MAX_FAILURES_PER_USER = 5  # per user name and client address in WINDOW
MAX_FAILURES_PER_ADDRESS = 30  # per client address, any user names (password spraying)

TOO_MANY_MESSAGE = "Too many failed logins: wait 5 minutes, then try again."


def too_many_failures(db: sqlite3.Connection, name: str, ip: str, now: float | None = None) -> bool:
    since = int(now if now is not None else time.time()) - WINDOW
    per_user = db.execute(
        "SELECT count(*) FROM login_attempts WHERE name = ? AND ip = ? AND at > ?", (name, ip, since)
    ).fetchone()[0]
    if per_user >= MAX_FAILURES_PER_USER:
        return True
    per_address = db.execute(
        "SELECT count(*) FROM login_attempts WHERE ip = ? AND at > ?", (ip, since)
    ).fetchone()[0]
    return bool(per_address >= MAX_FAILURES_PER_ADDRESS)


def record_failure(db: sqlite3.Connection, name: str, ip: str, now: float | None = None) -> None:
    at = int(now if now is not None else time.time())
    db.execute("DELETE FROM login_attempts WHERE at <= ?", (at - WINDOW,))
    db.execute("INSERT INTO login_attempts (name, ip, at) VALUES (?, ?, ?)", (name[:256], ip, at))


def clear_failures(db: sqlite3.Connection, name: str, ip: str) -> None:
    db.execute("DELETE FROM login_attempts WHERE name = ? AND ip = ?", (name, ip))


# -- calls that start a process ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Refusal:
    message: str
    retry_after: int  # seconds, for the Retry-After header


class CallLimiter:
    """At most ``per_window`` calls per key (a user) in ``window`` seconds, and ``max_running`` calls
    running at once for everyone: each call starts a process, and every call holds a server thread."""

    def __init__(self, per_window: int, window: float, max_running: int, *, what: str) -> None:
        self.per_window, self.window, self.max_running = per_window, window, max_running
        self.too_many = f"Too many {what} in a short time: wait a minute, then try again."
        self.busy = f"Other {what} are running right now: try again in a few seconds."
        self._calls: dict[str, deque[float]] = {}
        self._running = 0
        self._lock = threading.Lock()

    def start(self, key: str, now: float | None = None) -> Refusal | None:
        """Count a call by ``key``: None when it may run (then call ``finish`` when done), else why not."""
        at = time.monotonic() if now is None else now
        with self._lock:
            for other in [k for k, calls in self._calls.items() if not calls or calls[-1] <= at - self.window]:
                del self._calls[other]  # keys with nothing recent: memory stays bounded by active users
            calls = self._calls.setdefault(key, deque())
            while calls and calls[0] <= at - self.window:
                calls.popleft()
            if len(calls) >= self.per_window:
                return Refusal(self.too_many, max(1, int(calls[0] + self.window - at) + 1))
            if self._running >= self.max_running:
                return Refusal(self.busy, 5)
            calls.append(at)
            self._running += 1
        return None

    def finish(self) -> None:
        with self._lock:
            self._running = max(0, self._running - 1)
