"""Shared pieces of the web tests: a real Exim log with several tenants, their users, and HTTP clients.

Tenants: shop (shop-example.com), cafe (cafe-example.org) and bakery (bakery-example.net), the last two
owned by the reseller "resell"; a mailbox user bob@shop-example.com; an admin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import write_log
from fastapi.testclient import TestClient

from trackdelivery import users
from trackdelivery.config import Config
from trackdelivery.store.sqlite import Store
from trackdelivery.web import create_app
from trackdelivery.web.app import TEMPLATES_DIR

A = "1tWebA-00000000001-AAAA"  # alice@shop → bob@example.org, delivered
B = "1tWebB-00000000002-BBBB"  # news@example.net → carol@shop, deferred (mailbox full), still waiting
C = "1tWebC-00000000003-CCCC"  # alice@shop → ghost@example.com, bounced (user unknown)
H = "1tWebH-00000000004-HHHH"  # the bounce of C, delivered to alice@shop
E = "1tWebE-00000000005-EEEE"  # chef@cafe → guest@example.com, delivered
F = "1tWebF-00000000006-FFFF"  # baker@bakery → bob@shop, delivered (two tenants)
G = "1tWebG-00000000007-GGGG"  # news@example.net → dana@cafe and erin@shop (one message, two tenants)

LOG = [
    f"2026-11-16 08:00:00 {A} <= alice@shop-example.com H=mail.shop-example.com [192.0.2.1] P=esmtpsa "
    'A=dovecot_login:alice@shop-example.com S=1000 T="Order 1" for bob@example.org',
    f"2026-11-16 08:00:01 {A} => bob@example.org R=dnslookup T=remote_smtp H=mx.example.org [203.0.113.1] "
    'C="250 OK queued"',
    f"2026-11-16 08:00:01 {A} Completed",
    f"2026-11-16 09:00:00 {B} <= news@example.net H=out.example.net [192.0.2.2] P=esmtps S=2000 "
    'T="Weekly news" for carol@shop-example.com',
    f"2026-11-16 09:00:01 {B} == carol@shop-example.com R=virtual_user T=dovecot_virtual_delivery defer (-22): "
    "mailbox is full (MTA-imposed quota exceeded while writing to /home/shop/mail/carol)",
    f"2026-11-16 10:00:00 {C} <= alice@shop-example.com H=mail.shop-example.com [192.0.2.1] P=esmtpsa "
    "A=dovecot_login:alice@shop-example.com S=3000 for ghost@example.com",
    f"2026-11-16 10:00:02 {C} ** ghost@example.com R=dnslookup T=remote_smtp H=mx.example.com [203.0.113.9] : "
    "SMTP error from remote mail server after RCPT TO:<ghost@example.com>: 550 5.1.1 User unknown",
    f"2026-11-16 10:00:03 {H} <= <> R={C} U=mailnull P=local S=1500 "
    'T="Mail delivery failed: returning message to sender" from <> for alice@shop-example.com',
    f"2026-11-16 10:00:03 {C} Completed",
    f"2026-11-16 10:00:04 {H} => alice@shop-example.com R=virtual_user T=dovecot_virtual_delivery",
    f"2026-11-16 10:00:04 {H} Completed",
    "2026-11-16 11:00:00 H=(spammer) [198.51.100.66]:4000 I=[192.0.2.100]:25 F=<x@spam.example> "
    "rejected RCPT <bob@shop-example.com>: relay not permitted",
    f"2026-11-16 12:00:00 {E} <= chef@cafe-example.org H=mail.cafe-example.org [192.0.2.5] P=esmtpsa "
    "A=dovecot_login:chef@cafe-example.org S=500 for guest@example.com",
    f"2026-11-16 12:00:01 {E} => guest@example.com R=dnslookup T=remote_smtp H=mx.example.com [203.0.113.9] "
    'C="250 2.0.0 Ok"',
    f"2026-11-16 12:00:01 {E} Completed",
    f"2026-11-16 13:00:00 {F} <= baker@bakery-example.net H=mail.bakery-example.net [192.0.2.6] P=esmtpsa "
    "A=dovecot_login:baker@bakery-example.net S=600 for bob@shop-example.com",
    f"2026-11-16 13:00:01 {F} => bob@shop-example.com R=virtual_user T=dovecot_virtual_delivery",
    f"2026-11-16 13:00:01 {F} Completed",
    f"2026-11-16 14:00:00 {G} <= news@example.net H=out.example.net [192.0.2.2] P=esmtps S=700 "
    'T="Two tenants" for dana@cafe-example.org erin@shop-example.com',
    f"2026-11-16 14:00:01 {G} => dana@cafe-example.org R=virtual_user T=dovecot_virtual_delivery",
    f"2026-11-16 14:00:01 {G} => erin@shop-example.com R=virtual_user T=dovecot_virtual_delivery",
    f"2026-11-16 14:00:01 {G} Completed",
]

PASSWORD = "correct horse battery"

# The (msgid, recipient) pairs each user may see in LOG; "" msgid is the SMTP-time rejection.
SHOP_EVENTS = {
    (A, "bob@example.org"), (B, "carol@shop-example.com"), (C, "ghost@example.com"), (H, "alice@shop-example.com"),
    ("", "bob@shop-example.com"), (F, "bob@shop-example.com"), (G, "erin@shop-example.com"),
}
CAFE_EVENTS = {(E, "guest@example.com"), (G, "dana@cafe-example.org")}
BAKERY_EVENTS = {(F, "bob@shop-example.com")}
RESELLER_EVENTS = CAFE_EVENTS | BAKERY_EVENTS
MAILBOX_EVENTS = {("", "bob@shop-example.com"), (F, "bob@shop-example.com")}

MINIMAL_TEMPLATES = {
    "login.html": (
        "<!doctype html><title>Log in</title>{% if error %}<p role=alert>{{ error }}</p>{% endif %}"
        '<form method="post" action="/login"><input type="hidden" name="csrf_token" value="{{ csrf_token }}">'
        '<input name="username"><input name="password" type="password"><button>Log in</button></form>'
    ),
    "index.html": (
        "<!doctype html><title>Track Delivery {{ version }}</title><p>{{ user.name }} ({{ user.role }})</p>"
        "<p>Kept {{ retention_days }} days</p>"
        '<form method="post" action="/logout"><input type="hidden" name="csrf_token" value="{{ csrf_token }}">'
        "<button>Log out</button></form>"
    ),
}

CSRF_FIELD = re.compile(r'name="csrf_token"\s+value="([^"]+)"')


def templates_dir(tmp_path: Path) -> Path:
    """The package's templates once the page exists; until then minimal ones with the same context."""
    if all((TEMPLATES_DIR / name).exists() for name in MINIMAL_TEMPLATES):
        return TEMPLATES_DIR
    folder = tmp_path / "templates"
    folder.mkdir(exist_ok=True)
    for name, text in MINIMAL_TEMPLATES.items():
        (folder / name).write_text(text)
    return folder


