"""GET /api/v1/trace: where mail to an address would go, asked of the mail server (cPanel's Email Address
Trace) — who may trace what, addresses refused before anything runs, the rate limit, and the MTA's
failures as one sentence.

The MTA here is tests/fake_exim.py, which answers with outputs captured from a real Exim 4.96 and
writes down every call; tests/mta/test_exim_trace.py asks the real Exim through the same API.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_exim import FakeExim
from fastapi.testclient import TestClient
from test_trace import ALIAS_CHAIN_WITH_DUPLICATE, ALIAS_TO_LOCAL_AND_REMOTE, LOCAL, MX_ANSWER, TRANSPORTS
from web_helpers import Site, add_tenant_users, login, templates_dir

from trackdelivery import trace
from trackdelivery.config import TRACE_MTAS, Config, ConfigError, TraceSettings, load_config
from trackdelivery.web import create_app
from trackdelivery.web.app import TRACES_PER_MINUTE
from trackdelivery.web.ratelimit import CallLimiter
from trackdelivery.web.tracing import NOT_YOURS_DOMAINS

# Captured answers, moved to the tenants' domains (web_helpers: shop-example.com, cafe-example.org, …).
OUT = "out@shop-example.com"  # alias: a mailbox here and a remote address
OUT_ANSWER = ALIAS_TO_LOCAL_AND_REMOTE.replace("local.test", "shop-example.com")
ALICE = "alice@shop-example.com"
ALICE_ANSWER = LOCAL.replace("local.test", "shop-example.com")
BOB = "bob@shop-example.com"
BOB_ANSWER = LOCAL.replace("alice@local.test", BOB)
DANA = "dana@cafe-example.org"
DANA_ANSWER = LOCAL.replace("alice@local.test", DANA)
# sales@shop → team@shop → list@cafe-example.org (another tenant's list) → alice, bob at the cafe
SALES = "sales@shop-example.com"
SALES_ANSWER = (ALIAS_CHAIN_WITH_DUPLICATE.replace("deep@local.test", SALES)
                .replace("fwd@local.test", "team@shop-example.com")
                .replace("list@local.test", "list@cafe-example.org")
                .replace("@local.test", "@cafe-example.org"))
REMOTE = "news@shop-example.com"
REMOTE_ANSWER = MX_ANSWER.replace("bob@example.net", REMOTE)

LOCAL_MAILBOX = {"kind": "local", "router": "mailbox", "transport": "local_maildir", "driver": "appendfile"}


@pytest.fixture
def exim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeExim:
    fake = FakeExim(tmp_path / "fake-exim", TRANSPORTS)
    for address, answer in ((OUT, OUT_ANSWER), (ALICE, ALICE_ANSWER), (BOB, BOB_ANSWER), (DANA, DANA_ANSWER),
                            (SALES, SALES_ANSWER), (REMOTE, REMOTE_ANSWER)):
        fake.answer(address, answer)
    monkeypatch.setenv("PATH", f"{fake.directory}:/usr/bin:/bin")
    return fake


def trace_site(tmp_path: Path, db_path: Path, settings: TraceSettings, tokens: dict[str, str]) -> Site:
    config = Config(db=str(db_path), trace=settings)
    app = create_app(str(db_path), config, templates_dir=templates_dir(tmp_path))
    return Site(TestClient(app), db_path, tokens)


@pytest.fixture
def tokens(db_path: Path) -> dict[str, str]:
    return add_tenant_users(db_path)


@pytest.fixture
def site(tmp_path: Path, db_path: Path, exim: FakeExim, tokens: dict[str, str]) -> Iterator[Site]:
    yield trace_site(tmp_path, db_path, TraceSettings(mta="exim"), tokens)


def traced(site: Site, user: str, address: str) -> dict:
    response = site.get(user, "/api/v1/trace", address=address)
    assert response.status_code == 200, response.text
    return response.json()


# -- what the answer says -----------------------------------------------------------------------


def test_admin_gets_the_whole_tree_and_the_command(site: Site, exim: FakeExim) -> None:
    assert traced(site, "admin", OUT) == {
        "address": OUT, "mta": "exim", "status": "deliverable",
        "command": [str(exim.path), "-bt", "--", OUT],
        "tree": {"address": OUT, "kind": "redirect", "children": [
            {"address": ALICE, **LOCAL_MAILBOX},
            {"address": "carol@named.test", "kind": "remote", "router": "byname", "transport": "remote_smtp",
             "driver": "smtp", "hosts": [{"name": "localhost", "ip": "127.0.0.1", "mx": None, "port": None,
                                          "usable": True, "notes": []}]},
        ]},
    }
    assert exim.calls() == [["-bt", "--", OUT], ["-bP", "transports"]]


def test_mx_hosts_come_in_order_with_their_preference(site: Site) -> None:
    tree = traced(site, "admin", REMOTE)["tree"]
    assert [(h["name"], h["mx"], h["usable"]) for h in tree["hosts"]] == [
        ("mx1.example.net", 10, True), ("mx2.backup.example.net", 20, False)]


def test_an_address_that_would_bounce_is_an_answer_not_an_error(site: Site) -> None:
    answer = traced(site, "admin", "nobody@shop-example.com")
    assert answer["status"] == "undeliverable"
    assert answer["tree"] == {"address": "nobody@shop-example.com", "kind": "undeliverable",
                              "error": "Unrouteable address"}


def test_the_configured_mta_configuration_is_the_one_asked(tmp_path: Path, db_path: Path, exim: FakeExim,
                                                           tokens: dict[str, str]) -> None:
    conf = tmp_path / "exim.conf"
    conf.write_text("# the MTA's configuration\n")
    site = trace_site(tmp_path, db_path, TraceSettings(mta="exim", config_file=str(conf)), tokens)
    assert traced(site, "admin", ALICE)["command"] == [str(exim.path), "-C", str(conf), "-bt", "--", ALICE]
    assert exim.calls()[0] == ["-C", str(conf), "-bt", "--", ALICE]


def test_auto_finds_the_installed_exim(tmp_path: Path, db_path: Path, exim: FakeExim,
                                       tokens: dict[str, str]) -> None:
    site = trace_site(tmp_path, db_path, TraceSettings(), tokens)
    assert traced(site, "admin", ALICE)["mta"] == "exim"


# -- who may trace what ---------------------------------------------------------------------------


@pytest.mark.parametrize(("user", "address"), [
    ("shop", ALICE), ("shop", "Alice@SHOP-EXAMPLE.COM"), ("resell", DANA), ("cafe", DANA),
    ("bob@shop-example.com", BOB)])
def test_tenants_trace_their_own_addresses_without_the_servers_command(site: Site, user: str,
                                                                       address: str) -> None:
    answer = traced(site, user, address)
    assert answer["status"] == "deliverable" and answer["command"] == []
    assert answer["tree"]["kind"] == "local"


@pytest.mark.parametrize(("user", "address", "message"), [
    ("shop", DANA, NOT_YOURS_DOMAINS),
    ("cafe", ALICE, NOT_YOURS_DOMAINS),
    ("resell", ALICE, NOT_YOURS_DOMAINS),
    ("bakery", DANA, NOT_YOURS_DOMAINS),
    ("nobody", ALICE, NOT_YOURS_DOMAINS),
    ("shop", "alice@sub.shop-example.com", NOT_YOURS_DOMAINS),
    ("shop", "alice@shop-example.com.evil.example", NOT_YOURS_DOMAINS),
    ("bob@shop-example.com", ALICE, "You can trace only your own address, bob@shop-example.com."),
])
def test_another_tenants_address_is_403_and_nothing_runs(site: Site, exim: FakeExim, user: str, address: str,
                                                        message: str) -> None:
    response = site.get(user, "/api/v1/trace", address=address)
    assert response.status_code == 403
    assert response.json() == {"error": message}
    assert exim.calls() == []


def test_a_tenant_sees_that_mail_goes_to_another_tenants_alias_but_not_where_it_leads(site: Site) -> None:
    shop = traced(site, "shop", SALES)["tree"]
    assert shop == {"address": SALES, "kind": "redirect", "children": [
        {"address": "team@shop-example.com", "kind": "redirect", "children": [
            {"address": "list@cafe-example.org", "kind": "redirect", "hidden": True}]}]}
    admin = traced(site, "admin", SALES)["tree"]
    listed = admin["children"][0]["children"][0]
    assert "hidden" not in listed
    assert [(c["address"], c.get("duplicate", False)) for c in listed["children"]] == [
        ("alice@cafe-example.org", False), ("alice@cafe-example.org", True), ("bob@cafe-example.org", False)]


# -- addresses that never reach the MTA -----------------------------------------------------------


@pytest.mark.parametrize("address", [
    "",
    "-bd",
    "-bt@shop-example.com",
    "-C/tmp/evil.conf",
    "--help@shop-example.com",
    "bob@shop-example.com -bd",
    "bob@shop-example.com\n-bd",
    "bob@shop-example.com\t-bd",
    "bob\x00@shop-example.com",
    "bob\x1b[31m@shop-example.com",
    "bob@shop-example.com;reboot",
    "$(id)@shop-example.com",
    "`id`@shop-example.com",
    "bob|cat@shop-example.com",
    "bob&x@shop-example.com",
    "bob'x@shop-example.com",
    '"bob"@shop-example.com',
    "bob%evil.example@shop-example.com",
    "bob!evil.example@shop-example.com",
    "@evil.example:bob@shop-example.com",
    "bob@shop-example.com@evil.example",
    "/etc/passwd@shop-example.com",
    "|/bin/sh@shop-example.com",
    "<script>alert(1)</script>@shop-example.com",
    "bob",
    "bob@",
    "@shop-example.com",
    "bob..x@shop-example.com",
    ".bob@shop-example.com",
    "bob@-shop-example.com",
    "bob@shop-example.com.",
    "bob@[127.0.0.1]",
    "bøb@shop-example.com",
    "x" * 65 + "@shop-example.com",
    "x@" + "a" * 250 + ".com",
])
def test_option_like_and_malformed_addresses_are_400_and_nothing_runs(site: Site, exim: FakeExim,
                                                                     address: str) -> None:
    response = site.get("admin", "/api/v1/trace", address=address)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error.endswith(".") and "\n" not in error
    assert exim.calls() == []


def test_missing_address_parameter_is_400(site: Site, exim: FakeExim) -> None:
    response = site.client.get("/api/v1/trace", headers={"Authorization": f"Bearer {site.tokens['admin']}"})
    assert response.status_code == 400 and "address" in response.json()["error"]
    assert exim.calls() == []


def test_spaces_around_a_pasted_address_are_dropped(site: Site, exim: FakeExim) -> None:
    assert traced(site, "admin", f"  {ALICE} ")["address"] == ALICE
    assert exim.traced() == [ALICE]


# -- logging in -----------------------------------------------------------------------------------


def test_without_login_or_token_it_is_401_and_nothing_runs(site: Site, exim: FakeExim) -> None:
    response = site.client.get("/api/v1/trace", params={"address": ALICE})
    assert response.status_code == 401
    assert response.json() == {"error": "Log in first, or send an API token as 'Authorization: Bearer TOKEN'."}
    bad = site.client.get("/api/v1/trace", params={"address": ALICE}, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert exim.calls() == []


def test_a_logged_in_page_session_can_trace(site: Site) -> None:
    assert login(site.client, "shop").status_code == 303
    response = site.client.get("/api/v1/trace", params={"address": ALICE})
    assert response.status_code == 200 and response.json()["tree"]["address"] == ALICE


# -- limits, failures, turned off -------------------------------------------------------------------


def test_too_many_traces_are_429_with_retry_after_and_nothing_runs(site: Site, exim: FakeExim) -> None:
    for _ in range(TRACES_PER_MINUTE):
        traced(site, "shop", ALICE)
    response = site.get("shop", "/api/v1/trace", address=ALICE)
    assert response.status_code == 429
    assert response.json() == {
        "error": "Too many address traces in a short time: wait a minute, then try again."}
    assert 1 <= int(response.headers["retry-after"]) <= 61
    assert exim.traced() == [ALICE] * TRACES_PER_MINUTE
    assert traced(site, "cafe", DANA)["status"] == "deliverable"  # the limit is per user


def test_call_limiter_counts_per_key_in_a_sliding_window_and_caps_running_calls() -> None:
    limiter = CallLimiter(2, 60, 2, what="address traces")
    assert limiter.start("a", now=0) is None
    assert limiter.start("a", now=1) is None
    busy = limiter.start("b", now=2)  # two are running
    assert busy is not None and busy.message.startswith("Other address traces are running")
    limiter.finish()
    limiter.finish()
    refused = limiter.start("a", now=30)
    assert refused is not None and refused.retry_after == 31  # the first call leaves the window at 60
    assert limiter.start("b", now=30) is None
    limiter.finish()
    assert limiter.start("a", now=60.5) is None  # the first call is out of the window


@pytest.fixture
def no_mta(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither Exim nor Postfix on PATH or in the sbin directories."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(trace, "EXIM_DIRS", ())
    monkeypatch.setattr(trace, "POSTFIX_DIRS", ())


@pytest.mark.parametrize(("mta", "message"), [
    ("auto", "No supported mail server is installed here: the trace needs Exim ('exim' or 'exim4') or Postfix "
             "('postconf' and 'postmap') on PATH or in /usr/sbin."),
    ("exim", "Exim is not installed here (no exim or exim4 on PATH or in /usr/sbin), so there is no mail "
             "server to ask."),
    ("postfix", "Postfix is not installed here (no postconf and postmap on PATH or in /usr/sbin), so there "
                "is no mail server to ask."),
])
def test_no_mta_installed_is_503_with_one_sentence(tmp_path: Path, db_path: Path, no_mta: None, mta: str,
                                                   message: str, tokens: dict[str, str]) -> None:
    site = trace_site(tmp_path, db_path, TraceSettings(mta=mta), tokens)
    response = site.get("admin", "/api/v1/trace", address=ALICE)
    assert response.status_code == 503
    assert response.json() == {"error": message}


def test_an_mta_that_does_not_answer_in_time_is_503(tmp_path: Path, db_path: Path, exim: FakeExim,
                                                    tokens: dict[str, str]) -> None:
    exim.answer("slow@shop-example.com", "slow@shop-example.com\n", sleep=10)
    site = trace_site(tmp_path, db_path, TraceSettings(mta="exim", timeout_seconds=1), tokens)
    response = site.get("admin", "/api/v1/trace", address="slow@shop-example.com")
    assert response.status_code == 503
    assert response.json() == {
        "error": "Exim did not answer within 1 seconds (it may be waiting for DNS lookups)."}
    assert traced(site, "admin", ALICE)["status"] == "deliverable"  # the slot was given back


def test_an_mta_that_cannot_test_the_address_is_503_with_its_reason(site: Site, exim: FakeExim) -> None:
    exim.answer(ALICE, "", status=1, stderr="exim: permission denied\n")
    response = site.get("admin", "/api/v1/trace", address=ALICE)
    assert response.status_code == 503
    assert response.json() == {"error": "Exim could not test the address: exim: permission denied."}


def test_turned_off_is_503_and_the_page_offers_no_trace(tmp_path: Path, db_path: Path, exim: FakeExim,
                                                        tokens: dict[str, str]) -> None:
    site = trace_site(tmp_path, db_path, TraceSettings(enabled=False), tokens)
    response = site.get("admin", "/api/v1/trace", address=ALICE)
    assert response.status_code == 503 and "turned off" in response.json()["error"]
    assert exim.calls() == []
    login(site.client, "shop")
    assert 'data-trace-enabled="false"' in site.client.get("/").text


def test_the_page_offers_the_trace_when_it_is_on(site: Site) -> None:
    login(site.client, "shop")
    page = site.client.get("/").text
    assert 'data-trace-enabled="true"' in page and 'id="trace-panel"' in page


def test_the_api_description_has_the_trace_and_its_errors(site: Site) -> None:
    spec = site.client.get("/api/openapi.json").json()
    operation = spec["paths"]["/api/v1/trace"]["get"]
    assert {"200", "400", "401", "403", "429", "503"} <= set(operation["responses"])
    assert [p["name"] for p in operation["parameters"]] == ["address"]


# -- the [trace] table of the config file ---------------------------------------------------------


def test_trace_settings_default_to_the_installed_mta() -> None:
    assert Config().trace == TraceSettings(enabled=True, mta="auto", config_file="", timeout_seconds=30)


def test_trace_settings_name_the_mtas_trackdelivery_trace_knows() -> None:
    assert TRACE_MTAS == trace.MTA_CHOICES


def test_trace_settings_are_read_from_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[trace]\nmta = "exim"\nconfig_file = "/etc/exim4/exim4.conf"\ntimeout_seconds = 10\n'
                    "enabled = false\n")
    assert load_config(str(path)).trace == TraceSettings(enabled=False, mta="exim",
                                                         config_file="/etc/exim4/exim4.conf", timeout_seconds=10)


@pytest.mark.parametrize(("table", "message"), [
    ('mta = "sendmail"', "[trace] mta must be one of auto, exim, postfix, not 'sendmail'."),
    ('enabled = "yes"', "[trace] enabled must be true or false."),
    ("timeout_seconds = 0", "[trace] timeout_seconds must be a whole number from 1 to 600."),
    ('timeout_seconds = "30"', "[trace] timeout_seconds must be a whole number from 1 to 600."),
])
def test_bad_trace_settings_are_one_sentence(tmp_path: Path, table: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"[trace]\n{table}\n")
    with pytest.raises(ConfigError) as raised:
        load_config(str(path))
    assert str(raised.value) == f"The config file {path}: {message}"
