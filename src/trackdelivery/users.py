"""Who may see what: users with a role, the domains they own, their passwords and API tokens.

Roles follow DESIGN.md "Access"; ``scope_for`` turns a user into the search scope every query applies.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from .search import Scope
from .store.sqlite import transaction

ADMIN = "admin"
RESELLER = "reseller"
ACCOUNT = "account"
MAILBOX = "mailbox"
ROLES: tuple[str, ...] = (ADMIN, RESELLER, ACCOUNT, MAILBOX)

# cPanel writes "root" as the owner of accounts that no reseller owns, and "*: nobody" as a catch-all.
CPANEL_ROOT_OWNER = "root"
CPANEL_NOBODY = "nobody"

# scrypt at n=2**14, r=8 costs ~16 MiB and ~50 ms per check: slow for guessing, quick for one login.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P, _SCRYPT_LEN = 2**14, 8, 1, 32
_MAX_NAME = 254
MIN_PASSWORD = 8


class UserError(ValueError):
    """A user operation that cannot be done, explained in one sentence."""


@dataclass(slots=True)
class User:
    id: int
    name: str
    role: str
    owner: str | None = None
    password_hash: str = ""
    created: int = 0
    domains: tuple[str, ...] = field(default=())

    @property
    def has_password(self) -> bool:
        return bool(self.password_hash)


# -- passwords and tokens ----------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    """'scrypt$n$r$p$salt$hash' with a random salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P,
                            dklen=_SCRYPT_LEN)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored``; compares in constant time, never raises."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        actual = hashlib.scrypt(password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p),
                                dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


@functools.cache
def dummy_hash() -> str:
    """The hash checked when the user does not exist, so a wrong name costs the same time as a wrong password.

    Made on first use, not at import: scrypt takes about 60 ms, which every command (an ingest, a search)
    paid before. The web app makes it when it starts (create_app), so even the first failed login costs
    the same as the others.
    """
    return hash_password(secrets.token_hex(8))


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"Choose a password of at least {MIN_PASSWORD} characters.")


def generate_password() -> str:
    return secrets.token_urlsafe(12)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# -- reading -----------------------------------------------------------------------------------

def _user(db: sqlite3.Connection, row: tuple | None) -> User | None:
    if row is None:
        return None
    user = User(*row)
    user.domains = tuple(d for (d,) in db.execute(
        "SELECT domain FROM user_domains WHERE user_id = ? ORDER BY domain", (user.id,)))
    return user


def get_user(db: sqlite3.Connection, name: str) -> User | None:
    row = db.execute("SELECT id, name, role, owner, password_hash, created FROM users WHERE name = ?", (name,)).fetchone()
    return _user(db, row)


def get_user_by_id(db: sqlite3.Connection, user_id: int) -> User | None:
    row = db.execute("SELECT id, name, role, owner, password_hash, created FROM users WHERE id = ?", (user_id,)).fetchone()
    return _user(db, row)


def list_users(db: sqlite3.Connection) -> list[User]:
    rows = db.execute("SELECT id, name, role, owner, password_hash, created FROM users ORDER BY name").fetchall()
    return [u for u in (_user(db, row) for row in rows) if u is not None]


def token_counts(db: sqlite3.Connection) -> dict[int, int]:
    return dict(db.execute("SELECT user_id, count(*) FROM api_tokens GROUP BY user_id").fetchall())


def authenticate(db: sqlite3.Connection, name: str, password: str) -> User | None:
    """The user when ``password`` is theirs; None otherwise (unknown user, wrong or no password)."""
    user = get_user(db, name) if name else None
    stored = user.password_hash if user is not None and user.password_hash else dummy_hash()
    ok = verify_password(password, stored)
    if user is None or not user.password_hash or not ok:
        return None
    return user


def user_for_token(db: sqlite3.Connection, token: str) -> User | None:
    """The user an API token belongs to (None for an unknown or revoked token); notes when it was used."""
    row = db.execute("SELECT id, user_id, last_used FROM api_tokens WHERE token_hash = ?",
                     (hash_token(token),)).fetchone()
    if row is None:
        return None
    token_id, user_id, last_used = row
    now = int(time.time())
    if last_used is None or now - last_used >= 60:  # one write a minute at most, not one per request
        try:
            db.execute("UPDATE api_tokens SET last_used = ? WHERE id = ?", (now, token_id))
        except sqlite3.OperationalError:  # database busy or read-only: the token still works
            pass
    return get_user_by_id(db, user_id)


