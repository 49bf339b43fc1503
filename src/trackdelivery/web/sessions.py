"""Signed session cookies (HMAC-SHA256 with a secret kept in the settings table) and their CSRF tokens.

A session is a small signed JSON value: a random nonce (which the CSRF token is bound to), the time it
was issued and, once logged in, the user id with a tag of the password hash, so that changing the
password or removing the user ends every session at its next request. Logging out records the nonce
(``revoke``), so a copy of the cookie stops working too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from ..store.sqlite import transaction
from ..users import User

SESSION_COOKIE = "td_session"
SESSION_LIFETIME = 12 * 3600  # seconds: a login lasts a working day
SECRET_SETTING = "web_session_secret"


def load_secret(db: sqlite3.Connection) -> bytes:
    """The server's signing secret, created on first use and kept in the settings table."""
    db.execute("INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)",
               (SECRET_SETTING, secrets.token_hex(32)))
    (value,) = db.execute("SELECT value FROM settings WHERE key = ?", (SECRET_SETTING,)).fetchone()
    return bytes.fromhex(value)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(slots=True)
class Session:
    nonce: str
    issued: int
    user_id: int | None = None
    password_tag: str = ""


class SessionSigner:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, purpose: str, data: str) -> str:
        return _b64(hmac.new(self._secret, f"{purpose}:{data}".encode(), hashlib.sha256).digest())

    def new_session(self, user: User | None = None) -> Session:
        session = Session(nonce=secrets.token_urlsafe(18), issued=int(time.time()))
        if user is not None:
            session.user_id = user.id
            session.password_tag = self.password_tag(user)
        return session

    def password_tag(self, user: User) -> str:
        return self._mac("password", f"{user.id}:{user.name}:{user.password_hash}")[:22]

    def dumps(self, session: Session) -> str:
        payload: dict[str, Any] = {"n": session.nonce, "t": session.issued}
        if session.user_id is not None:
            payload["u"] = session.user_id
            payload["p"] = session.password_tag
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return body + "." + self._mac("session", body)

    def loads(self, value: str | None) -> Session | None:
        """The session in a cookie value; None when missing, forged or expired."""
        if not value or value.count(".") != 1:
            return None
        body, mac = value.split(".")
        if not hmac.compare_digest(mac.encode(), self._mac("session", body).encode()):
            return None
        try:
            payload = json.loads(_unb64(body))
            session = Session(nonce=str(payload["n"]), issued=int(payload["t"]),
                              user_id=int(payload["u"]) if "u" in payload else None,
                              password_tag=str(payload.get("p", "")))
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None
        if not 0 <= time.time() - session.issued <= SESSION_LIFETIME:
            return None
        return session

    def csrf_token(self, session: Session) -> str:
        return self._mac("csrf", session.nonce)

    def csrf_ok(self, session: Session | None, token: str | None) -> bool:
        if session is None or not token:
            return False
        return hmac.compare_digest(token.encode(), self.csrf_token(session).encode())


def revoke(db: sqlite3.Connection, session: Session) -> None:
    """End ``session`` for every copy of its cookie (and forget sessions that have expired anyway)."""
    now = int(time.time())
    with transaction(db):
        db.execute("DELETE FROM revoked_sessions WHERE expires < ?", (now,))
        db.execute("INSERT OR IGNORE INTO revoked_sessions (nonce, expires) VALUES (?, ?)",
                   (session.nonce, session.issued + SESSION_LIFETIME))


def is_revoked(db: sqlite3.Connection, session: Session) -> bool:
    return db.execute("SELECT 1 FROM revoked_sessions WHERE nonce = ?", (session.nonce,)).fetchone() is not None
