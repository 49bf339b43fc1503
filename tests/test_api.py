"""The JSON API as a script or the page uses it: every filter, paging, details, stats, export, errors."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from conftest import write_log
from web_helpers import (
    LOG,
    A,
    B,
    C,
    E,
    F,
    G,
    H,
    Site,
    site_fixture,  # noqa: F401 - the "site" fixture
)

from trackdelivery.record import EVENT_FIELDS


def _recipients(events: list[dict]) -> list[str]:
    return [e["recipient"] for e in events]


def test_search_returns_every_event_newest_first_with_ids_and_every_field(site: Site) -> None:
    answer = site.get("admin", "/api/v1/search").json()
    assert answer["total"] == 10 and answer["limit"] == 50 and answer["offset"] == 0
    events = answer["events"]
    assert [e["msgid"] for e in events][:3] == [G, G, F]
    assert set(events[0]) == {"event_id", *EVENT_FIELDS}
    times = [e["actionunixtime"] for e in events]
    assert times == sorted(times, reverse=True)
    assert answer["last_id"] == max(e["event_id"] for e in events)


def test_q_finds_recipient_or_sender(site: Site) -> None:
    events = site.events("admin", q="alice@shop-example.com")
    assert {(e["msgid"], e["type"]) for e in events} == {(A, "success"), (C, "failure"), (H, "success")}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"recipient": "BOB@shop-example.com"}, {("", "bob@shop-example.com"), (F, "bob@shop-example.com")}),
        ({"sender": "alice@shop-example.com"}, {(A, "bob@example.org"), (C, "ghost@example.com")}),
        ({"email": "news@example.net"}, {(B, "carol@shop-example.com"), (G, "dana@cafe-example.org"),
                                         (G, "erin@shop-example.com")}),
        ({"domain": "cafe-example.org"}, {(E, "guest@example.com"), (G, "dana@cafe-example.org")}),
        ({"msgid": C}, {(C, "ghost@example.com"), (H, "alice@shop-example.com")}),  # and its bounce
        ({"host": "mx.example.org"}, {(A, "bob@example.org")}),
        ({"ip": "203.0.113.9"}, {(C, "ghost@example.com"), (E, "guest@example.com")}),
        ({"ip": "198.51.100.66"}, {("", "bob@shop-example.com")}),
        ({"text": "user unknown"}, {(C, "ghost@example.com")}),
        ({"recipient": "erin", "match": "begins"}, {(G, "erin@shop-example.com")}),
        ({"recipient": "cafe-example", "match": "contains"}, {(G, "dana@cafe-example.org")}),
        ({"recipient": "erin", "match": "exact"}, set()),
    ],
)
def test_each_filter(site: Site, params: dict, expected: set) -> None:
    assert site.pairs("admin", **params) == expected


def test_types_filter_takes_a_comma_list(site: Site) -> None:
    events = site.events("admin", types="failure,rejected")
    assert sorted(e["type"] for e in events) == ["failure", "rejected"]
    assert {e["type"] for e in site.events("admin", types="defer")} == {"defer"}


def test_since_and_until_take_iso_dates_times_and_epochs(site: Site) -> None:
    window = site.events("admin", since="2026-11-16T10:00:00", until="2026-11-16 12:00:01")
    assert {e["msgid"] for e in window} == {C, H, "", E}
    epoch = site.events("admin", since="1794837600")  # 2026-11-16 14:00:00 UTC
    assert {e["msgid"] for e in epoch} == {G}
    with_zone = site.events("admin", until="2026-11-16T10:00:01+02:00")  # 08:00:01 UTC
    assert {e["msgid"] for e in with_zone} == {A}


def test_sort_order_and_paging(site: Site) -> None:
    first = site.get("admin", "/api/v1/search", sort="recipient", order="asc", limit=3).json()
    second = site.get("admin", "/api/v1/search", sort="recipient", order="asc", limit=3, offset=3).json()
    assert first["total"] == second["total"] == 10
    names = _recipients(first["events"]) + _recipients(second["events"])
    assert names == sorted(names)
    assert names[0] == "alice@shop-example.com"
    assert len(second["events"]) == 3 and second["offset"] == 3


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"types": "success,bogus"}, "Unknown event type 'bogus'"),
        ({"types": ","}, "Choose at least one event type."),
        ({"match": "fuzzy"}, "Invalid match"),
        ({"sort": "password"}, "Invalid sort 'password': use type, msgid"),
        ({"since": "yesterday"}, "since 'yesterday' is not a date"),
        ({"limit": "1001"}, "Invalid limit"),
        ({"limit": "0"}, "Invalid limit"),
        ({"offset": "-1"}, "Invalid offset"),
        ({"order": "up"}, "Invalid order"),
    ],
)
def test_bad_filters_are_400_with_one_sentence(site: Site, params: dict, message: str) -> None:
    response = site.get("admin", "/api/v1/search", **params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error.startswith(message) and error.endswith(".") and "\n" not in error


def test_new_counts_events_stored_after_an_id(site: Site, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    before = site.get("admin", "/api/v1/search").json()["last_id"]
    assert site.get("admin", "/api/v1/new", after_id=before).json() == {"count": 0, "last_id": before}
    later = "1tWebL-00000000008-LLLL"
    write_log(tmp_path / "exim_mainlog", LOG + [
        f"2026-11-16 15:00:00 {later} <= chef@cafe-example.org H=mail.cafe-example.org [192.0.2.5] P=esmtpsa "
        "S=500 for guest@example.com",
        f"2026-11-16 15:00:01 {later} => guest@example.com R=dnslookup T=remote_smtp H=mx.example.com "
        '[203.0.113.9] C="250 Ok"',
        f"2026-11-16 15:00:01 {later} Completed",
    ])
    cli("ingest", "--no-progress", str(tmp_path / "exim_mainlog"))
    new = site.get("admin", "/api/v1/new", after_id=before).json()
    assert new["count"] == 1 and new["last_id"] > before
    assert site.get("admin", "/api/v1/new", after_id=before, types="failure").json()["count"] == 0
    assert site.get("admin", "/api/v1/new", after_id=before, q="guest@example.com").json()["count"] == 1


def test_new_requires_after_id(site: Site) -> None:
    response = site.get("admin", "/api/v1/new")
    assert response.status_code == 400 and "after_id" in response.json()["error"]


def test_message_story_has_events_advice_links_and_raw_lines(site: Site) -> None:
    story = site.get("admin", f"/api/v1/messages/{C}").json()
    assert story["msgid"] == C
    assert [e["type"] for e in story["events"]] == ["failure"]
    assert story["events"][0]["advice"]  # what to do about an unknown recipient
    assert story["linked"] == [H]
    assert any("User unknown" in line for line in story["raw_lines"])
    bounce = site.get("admin", f"/api/v1/messages/{H}").json()
    assert bounce["linked"] == [C]


def test_unknown_message_is_404(site: Site) -> None:
    response = site.get("admin", "/api/v1/messages/1tNone-00000000000-ZZZZ")
    assert response.status_code == 404
    assert response.json() == {"error": "There is no message with id '1tNone-00000000000-ZZZZ'."}


def _event_id(site: Site, **params: object) -> int:
    (event,) = site.events("admin", **params)
    return int(event["event_id"])


def test_event_details_explain_the_result_and_tell_the_story(site: Site) -> None:
    event_id = _event_id(site, msgid=C, types="failure")
    detail = site.get("admin", f"/api/v1/events/{event_id}").json()
    assert detail["event"]["event_id"] == event_id and detail["event"]["recipient"] == "ghost@example.com"
    assert detail["explanation"]["reason"] == "unknown_user"
    assert detail["explanation"]["reason_text"] and detail["explanation"]["advice"]
    assert detail["story"]["msgid"] == C
    assert detail["raw_lines"] == detail["story"]["raw_lines"]


def test_rejection_details_carry_the_raw_line(site: Site) -> None:
    event_id = _event_id(site, types="rejected")
    detail = site.get("admin", f"/api/v1/events/{event_id}").json()
    assert detail["story"] is None
    assert detail["explanation"]["reason"] == "relay_denied"
    assert len(detail["raw_lines"]) == 1 and "rejected RCPT <bob@shop-example.com>" in detail["raw_lines"][0]


def test_success_has_nothing_to_explain(site: Site) -> None:
    event_id = _event_id(site, msgid=A)
    assert site.get("admin", f"/api/v1/events/{event_id}").json()["explanation"] == {
        "reason": "", "reason_text": "", "advice": ""}


def test_unknown_event_is_404(site: Site) -> None:
    response = site.get("admin", "/api/v1/events/999999")
    assert response.status_code == 404 and response.json() == {"error": "There is no event with id 999999."}


def test_stats_count_everything_for_an_admin(site: Site) -> None:
    stats = site.get("admin", "/api/v1/stats").json()
    assert stats["events"] == {"success": 6, "defer": 1, "failure": 1, "rejected": 1, "inprogress": 1,
                               "archive": 0, "filtered": 0}
    assert stats["messages"] == 7
    assert stats["lines"] == len(LOG) and stats["unparsed"] == 0
    assert stats["retention_days"] == 30


def test_stats_take_a_time_window(site: Site) -> None:
    stats = site.get("admin", "/api/v1/stats", since="2026-11-16T12:00:00").json()
    assert stats["events"]["success"] == 4 and stats["events"]["failure"] == 0


def _download(site: Site, user: str, **params: object):  # type: ignore[no-untyped-def]
    response = site.get(user, "/api/v1/export", **params)
    assert response.status_code == 200, response.text
    return response


def test_export_csv_is_a_download_with_every_field(site: Site) -> None:
    response = _download(site, "admin", format="csv", types="failure,rejected")
    assert response.headers["content-type"].startswith("text/csv")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;") and disposition.endswith('.csv"')
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert tuple(rows[0]) == EVENT_FIELDS
    assert sorted(r["type"] for r in rows) == ["failure", "rejected"]


def test_export_json_and_ndjson_carry_the_search(site: Site) -> None:
    as_json = json.loads(_download(site, "admin", format="json", q="alice@shop-example.com").text)
    lines = _download(site, "admin", format="ndjson", q="alice@shop-example.com").text.splitlines()
    assert len(as_json) == len(lines) == 3
    assert as_json == [json.loads(line) for line in lines]
    assert json.loads(_download(site, "admin", format="json", q="nobody@nowhere.example").text) == []


def test_export_has_no_row_cap(site: Site, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    many = []
    for i in range(1200):
        msgid = f"1tMany-{i:011d}-MANY"
        many += [
            f"2026-11-17 08:{i // 60 % 60:02d}:{i % 60:02d} {msgid} <= bulk@cafe-example.org H=h [192.0.2.9] "
            f"P=esmtpsa S=100 for r{i}@example.com",
            f"2026-11-17 08:{i // 60 % 60:02d}:{i % 60:02d} {msgid} => r{i}@example.com R=dnslookup "
            'T=remote_smtp H=mx.example.com [203.0.113.9] C="250 Ok"',
            f"2026-11-17 08:{i // 60 % 60:02d}:{i % 60:02d} {msgid} Completed",
        ]
    cli("ingest", "--no-progress", str(write_log(tmp_path / "bulk_log", many)))
    lines = _download(site, "admin", format="ndjson", email="bulk@cafe-example.org").text.splitlines()
    assert len(lines) == 1200
    assert site.get("admin", "/api/v1/search", email="bulk@cafe-example.org").json()["total"] == 1200


def test_export_bad_filter_is_400_before_streaming(site: Site) -> None:
    response = site.get("admin", "/api/v1/export", sort="nope")
    assert response.status_code == 400 and response.json()["error"].startswith("Invalid sort 'nope'")
    response = site.get("admin", "/api/v1/export", format="xlsx")
    assert response.status_code == 400 and response.json()["error"].startswith("Invalid format")


def test_not_logged_in_is_401_json(site: Site) -> None:
    for path in ("/api/v1/search", "/api/v1/stats", f"/api/v1/messages/{A}", "/api/v1/events/1",
                 "/api/v1/export", "/api/v1/new?after_id=0"):
        response = site.client.get(path)
        assert response.status_code == 401, path
        assert response.json() == {"error": "Log in first, or send an API token as 'Authorization: Bearer TOKEN'."}


def test_unknown_api_address_is_404_json(site: Site) -> None:
    response = site.get("admin", "/api/v1/nothing-here")
    assert response.status_code == 404 and "/api/docs" in response.json()["error"]


def test_openapi_describes_the_api_and_docs_render_without_scripts(site: Site) -> None:
    spec = site.client.get("/api/openapi.json").json()
    assert {"/api/v1/search", "/api/v1/new", "/api/v1/messages/{msgid}", "/api/v1/events/{event_id}",
            "/api/v1/stats", "/api/v1/export"} <= set(spec["paths"])
    params = {p["name"] for p in spec["paths"]["/api/v1/search"]["get"]["parameters"]}
    assert {"q", "recipient", "sender", "email", "domain", "msgid", "host", "ip", "text", "match", "types",
            "since", "until", "sort", "order", "limit", "offset"} <= params
    docs = site.client.get("/api/docs")
    assert docs.status_code == 200 and "GET /api/v1/search" in docs.text and "<script" not in docs.text