def scope_for(db: sqlite3.Connection, user: User) -> Scope | None:
    """What ``user`` may see: None (everything) for an admin, else the domains or address it owns."""
    if user.role == ADMIN:
        return None
    if user.role == MAILBOX:
        return Scope(addresses=(user.name.lower(),))
    domains = set(d.lower() for d in user.domains)
    if user.role == RESELLER:
        for (domain,) in db.execute(
            "SELECT d.domain FROM user_domains d JOIN users u ON u.id = d.user_id WHERE u.owner = ?",
            (user.name,),
        ):
            domains.add(domain.lower())
    return Scope(domains=tuple(sorted(domains)))


# -- writing -----------------------------------------------------------------------------------


def _check_name(name: str, role: str) -> None:
    if not name or len(name) > _MAX_NAME or any(c.isspace() or not c.isprintable() for c in name):
        raise UserError(f"{name!r} is not a usable user name: use letters, digits and .-_@ without spaces.")
    if role not in ROLES:
        raise UserError(f"Unknown role {role!r}: use {', '.join(ROLES)}.")
    if role == MAILBOX and "@" not in name.strip("@"):
        raise UserError(f"A mailbox user's name is its email address, and {name!r} is not one.")


def _clean_domains(domains: Iterable[str]) -> list[str]:
    cleaned = []
    for domain in domains:
        d = domain.strip().lstrip("@").lower().rstrip(".")
        if not d or any(c.isspace() or c in "@/\\" or not c.isprintable() for c in d):
            raise UserError(f"{domain!r} is not a domain name.")
        cleaned.append(d)
    return sorted(set(cleaned))


def add_user(
    db: sqlite3.Connection,
    name: str,
    role: str,
    *,
    password: str | None = None,
    domains: Iterable[str] = (),
    owner: str | None = None,
) -> User:
    """Create a user; ``password`` None leaves it without one (token-only, or to be set later)."""
    _check_name(name, role)
    domain_list = _clean_domains(domains)
    if domain_list and role not in (ACCOUNT, RESELLER):
        raise UserError(f"Only account and reseller users own domains; a {role} user cannot.")
    if owner is not None:
        if role != ACCOUNT:
            raise UserError("Only an account user can have an owner (its reseller).")
        reseller = get_user(db, owner)
        if reseller is None or reseller.role != RESELLER:
            raise UserError(f"There is no reseller user {owner!r}: add it first with --role reseller.")
    if get_user(db, name) is not None:
        raise UserError(f"A user named {name!r} already exists.")
    if password is not None:
        check_password(password)
    password_hash = hash_password(password) if password else ""
    with transaction(db):
        cur = db.execute(
            "INSERT INTO users (name, role, password_hash, owner, created) VALUES (?, ?, ?, ?, ?)",
            (name, role, password_hash, owner, int(time.time())),
        )
        db.executemany("INSERT INTO user_domains (user_id, domain) VALUES (?, ?)",
                       [(cur.lastrowid, d) for d in domain_list])
    user = get_user(db, name)
    assert user is not None
    return user


def _require(db: sqlite3.Connection, name: str) -> User:
    user = get_user(db, name)
    if user is None:
        raise UserError(f"There is no user named {name!r}: see 'trackdelivery users list'.")
    return user


def remove_user(db: sqlite3.Connection, name: str) -> None:
    """Delete a user with its domains and tokens; its sessions stop working at their next request."""
    user = _require(db, name)
    with transaction(db):
        db.execute("DELETE FROM api_tokens WHERE user_id = ?", (user.id,))
        db.execute("DELETE FROM user_domains WHERE user_id = ?", (user.id,))
        db.execute("DELETE FROM users WHERE id = ?", (user.id,))
        if user.role == RESELLER:
            db.execute("UPDATE users SET owner = NULL WHERE owner = ?", (user.name,))


def set_password(db: sqlite3.Connection, name: str, password: str) -> None:
    """Change a password; sessions opened with the old one stop working."""
    user = _require(db, name)
    check_password(password)
    db.execute("UPDATE users SET password_hash = ? WHERE id = ?", (hash_password(password), user.id))


def create_token(db: sqlite3.Connection, name: str, label: str = "") -> str:
    """A new API token for the user: returned once, stored only as its sha256."""
    user = _require(db, name)
    token = secrets.token_urlsafe(32)
    db.execute("INSERT INTO api_tokens (user_id, token_hash, label, created) VALUES (?, ?, ?, ?)",
               (user.id, hash_token(token), label, int(time.time())))
    return token


