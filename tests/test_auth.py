"""Who sees what, and how people and scripts prove who they are: roles, scopes, tokens, logins, CSRF, limits."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from fastapi.testclient import TestClient
from web_helpers import (
    BAKERY_EVENTS,
    CAFE_EVENTS,
    MAILBOX_EVENTS,
    PASSWORD,
    RESELLER_EVENTS,
    SHOP_EVENTS,
    A,
    C,
    E,
    F,
    G,
    H,
    Site,
    csrf_from,
    login,
    make_app,
    site_fixture,  # noqa: F401 - the "site" fixture
)

from trackdelivery import users
from trackdelivery.store.sqlite import Store
from trackdelivery.web.headers import CONTENT_SECURITY_POLICY
from trackdelivery.web.sessions import SESSION_COOKIE

# -- scopes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("shop", SHOP_EVENTS),
        ("cafe", CAFE_EVENTS),
        ("bakery", BAKERY_EVENTS),
        ("resell", RESELLER_EVENTS),
        ("bob@shop-example.com", MAILBOX_EVENTS),
        ("nobody", set()),
    ],
)
def test_each_role_sees_only_its_mail(site: Site, user: str, expected: set) -> None:
    assert site.pairs(user) == expected
    answer = site.get(user, "/api/v1/search").json()
    # inprogress and defer of B are two events with the same pair
    assert answer["total"] == len(site.events(user))


def test_admin_sees_everything(site: Site) -> None:
    assert site.pairs("admin") == SHOP_EVENTS | CAFE_EVENTS | BAKERY_EVENTS
    assert site.get("admin", "/api/v1/search").json()["total"] == 10


def test_filters_cannot_widen_a_scope(site: Site) -> None:
    assert site.pairs("shop", domain="cafe-example.org") == set()
    assert site.pairs("cafe", q="alice@shop-example.com") == set()
    assert site.pairs("bob@shop-example.com", msgid=A) == set()
    assert site.pairs("cafe", recipient="example", match="contains") == CAFE_EVENTS


@pytest.mark.parametrize(("user", "msgid"), [("cafe", A), ("cafe", C), ("shop", E), ("bakery", G),
                                             ("bob@shop-example.com", A), ("resell", H), ("nobody", F)])
def test_another_tenants_message_is_404_like_a_missing_one(site: Site, user: str, msgid: str) -> None:
    response = site.get(user, f"/api/v1/messages/{msgid}")
    assert response.status_code == 404
    assert response.json() == {"error": f"There is no message with id {msgid!r}."}


def test_another_tenants_event_is_404_like_a_missing_one(site: Site) -> None:
    for event in site.events("admin"):
        event_id = event["event_id"]
        pair = (event["msgid"], event["recipient"])
        for user, visible in (("shop", SHOP_EVENTS), ("cafe", CAFE_EVENTS), ("bob@shop-example.com", MAILBOX_EVENTS)):
            response = site.get(user, f"/api/v1/events/{event_id}")
            if pair in visible:
                assert response.status_code == 200
                assert response.json()["event"]["event_id"] == event_id
            else:
                assert response.status_code == 404, (user, pair)
                assert response.json() == {"error": f"There is no event with id {event_id}."}


def test_a_shared_message_shows_each_tenant_only_its_recipient(site: Site) -> None:
    shop = site.get("shop", f"/api/v1/messages/{G}").json()
    assert [e["recipient"] for e in shop["events"]] == ["erin@shop-example.com"]
    raw = "\n".join(shop["raw_lines"])
    assert "dana@cafe-example.org" not in raw
    assert "erin@shop-example.com" in raw and "(another recipient)" in raw
    cafe = site.get("cafe", f"/api/v1/messages/{G}").json()
    assert [e["recipient"] for e in cafe["events"]] == ["dana@cafe-example.org"]
    assert "erin@shop-example.com" not in "\n".join(cafe["raw_lines"])
    admin = site.get("admin", f"/api/v1/messages/{G}").json()
    assert "dana@cafe-example.org" in "\n".join(admin["raw_lines"])


def test_event_details_of_a_shared_message_hide_the_other_tenant(site: Site) -> None:
    (erin,) = site.events("shop", msgid=G)
    detail = site.get("shop", f"/api/v1/events/{erin['event_id']}").json()
    assert "dana@cafe-example.org" not in json.dumps(detail)


def test_export_never_contains_other_tenants_rows(site: Site) -> None:
    for fmt in ("csv", "json", "ndjson"):
        text = site.get("cafe", "/api/v1/export", format=fmt).text
        assert "shop-example.com" not in text and "bakery-example.net" not in text
    rows = list(csv.DictReader(io.StringIO(site.get("cafe", "/api/v1/export", format="csv").text)))
    assert {(r["msgid"], r["recipient"]) for r in rows} == CAFE_EVENTS
    assert site.get("nobody", "/api/v1/export", format="json").json() == []


def test_stats_count_only_the_callers_mail(site: Site) -> None:
    cafe = site.get("cafe", "/api/v1/stats").json()
    assert cafe["events"]["success"] == 2 and sum(cafe["events"].values()) == 2
    assert cafe["messages"] == 2
    assert cafe["lines"] is None and cafe["unparsed"] is None  # server-wide volume is not a tenant's business
    mailbox = site.get("bob@shop-example.com", "/api/v1/stats").json()
    assert mailbox["events"]["rejected"] == 1 and mailbox["events"]["success"] == 1
    assert sum(site.get("nobody", "/api/v1/stats").json()["events"].values()) == 0


def test_new_and_last_id_count_only_visible_events(site: Site) -> None:
    admin_last = site.get("admin", "/api/v1/search").json()["last_id"]
    cafe = site.get("cafe", "/api/v1/search").json()
    assert cafe["last_id"] == max(e["event_id"] for e in cafe["events"])
    bakery_last = site.get("bakery", "/api/v1/search").json()["last_id"]
    assert bakery_last < admin_last  # F is not the newest event, and bakery cannot tell what came after
    assert site.get("bakery", "/api/v1/new", after_id=0).json() == {"count": 1, "last_id": bakery_last}
    assert site.get("nobody", "/api/v1/search").json()["last_id"] == 0


def test_links_to_invisible_messages_are_left_out(site: Site, tmp_path: Path) -> None:
    # alice sent C and got its bounce H: she sees both, so they link.
    with Store(site.db_path) as store:
        users.add_user(store.db, "alice@shop-example.com", users.MAILBOX)
        site.tokens["alice"] = users.create_token(store.db, "alice@shop-example.com")
    assert site.get("alice", f"/api/v1/messages/{C}").json()["linked"] == [H]
    # ghost was C's recipient: it sees C but not the bounce that went back to alice.
    with Store(site.db_path) as store:
        users.add_user(store.db, "ghost@example.com", users.MAILBOX)
        site.tokens["ghost"] = users.create_token(store.db, "ghost@example.com")
    assert site.get("ghost", f"/api/v1/messages/{C}").json()["linked"] == []


def test_reseller_sees_accounts_it_gains_and_loses(site: Site) -> None:
    with Store(site.db_path) as store:
        users.remove_user(store.db, "bakery")
    assert site.pairs("resell") == CAFE_EVENTS


# -- API tokens --------------------------------------------------------------------------------


def test_bearer_token_works_and_a_wrong_one_is_401(site: Site) -> None:
    assert site.get("shop", "/api/v1/search").status_code == 200
    wrong = site.client.get("/api/v1/search", headers={"Authorization": "Bearer not-a-real-token"})
    assert wrong.status_code == 401 and "not valid" in wrong.json()["error"]
    assert wrong.headers["www-authenticate"] == "Bearer"
    basic = site.client.get("/api/v1/search", headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
    assert basic.status_code == 401


def test_revoked_and_removed_users_tokens_are_401(site: Site) -> None:
    with Store(site.db_path) as store:
        assert users.revoke_tokens(store.db, "shop") == 1
        users.remove_user(store.db, "cafe")
    assert site.get("shop", "/api/v1/search").status_code == 401
    assert site.get("cafe", "/api/v1/search").status_code == 401
    assert site.get("bakery", "/api/v1/search").status_code == 200


def test_tokens_are_stored_hashed(site: Site) -> None:
    with Store(site.db_path) as store:
        stored = [h for (h,) in store.db.execute("SELECT token_hash FROM api_tokens")]
    assert site.tokens["shop"] not in stored and users.hash_token(site.tokens["shop"]) in stored


# -- logins and sessions -----------------------------------------------------------------------


def _set_cookie(response) -> str:  # type: ignore[no-untyped-def]
    return next(v for k, v in response.headers.multi_items() if k == "set-cookie" and SESSION_COOKIE in v)


def test_page_redirects_to_login_when_not_logged_in(site: Site) -> None:
    response = site.client.get("/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"


def test_login_sets_an_httponly_samesite_cookie_and_opens_the_page(site: Site) -> None:
    response = login(site.client, "shop")
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = _set_cookie(response).lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # plain http: a Secure cookie would never come back
    page = site.client.get("/")
    assert page.status_code == 200 and "shop" in page.text
    assert site.client.get("/api/v1/search").json()["total"] == len(site.events("shop"))


def test_cookie_is_secure_behind_a_local_tls_proxy_only(site: Site) -> None:
    local = TestClient(site.client.app, client=("127.0.0.1", 50000))
    response = login(local, "shop", PASSWORD)
    assert "secure" not in _set_cookie(response).lower()
    local.headers["X-Forwarded-Proto"] = "https"
    assert "secure" in _set_cookie(login(local, "shop")).lower()
    remote = TestClient(site.client.app, client=("203.0.113.50", 50000), headers={"X-Forwarded-Proto": "https"})
    assert "secure" not in _set_cookie(login(remote, "shop")).lower()


def test_wrong_password_is_refused_with_a_message(site: Site) -> None:
    response = login(site.client, "shop", "wrong password")
    assert response.status_code == 401 and "Wrong user name or password." in response.text
    assert site.client.get("/api/v1/search").status_code == 401
    assert login(site.client, "nosuchuser").status_code == 401
    assert login(site.client, "cafe").status_code == 401  # no password set: tokens only


def test_login_without_csrf_token_is_403(site: Site) -> None:
    site.client.get("/login")
    response = site.client.post("/login", data={"username": "shop", "password": PASSWORD},
                                follow_redirects=False)
    assert response.status_code == 403
    response = site.client.post("/login", data={"username": "shop", "password": PASSWORD, "csrf_token": "x"},
                                follow_redirects=False)
    assert response.status_code == 403
    fresh = TestClient(site.client.app)  # no session cookie at all
    assert fresh.post("/login", data={"username": "shop", "password": PASSWORD}).status_code == 403


def test_login_from_another_site_is_403(site: Site) -> None:
    token = csrf_from(site.client.get("/login").text)
    response = site.client.post("/login", data={"username": "shop", "password": PASSWORD, "csrf_token": token},
                                headers={"Origin": "https://evil.example"}, follow_redirects=False)
    assert response.status_code == 403 and "set-cookie" not in response.headers


def test_logout_needs_the_csrf_token_and_ends_the_session(site: Site) -> None:
    login(site.client, "shop")
    assert site.client.post("/logout", follow_redirects=False).status_code == 403
    assert site.client.get("/api/v1/search").status_code == 200  # a failed logout leaves the session alone
    token = csrf_from(site.client.get("/").text)
    response = site.client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert site.client.get("/api/v1/search").status_code == 401


def test_a_copy_of_the_cookie_is_logged_out_too(site: Site) -> None:
    login(site.client, "shop")
    copied = site.client.cookies.get(SESSION_COOKIE)
    assert copied and site.client.get("/api/v1/search").status_code == 200
    token = csrf_from(site.client.get("/").text)
    assert site.client.post("/logout", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    site.client.cookies.set(SESSION_COOKIE, copied)  # someone who had copied it, or the browser's old copy
    assert site.client.get("/api/v1/search").status_code == 401
    page = site.client.get("/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login"
    login(site.client, "shop")  # logging in again makes a new session, which works
    assert site.client.get("/api/v1/search").status_code == 200
    with Store(site.db_path) as store:
        (revoked,) = store.db.execute("SELECT count(*) FROM revoked_sessions").fetchone()
    assert revoked == 1


def test_password_change_or_removal_ends_sessions(site: Site) -> None:
    login(site.client, "shop")
    with Store(site.db_path) as store:
        users.set_password(store.db, "shop", "another long password")
    assert site.client.get("/api/v1/search").status_code == 401
    login(site.client, "shop", "another long password")
    assert site.client.get("/api/v1/search").status_code == 200
    with Store(site.db_path) as store:
        users.remove_user(store.db, "shop")
    assert site.client.get("/api/v1/search").status_code == 401


def test_a_tampered_session_cookie_is_refused(site: Site) -> None:
    login(site.client, "shop")
    value = site.client.cookies[SESSION_COOKIE]
    body, mac = value.split(".")
    site.client.cookies.clear()
    site.client.cookies.set(SESSION_COOKIE, body + "." + mac[:-2] + ("AA" if mac[-2:] != "AA" else "BB"))
    assert site.client.get("/api/v1/search").status_code == 401


def test_a_session_of_another_server_is_refused(site: Site, tmp_path: Path, db_path: Path) -> None:
    login(site.client, "admin")
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    other = make_app(other_dir / "other.sqlite3", other_dir)
    other.cookies.set(SESSION_COOKIE, site.client.cookies[SESSION_COOKIE])
    assert other.get("/api/v1/search").status_code == 401


def test_login_rate_limit_kicks_in_after_five_failures(site: Site) -> None:
    for _ in range(5):
        assert login(site.client, "shop", "guess").status_code == 401
    blocked = login(site.client, "shop", PASSWORD)
    assert blocked.status_code == 429 and "Too many failed logins" in blocked.text
    assert login(site.client, "admin").status_code == 303  # another user from the same address still can


def test_a_good_login_clears_earlier_failures(site: Site) -> None:
    for _ in range(4):
        login(site.client, "shop", "guess")
    assert login(site.client, "shop").status_code == 303
    for _ in range(4):
        assert login(site.client, "shop", "guess").status_code == 401


# -- headers -----------------------------------------------------------------------------------


def test_security_headers_on_pages_and_api(site: Site) -> None:
    for response in (site.client.get("/login"), site.get("shop", "/api/v1/search")):
        csp = response.headers["content-security-policy"]
        assert csp == CONTENT_SECURITY_POLICY
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"


def test_commands_do_not_pay_for_the_unknown_user_hash_and_the_web_app_makes_it_at_start(tmp_path: Path) -> None:
    # scrypt at import cost every command (an ingest, a search) about 60 ms
    code = "\n".join([
        "import hashlib",
        "calls, real = [], hashlib.scrypt",
        "hashlib.scrypt = lambda *a, **k: calls.append(1) or real(*a, **k)",
        "import trackdelivery.cli",
        "from trackdelivery import users",
        "print(len(calls))",
        "from trackdelivery.config import Config",
        "from trackdelivery.web.app import create_app",
        f"create_app({str(tmp_path / 'db.sqlite3')!r}, Config())",
        "print(len(calls))",
        "print(users.authenticate(__import__('sqlite3').connect(':memory:'), '', 'x'), len(calls))",
    ])
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "1", "None", "2"]  # made once, at start; then only verified
