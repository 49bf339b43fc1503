"""A log line written by an attacker (script in HELO, markup in the sender, SQL in the subject) is only data:
it comes back verbatim in JSON, breaks no query, and is never markup on a page."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_log
from fastapi.testclient import TestClient
from web_helpers import PASSWORD, csrf_from, login, make_app

from trackdelivery import users
from trackdelivery.store.sqlite import Store

SCRIPT = "<script>alert(1)</script>"
IMG_SENDER = '"><img/src=x/onerror=alert(1)>@evil.example'  # no spaces: one address token for the parser
SPACED_SENDER = '"><img src=x onerror=alert(1)>@evil.example'
SQL = "'; DROP TABLE events; --"
EVIL = "1tEvil-00000000001-EVIL"
EVIL2 = "1tEvil-00000000002-EVIL"

HOSTILE_LOG = [
    f"2026-11-16 08:00:00 {EVIL} <= {IMG_SENDER} H=({SCRIPT}) [198.51.100.7] P=esmtp S=1000 "
    f'T="{SQL}" for bob@shop-example.com',
    f"2026-11-16 08:00:01 {EVIL} => bob@shop-example.com R=virtual_user T=dovecot_virtual_delivery",
    f"2026-11-16 08:00:01 {EVIL} Completed",
    f"2026-11-16 08:00:02 {EVIL2} <= {SPACED_SENDER} H=({SCRIPT}) [198.51.100.7] P=esmtp S=1000 "
    f'T="{SCRIPT} {SQL}" for bob@shop-example.com',
    f"2026-11-16 08:00:03 H=({SCRIPT}) [198.51.100.7]:4000 I=[192.0.2.100]:25 F=<{IMG_SENDER}> "
    f"rejected RCPT <bob@shop-example.com>: {SQL}",
]


@pytest.fixture
def hostile(tmp_path: Path, db_path: Path, cli) -> TestClient:  # type: ignore[no-untyped-def]
    cli("ingest", "--no-progress", str(write_log(tmp_path / "exim_mainlog", HOSTILE_LOG)))
    with Store(db_path) as store:
        users.add_user(store.db, "admin", users.ADMIN, password=PASSWORD)
        token = users.create_token(store.db, "admin")
        users.add_user(store.db, SCRIPT, users.ADMIN, password=PASSWORD)
    client = make_app(db_path, tmp_path)
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def test_hostile_values_come_back_verbatim_in_json(hostile: TestClient) -> None:
    response = hostile.get("/api/v1/search", params={"q": IMG_SENDER})
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-content-type-options"] == "nosniff"
    events = response.json()["events"]
    assert {e["type"] for e in events} == {"success", "rejected"}
    delivered = next(e for e in events if e["type"] == "success")
    assert delivered["email"] == IMG_SENDER
    assert delivered["subject"] == SQL
    assert SCRIPT.split(")")[0] in delivered["senderhost"]  # the HELO as the parser read it, unescaped
    rejected = next(e for e in events if e["type"] == "rejected")
    assert rejected["message"] == SQL


def test_sql_in_the_log_and_in_filters_is_only_text(hostile: TestClient, db_path: Path) -> None:
    found = hostile.get("/api/v1/search", params={"text": SQL}).json()
    assert found["total"] == 3  # two subjects (one delivered, one waiting) and one rejection text
    assert hostile.get("/api/v1/search", params={"q": "' OR 1=1 --"}).json()["total"] == 0
    assert hostile.get("/api/v1/search", params={"recipient": "%", "match": "contains"}).json()["total"] == 0
    response = hostile.get("/api/v1/search", params={"sort": "id; DROP TABLE events"})
    assert response.status_code == 400
    with Store(db_path) as store:
        assert store.db.execute("SELECT count(*) FROM events").fetchone()[0] == 3


def test_raw_lines_keep_the_attackers_text_verbatim(hostile: TestClient) -> None:
    story = hostile.get(f"/api/v1/messages/{EVIL2}").json()
    assert story["raw_lines"] == [HOSTILE_LOG[3]]
    assert SPACED_SENDER in story["raw_lines"][0] and SCRIPT in story["raw_lines"][0]
    rejection = next(e for e in hostile.get("/api/v1/search", params={"types": "rejected"}).json()["events"])
    detail = hostile.get(f"/api/v1/events/{rejection['event_id']}").json()
    assert detail["raw_lines"] == [HOSTILE_LOG[4]]


def test_hostile_text_in_errors_is_json_not_markup(hostile: TestClient) -> None:
    response = hostile.get(f"/api/v1/messages/{SCRIPT}")
    assert response.status_code == 404 and response.headers["content-type"] == "application/json"
    response = hostile.get("/api/v1/search", params={"types": SCRIPT})
    assert response.status_code == 400 and response.headers["content-type"] == "application/json"


def test_login_page_never_echoes_markup(hostile: TestClient) -> None:
    hostile.headers.pop("Authorization")
    page = hostile.get("/login")
    response = hostile.post("/login", data={"username": SCRIPT + IMG_SENDER, "password": SCRIPT,
                                            "csrf_token": csrf_from(page.text)})
    assert response.status_code == 401
    assert "<script>alert" not in response.text and "<img/src" not in response.text


def test_a_user_named_like_a_script_is_shown_as_text(hostile: TestClient) -> None:
    hostile.headers.pop("Authorization")
    assert login(hostile, SCRIPT).status_code == 303
    page = hostile.get("/")
    assert page.status_code == 200
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_api_docs_page_has_no_script(hostile: TestClient) -> None:
    assert "<script" not in hostile.get("/api/docs").text