def revoke_tokens(db: sqlite3.Connection, name: str, label: str | None = None) -> int:
    """Delete the user's tokens (only those with ``label`` when given); returns how many."""
    user = _require(db, name)
    if label is None:
        return db.execute("DELETE FROM api_tokens WHERE user_id = ?", (user.id,)).rowcount
    return db.execute("DELETE FROM api_tokens WHERE user_id = ? AND label = ?", (user.id, label)).rowcount


# -- cPanel ownership --------------------------------------------------------------------------


def parse_colon_pairs(text: str) -> tuple[list[tuple[str, str]], int]:
    """'left: right' lines (cPanel's /etc/userdomains, /etc/trueuserowners) → pairs, and bad line count."""
    pairs: list[tuple[str, str]] = []
    bad = 0
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        left, sep, right = line.partition(":")
        left, right = left.strip(), right.strip()
        if not sep or not left or not right or " " in left or " " in right:
            bad += 1
            continue
        pairs.append((left, right))
    return pairs, bad


@dataclass(slots=True)
class AccountSync:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[str] = field(default_factory=list)  # names taken by an admin or mailbox user
    not_listed: list[str] = field(default_factory=list)  # account/reseller users the source no longer has
    bad_lines: int = 0


def import_cpanel(db: sqlite3.Connection, userdomains: str, trueuserowners: str = "") -> AccountSync:
    """Create or update one user per cPanel account with its domains and reseller; idempotent.

    ``userdomains`` and ``trueuserowners`` are the files' contents. Accounts that own other accounts
    become resellers. Passwords and tokens of existing users are kept.
    """
    domain_pairs, bad = parse_colon_pairs(userdomains)
    owner_pairs, bad_owners = parse_colon_pairs(trueuserowners)
    domains: dict[str, set[str]] = {}
    for domain, account in domain_pairs:
        if domain == "*" or account == CPANEL_NOBODY:
            continue
        domains.setdefault(account, set()).update(_clean_domains([domain]))
    owners = {
        account: owner for account, owner in owner_pairs
        if owner not in (CPANEL_ROOT_OWNER, account, CPANEL_NOBODY)
    }
    result = sync_accounts(db, domains, owners)
    result.bad_lines = bad + bad_owners
    return result


def accounts_from_config(accounts: dict[str, list[str]], resellers: dict[str, list[str]]
                         ) -> tuple[dict[str, set[str]], dict[str, str]]:
    """The config's ``[accounts]`` (account → domains) and ``[resellers]`` (reseller → accounts) as
    ``sync_accounts`` takes them."""
    domains = {name: set(_clean_domains(listed)) for name, listed in accounts.items()}
    owners = {account: reseller for reseller, owned in resellers.items() for account in owned if account != reseller}
    return domains, owners


def sync_accounts(db: sqlite3.Connection, domains: dict[str, set[str]], owners: dict[str, str]) -> AccountSync:
    """Make the account and reseller users match ``domains`` (account → its domains) and ``owners``
    (account → its reseller): created or updated, only what differs; passwords and tokens are kept."""
    result = AccountSync()
    resellers = set(owners.values())
    for name in sorted(set(domains) | resellers):
        role = RESELLER if name in resellers else ACCOUNT
        owner = owners.get(name) if role == ACCOUNT else None
        wanted = tuple(sorted(domains.get(name, ())))
        try:
            _check_name(name, role)
        except UserError:
            result.skipped.append(name)
            continue
        existing = get_user(db, name)
        if existing is None:
            with transaction(db):
                cur = db.execute(
                    "INSERT INTO users (name, role, password_hash, owner, created) VALUES (?, ?, '', ?, ?)",
                    (name, role, owner, int(time.time())),
                )
                db.executemany("INSERT INTO user_domains (user_id, domain) VALUES (?, ?)",
                               [(cur.lastrowid, d) for d in wanted])
            result.created.append(name)
            continue
        if existing.role not in (ACCOUNT, RESELLER):
            result.skipped.append(name)
            continue
        if (existing.role, existing.owner, existing.domains) == (role, owner, wanted):
            result.unchanged += 1
            continue
        with transaction(db):
            db.execute("UPDATE users SET role = ?, owner = ? WHERE id = ?", (role, owner, existing.id))
            db.execute("DELETE FROM user_domains WHERE user_id = ?", (existing.id,))
            db.executemany("INSERT INTO user_domains (user_id, domain) VALUES (?, ?)",
                           [(existing.id, d) for d in wanted])
        result.updated.append(name)
    known = set(domains) | resellers
    result.not_listed = [
        u.name for u in list_users(db) if u.role in (ACCOUNT, RESELLER) and u.name not in known
    ]
    return result
