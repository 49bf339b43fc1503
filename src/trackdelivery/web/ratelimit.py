"""Login rate limiting: failed logins per user name and client address, kept in the database.

Kept in SQLite rather than memory so that a restart or a second server process does not reset it.
"""

from __future__ import annotations

import sqlite3
import time

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