def make_app(db_path: Path, tmp_path: Path, retention_days: int = 30) -> TestClient:
    app = create_app(str(db_path), Config(db=str(db_path), retention_days=retention_days),
                     templates_dir=templates_dir(tmp_path))
    return TestClient(app)


@dataclass
class Site:
    """The app over the tenants' database, with an API token per user name."""

    client: TestClient
    db_path: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def get(self, user: str, path: str, **params: object):  # type: ignore[no-untyped-def]
        return self.client.get(path, params=params, headers={"Authorization": f"Bearer {self.tokens[user]}"})

    def events(self, user: str, **params: object) -> list[dict]:
        response = self.get(user, "/api/v1/search", limit=1000, **params)
        assert response.status_code == 200, response.text
        return response.json()["events"]

    def pairs(self, user: str, **params: object) -> set[tuple[str, str]]:
        return {(e["msgid"], e["recipient"]) for e in self.events(user, **params)}

    def store(self) -> Store:
        return Store(self.db_path)


def add_tenant_users(db_path: Path) -> dict[str, str]:
    """The tenants' users (admin, reseller, accounts, mailbox) with one API token each."""
    with Store(db_path) as store:
        db = store.db
        users.add_user(db, "admin", users.ADMIN, password=PASSWORD)
        users.add_user(db, "resell", users.RESELLER)
        users.add_user(db, "shop", users.ACCOUNT, password=PASSWORD, domains=["shop-example.com"])
        users.add_user(db, "cafe", users.ACCOUNT, domains=["cafe-example.org"], owner="resell")
        users.add_user(db, "bakery", users.ACCOUNT, domains=["bakery-example.net"], owner="resell")
        users.add_user(db, "bob@shop-example.com", users.MAILBOX)
        users.add_user(db, "nobody", users.ACCOUNT)  # owns nothing: sees nothing
        names = ("admin", "resell", "shop", "cafe", "bakery", "bob@shop-example.com", "nobody")
        return {name: users.create_token(db, name, "tests") for name in names}


@pytest.fixture(name="site")
def site_fixture(tmp_path: Path, db_path: Path, cli) -> Site:  # type: ignore[no-untyped-def]
    cli("ingest", "--no-progress", str(write_log(tmp_path / "exim_mainlog", LOG)))
    tokens = add_tenant_users(db_path)
    return Site(make_app(db_path, tmp_path), db_path, tokens)


def csrf_from(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "no csrf_token field in the form"
    return match.group(1)


def login(client: TestClient, name: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    token = csrf_from(client.get("/login").text)
    return client.post("/login", data={"username": name, "password": password, "csrf_token": token},
                       follow_redirects=False)
