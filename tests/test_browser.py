"""The search page in a real browser: Debian's chromium driven by Playwright, against `trackdelivery serve`.

The server is the real one (a subprocess on a free loopback port) over a database filled by
`trackdelivery ingest` from an Exim log written here, with a user made by `trackdelivery users add`.
Screenshots go to test-artifacts/ (git-ignored) for people to look at.
"""

from __future__ import annotations

import csv
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import REPO, write_log
from fake_exim import FakeExim  # the trace tests' stand-in for exim
from test_trace import TRANSPORTS  # captured from Exim 4.96

try:
    from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - a missing test dependency is a failure, said clearly
    pytest.fail("The browser tests need Playwright for Python: pip install -e '.[test]'", pytrace=False)

CHROMIUM = os.environ.get("TRACKDELIVERY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = REPO / "test-artifacts"
PASSWORD = "correct horse battery staple"
DESKTOP = {"width": 1366, "height": 900}
expect.set_options(timeout=10_000)  # CI machines can be slow; waits end as soon as the page is ready
PHONE = {"width": 375, "height": 800}

XSS_SCRIPT = "<script>window.__xss=1</script>"
XSS_IMG = '"><img src=x onerror="window.__xss=1">'

DELIVERED = "1tDlv1-000001-AB"  # alice@shop-example.com → bob@example.org, delivered
DEFERRED = "1tDef2-000002-CD"  # carol@example.org → dave@example-mail.net, remote mailbox full
FAILED = "1tFai3-000003-EF"  # bob@example.org → nobody@example-far.net, user unknown
BOUNCE = "1tBnc4-000004-GH"  # the bounce of FAILED, delivered to bob@example.org
HOSTILE = "1tXss5-000005-IJ"  # HELO, sender and subject are HTML and script
NEWSLETTER_COUNT = 30  # news@example-news.com → list@example.org: enough rows for paging


def exim_time(seconds_ago: float) -> str:
    # Recent times, so "Events are kept for N days" never hides the fixture and dates can be chosen.
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - seconds_ago))


def exim_log() -> list[str]:
    t = exim_time
    subject_img = XSS_IMG.replace('"', '\\"')  # Exim writes a quote inside T="..." as \"
    lines = [
        f'{t(7200)} [1001] {DELIVERED} <= alice@shop-example.com H=mail.shop-example.com [192.0.2.10]:40001 '
        'I=[198.51.100.25]:25 P=esmtps X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no S=4366 id=inv1001@shop-example.com '
        'T="Invoice 1001" from <alice@shop-example.com> for bob@example.org',
        f'{t(7199)} [1002] {DELIVERED} => bob <bob@example.org> R=virtual_user T=dovecot_virtual_delivery '
        'C="250 2.0.0 <bob@example.org> 7bf9bfd2 Saved"',
        f"{t(7199)} [1002] {DELIVERED} Completed",
        f"{t(7000)} [1003] {DEFERRED} <= carol@example.org H=(laptop) [203.0.113.7]:50001 I=[198.51.100.25]:587 "
        "P=esmtpsa X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no A=dovecot_login:carol@example.org S=2048 "
        'id=c2@example.org T="Holiday photos" from <carol@example.org> for dave@example-mail.net',
        f"{t(6998)} [1004] {DEFERRED} == dave@example-mail.net R=dkim_lookuphost T=dkim_remote_smtp defer (-44) "
        "H=mx.example-mail.net [198.18.1.2]: SMTP error from remote mail server after RCPT "
        "TO:<dave@example-mail.net>: 452 4.2.2 <dave@example-mail.net>: Mailbox full",
        f"{t(6800)} [1005] {FAILED} <= bob@example.org H=localhost (webmail.example.org) [127.0.0.1]:34801 "
        "I=[127.0.0.1]:25 P=esmtpa A=dovecot_login:bob@example.org S=5120 id=b3@example.org "
        'T="Quote request" from <bob@example.org> for nobody@example-far.net',
        f"{t(6798)} [1006] {FAILED} ** nobody@example-far.net R=dkim_lookuphost T=dkim_remote_smtp "
        "H=mx.example-far.net [198.18.9.9] X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no: SMTP error from remote mail "
        "server after RCPT TO:<nobody@example-far.net>: 550 5.1.1 <nobody@example-far.net>: Recipient address "
        "rejected: User unknown in virtual mailbox table",
        f"{t(6798)} [1007] {BOUNCE} <= <> R={FAILED} U=mailnull P=local S=7000 "
        'T="Mail delivery failed: returning message to sender" from <> for bob@example.org',
        f"{t(6798)} [1008] {BOUNCE} => bob <bob@example.org> R=virtual_user T=dovecot_virtual_delivery "
        'C="250 2.0.0 <bob@example.org> 1234 Saved"',
        f"{t(6798)} [1008] {BOUNCE} Completed",
        f"{t(6798)} [1006] {FAILED} Completed",
        f"{t(6600)} [1009] H=spam.example-lottery.xyz (example.org) [198.18.241.250]:29734 I=[198.51.100.25]:25 "
        "F=<winner@example-lottery.xyz> rejected RCPT <bob@example.org>: rejected found in dnsbl zen.spamhaus.org",
        # Hostile: a HELO, an envelope sender and a subject that are markup and script.
        f"{t(6400)} [1010] {HOSTILE} <= {XSS_SCRIPT}@evil.example H=({XSS_IMG}) [203.0.113.66]:4455 "
        f'I=[198.51.100.25]:25 P=esmtp S=999 id=x5@evil.example T="{XSS_SCRIPT} {subject_img}" '
        f"from <{XSS_SCRIPT}@evil.example> for victim@example.org",
        f"{t(6399)} [1011] {HOSTILE} => victim <victim@example.org> R=virtual_user T=dovecot_virtual_delivery "
        'C="250 2.0.0 <victim@example.org> 5555 Saved"',
        f"{t(6399)} [1011] {HOSTILE} Completed",
        f"{t(6300)} [1012] H=({XSS_SCRIPT}) [203.0.113.66]:4456 I=[198.51.100.25]:25 "
        f"F=<{XSS_SCRIPT}@evil.example> rejected RCPT <victim@example.org>: Unrouteable address",
    ]
    for i in range(NEWSLETTER_COUNT):
        msgid = f"1tNw{i:02d}-0001{i:02d}-NN"
        lines += [
            f"{t(6000 - i * 60)} [2{i:03d}] {msgid} <= news@example-news.com H=out.example-news.com "
            f'[192.0.2.50]:4{i:04d} I=[198.51.100.25]:25 P=esmtps S={1000 + i} T="Newsletter {i + 1}" '
            "from <news@example-news.com> for list@example.org",
            f"{t(5999 - i * 60)} [3{i:03d}] {msgid} => list <list@example.org> R=virtual_user "
            f'T=dovecot_virtual_delivery C="250 2.0.0 <list@example.org> {i:04d} Saved"',
            f"{t(5999 - i * 60)} [3{i:03d}] {msgid} Completed",
        ]
    return lines


# ---------- the server and the browser ----------


def cli(db: Path, config: Path, *args: str, input: str | None = None) -> str:
    command = [sys.executable, "-m", "trackdelivery", "--db", str(db), "--config", str(config), *args]
    done = subprocess.run(command, input=input, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, url: str, db: Path, config: Path, workdir: Path) -> None:
        self.url, self.db, self.config, self.workdir = url, db, config, workdir

    def ingest(self, name: str, lines: list[str]) -> None:
        cli(self.db, self.config, "ingest", str(write_log(self.workdir / name, lines)))


@contextmanager
def serving(workdir: Path, config_text: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    """`trackdelivery serve` on a free loopback port, with ``config_text`` as its config file, over a
    database ingested from exim_log() with the admin user; ``env`` is its environment (else ours)."""
    db, config = workdir / "td.sqlite3", workdir / "config.toml"
    config.write_text(config_text, encoding="utf-8")
    cli(db, config, "ingest", str(write_log(workdir / "exim_mainlog", exim_log())))
    cli(db, config, "users", "add", "admin", "--role", "admin", "--password-stdin", input=PASSWORD + "\n")

    port = free_port()
    log = (workdir / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "trackdelivery", "--db", str(db), "--config", str(config),
         "serve", "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                pytest.fail("trackdelivery serve exited:\n" + (workdir / "serve.log").read_text())
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("trackdelivery serve did not answer within 20 s:\n" + (workdir / "serve.log").read_text())
            time.sleep(0.1)
        yield Server(url, db, config, workdir)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(tmp_path_factory.mktemp("browser"), "# empty: every default\n") as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install --no-install-recommends chromium "
                    "(or set TRACKDELIVERY_CHROMIUM).", pytrace=False)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def logged_in_state(browser: Browser, server: Server, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Cookies of one real login through the form, reused by the tests that start logged in."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(server.url + "/")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Did my email arrive?")).to_be_visible()
    state = str(tmp_path_factory.mktemp("state") / "state.json")
    context.storage_state(path=state)
    context.close()
    return state


class PageProblems:
    """Script errors and console errors (a Content-Security-Policy violation is one) seen by a page."""

    def __init__(self, page: Page) -> None:
        self.messages: list[str] = []
        page.on("pageerror", lambda error: self.messages.append(f"page error: {error}"))
        page.on("console", self._console)

    def _console(self, message: object) -> None:
        if getattr(message, "type", "") != "error":
            return
        text = str(getattr(message, "text", ""))
        # A wrong password answers 401: Chrome logs that as a failed resource, not a page problem.
        if "Failed to load resource" in text and "401" in text:
            return
        self.messages.append(text)


def new_page(browser: Browser, state: str | None, viewport: dict[str, int], **options: object
             ) -> tuple[BrowserContext, Page, PageProblems]:
    context = browser.new_context(viewport=viewport, storage_state=state, accept_downloads=True,
                                  locale="en-GB", **options)  # type: ignore[arg-type]
    page = context.new_page()
    page.set_default_timeout(10_000)
    return context, page, PageProblems(page)


@pytest.fixture
def page(browser: Browser, server: Server, logged_in_state: str) -> Iterator[Page]:
    """The search page, logged in, on a desktop-sized screen, in the browser's local time zone of Tokyo."""
    context, page, problems = new_page(browser, logged_in_state, DESKTOP, timezone_id="Asia/Tokyo")
    page.goto(server.url + "/")
    expect(page.locator("#events-body tr").first).to_be_visible()
    yield page
    context.close()
    assert problems.messages == [], "the page logged errors"


@pytest.fixture
def anonymous_page(browser: Browser) -> Iterator[tuple[Page, PageProblems]]:
    context, page, problems = new_page(browser, None, DESKTOP)
    yield page, problems
    context.close()


def screenshot(page: Page, name: str, full_page: bool = False) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=full_page)


def search(page: Page, address: str, match: str = "exact") -> None:
    page.get_by_label("Recipient or sender address").fill(address)
    page.get_by_label("Match").select_option(match)
    with page.expect_response(lambda r: "/api/v1/search" in r.url):
        page.get_by_role("button", name="Run Report").click()
    wait_for_results(page)


def wait_for_results(page: Page) -> None:
    # Busy from the click until the answer is drawn: after this the table is the new search's.
    expect(page.locator("#table-scroller")).to_have_attribute("aria-busy", "false")


def rows(page: Page):  # noqa: ANN201 - a Playwright Locator
    return page.locator("#events-body tr")


def column_texts(page: Page, key: str) -> list[str]:
    return [text.strip() for text in page.locator(f"#events-body td.col-{key}").all_inner_texts()]


def types_shown(page: Page) -> list[str]:
    return sorted(text.strip() for text in page.locator("#events-body .type-label").all_inner_texts())


def type_box(page: Page, label: str):  # noqa: ANN201
    return page.locator(".type-list").get_by_label(label)


def open_details(page: Page, recipient: str, event_label: str) -> None:
    row = rows(page).filter(has_text=recipient).filter(has=page.locator(f".type-label:text-is('{event_label}')"))
    row.first.locator(".row-open").click()
    expect(page.locator("dialog#details")).to_be_visible()
    expect(page.locator("#details-body .explanation")).to_be_visible()


# ---------- login ----------


def test_login_page_says_when_the_password_is_wrong(anonymous_page: tuple[Page, PageProblems],
                                                    server: Server) -> None:
    page, problems = anonymous_page
    page.goto(server.url + "/")
    expect(page).to_have_url(server.url + "/login")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong")
    screenshot(page, "login.png")
    assert problems.messages == []


def test_login_with_the_right_password_opens_the_search_page(anonymous_page: tuple[Page, PageProblems],
                                                             server: Server) -> None:
    page, problems = anonymous_page
    page.goto(server.url + "/login")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(server.url + "/")
    expect(page.locator(".account")).to_contain_text("admin")
    expect(page.locator(".retention")).to_contain_text("Events are kept for 30 days")
    assert problems.messages == []


# ---------- searching ----------


def test_run_report_finds_the_mail_of_an_address(page: Page) -> None:
    search(page, "bob@example.org")
    # bob received the invoice and the bounce, sent the failed quote, and had a rejected delivery.
    expect(page.locator("#page-status")).to_have_text("Rows 1–4 of 4")
    for event in rows(page).all():
        expect(event).to_contain_text("bob@example.org")
    assert types_shown(page) == ["Delivered", "Delivered", "Failed", "Rejected"]
    expect(page).to_have_url(page.url.split("?")[0] + "?q=bob%40example.org")
    screenshot(page, "desktop.png")


def test_result_column_shows_the_reason_in_words(page: Page) -> None:
    search(page, "dave@example-mail.net")
    deferred = rows(page).filter(has=page.locator(".type-label:text-is('Deferred')"))
    expect(deferred.locator("td.col-result")).to_have_text("Recipient mailbox is full")


def test_begins_with_and_contains_match_parts_of_addresses(page: Page) -> None:
    search(page, "bob@", match="begins")
    expect(page.locator("#page-status")).to_have_text("Rows 1–4 of 4")
    search(page, "example-far", match="contains")
    expect(page.locator("#page-status")).to_have_text("Rows 1–1 of 1")
    expect(rows(page).first).to_contain_text("nobody@example-far.net")


def test_no_results_tells_the_user_what_to_try(page: Page) -> None:
    search(page, "nobody-at-all@example.org")
    expect(page.locator("#empty")).to_be_visible()
    expect(page.locator("#empty")).to_contain_text("No mail found. Check the address, or widen the dates.")
    expect(page.locator("#table-scroller")).to_be_hidden()


def test_dates_narrow_the_search(page: Page) -> None:
    tomorrow = time.strftime("%Y-%m-%d", time.localtime(time.time() + 2 * 86400))
    page.get_by_label("From", exact=True).fill(tomorrow)
    search(page, "bob@example.org")
    expect(page.locator("#empty")).to_be_visible()
    page.get_by_label("From", exact=True).fill("")
    with page.expect_response(lambda r: "/api/v1/search" in r.url):
        page.get_by_role("button", name="Run Report").click()
    wait_for_results(page)
    expect(page.locator("#page-status")).to_have_text("Rows 1–4 of 4")


def test_times_are_shown_in_the_browsers_time_zone(page: Page, server: Server) -> None:
    search(page, "dave@example-mail.net")
    answer = page.request.get(server.url + "/api/v1/search?q=dave%40example-mail.net&types=defer")
    event = answer.json()["events"][0]
    tokyo = datetime.fromtimestamp(event["actionunixtime"], ZoneInfo("Asia/Tokyo")).strftime("%H:%M:%S")
    deferred = rows(page).filter(has=page.locator(".type-label:text-is('Deferred')"))
    expect(deferred.locator("td.col-actionunixtime")).to_contain_text(tokyo)
    expect(page.locator("#timezone-note")).to_contain_text("Asia/Tokyo")


# ---------- event type boxes ----------


def test_show_blocked_and_failed_ticks_only_those_types(page: Page) -> None:
    search(page, "bob@example.org")
    with page.expect_response(lambda r: "/api/v1/search" in r.url and "types=" in r.url):
        page.get_by_role("button", name="Show Blocked & Failed").click()
    wait_for_results(page)
    expect(page.locator("#page-status")).to_have_text("Rows 1–2 of 2")
    assert types_shown(page) == ["Failed", "Rejected"]
    checked = [box.get_attribute("value") for box in page.locator(".type-list input:checked").all()]
    assert checked == ["failure", "rejected"]


def test_unticking_a_type_hides_its_events(page: Page) -> None:
    search(page, "bob@example.org")
    with page.expect_response(lambda r: "/api/v1/search" in r.url and "types=" in r.url):
        type_box(page, "Delivered").uncheck()
    wait_for_results(page)
    expect(page.locator("#page-status")).to_have_text("Rows 1–2 of 2")
    assert types_shown(page) == ["Failed", "Rejected"]
    with page.expect_response(lambda r: "/api/v1/search" in r.url and "types=" not in r.url):
        page.get_by_role("button", name="Show All").click()
    wait_for_results(page)
    expect(page.locator("#page-status")).to_have_text("Rows 1–4 of 4")


def test_the_last_ticked_type_cannot_be_unticked(page: Page) -> None:
    search(page, "bob@example.org")
    page.get_by_role("button", name="Show Blocked & Failed").click()
    expect(page.locator("#page-status")).to_have_text("Rows 1–2 of 2")
    with page.expect_response(lambda r: "/api/v1/search" in r.url):
        type_box(page, "Failed").uncheck()
    wait_for_results(page)
    expect(page.locator("#page-status")).to_have_text("Rows 1–1 of 1")
    type_box(page, "Rejected").click()
    expect(type_box(page, "Rejected")).to_be_checked()
    expect(page.locator("#types-note")).to_be_visible()
    expect(page.locator("#types-note")).to_have_text("At least one kind of event must stay ticked.")
    page.keyboard.press("Space")  # the keyboard cannot do it either
    expect(type_box(page, "Rejected")).to_be_checked()
    expect(page.locator("#page-status")).to_have_text("Rows 1–1 of 1")


# ---------- table: sorting, paging, columns ----------


def test_clicking_a_column_header_sorts_by_it(page: Page) -> None:
    search(page, "bob@example.org")
    header = page.locator("th.col-recipient")
    expect(header).to_have_attribute("aria-sort", "none")
    with page.expect_response(lambda r: "sort=recipient" in r.url and "order=asc" in r.url):
        header.get_by_role("button").click()
    wait_for_results(page)
    expect(page.locator("th.col-recipient")).to_have_attribute("aria-sort", "ascending")
    recipients = column_texts(page, "recipient")
    assert recipients == sorted(recipients)
    with page.expect_response(lambda r: "sort=recipient" in r.url and "order=desc" in r.url):
        page.locator("th.col-recipient").get_by_role("button").click()
    wait_for_results(page)
    expect(page.locator("th.col-recipient")).to_have_attribute("aria-sort", "descending")
    assert column_texts(page, "recipient") == sorted(recipients, reverse=True)


def test_previous_and_next_page_through_the_results(page: Page) -> None:
    page.get_by_label("Rows per page").select_option("25")
    search(page, "list@example.org")
    expect(page.locator("#page-status")).to_have_text(f"Rows 1–25 of {NEWSLETTER_COUNT}")
    expect(rows(page)).to_have_count(25)
    expect(page.get_by_role("button", name="Previous")).to_be_disabled()
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#page-status")).to_have_text(f"Rows 26–{NEWSLETTER_COUNT} of {NEWSLETTER_COUNT}")
    expect(rows(page)).to_have_count(NEWSLETTER_COUNT - 25)
    expect(page.get_by_role("button", name="Next")).to_be_disabled()
    page.get_by_role("button", name="Previous").click()
    expect(page.locator("#page-status")).to_have_text(f"Rows 1–25 of {NEWSLETTER_COUNT}")


def test_column_chooser_shows_more_columns_and_remembers_them(page: Page) -> None:
    search(page, "bob@example.org")
    expect(page.locator("th.col-subject")).to_have_count(0)
    page.get_by_text("Columns", exact=True).click()
    chooser = page.locator("#column-list")
    chooser.get_by_label("Subject").check()
    chooser.get_by_label("Spam Score").uncheck()
    expect(page.locator("th.col-subject")).to_be_visible()
    expect(page.locator("th.col-spamscore")).to_have_count(0)
    expect(page.locator("#events-body td.col-subject").filter(has_text="Invoice 1001")).to_have_count(1)
    page.reload()
    expect(rows(page).first).to_be_visible()
    expect(page.locator("th.col-subject")).to_be_visible()
    expect(page.locator("th.col-spamscore")).to_have_count(0)
    page.get_by_text("Columns", exact=True).click()
    page.get_by_role("button", name="Reset to default").click()
    expect(page.locator("th.col-subject")).to_have_count(0)
    expect(page.locator("th.col-spamscore")).to_be_visible()


# ---------- details ----------


def test_details_explain_the_result_and_show_the_raw_log_lines(page: Page) -> None:
    search(page, "dave@example-mail.net")
    open_details(page, "dave@example-mail.net", "Deferred")
    dialog = page.locator("dialog#details")
    expect(dialog.locator(".explanation-title")).to_have_text("Recipient mailbox is full")
    expect(dialog.locator(".explanation-advice")).not_to_be_empty()
    expect(dialog.locator("pre.raw")).to_contain_text(f"{DEFERRED} == dave@example-mail.net")
    expect(dialog.locator("pre.raw")).to_contain_text("452 4.2.2 <dave@example-mail.net>: Mailbox full")
    expect(dialog.locator("table.fields")).to_contain_text("dkim_remote_smtp")
    expect(dialog.locator(".timeline-item.current")).to_contain_text("Deferred")
    screenshot(page, "desktop-details.png")


def test_details_close_with_escape_and_focus_returns_to_the_row(page: Page) -> None:
    search(page, "dave@example-mail.net")
    button = rows(page).filter(has=page.locator(".type-label:text-is('Deferred')")).locator(".row-open")
    button.focus()
    page.keyboard.press("Enter")
    dialog = page.locator("dialog#details")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".explanation")).to_be_visible()
    for _ in range(12):  # Tab never leaves the open dialog
        page.keyboard.press("Tab")
        focused = page.evaluate("""() => { const e = document.activeElement;
            return [document.getElementById('details').contains(e), e.outerHTML.slice(0, 80)]; }""")
        assert focused[0], f"focus left the dialog for {focused[1]}"
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(button).to_be_focused()


def test_a_failure_links_to_its_bounce_and_back(page: Page) -> None:
    search(page, "nobody@example-far.net")
    open_details(page, "nobody@example-far.net", "Failed")
    dialog = page.locator("dialog#details")
    expect(dialog.locator(".explanation-title")).not_to_be_empty()
    dialog.get_by_role("button", name=f"Open the bounce message {BOUNCE}").click()
    expect(page.locator("#details-title")).to_have_text(f"Message {BOUNCE}")
    expect(dialog.locator(".timeline")).to_contain_text("bob@example.org")
    dialog.get_by_role("button", name=f"Open the original message {FAILED}").click()
    expect(page.locator("#details-title")).to_have_text(f"Message {FAILED}")
    expect(dialog.locator(".timeline")).to_contain_text("nobody@example-far.net")
    dialog.get_by_role("button", name="Back").click()
    expect(page.locator("#details-title")).to_have_text(f"Message {BOUNCE}")
    dialog.get_by_role("button", name="Back").click()
    expect(page.locator("#details-title")).to_have_text("Delivery details")


def test_print_shows_only_the_details(page: Page) -> None:
    search(page, "dave@example-mail.net")
    open_details(page, "dave@example-mail.net", "Deferred")
    page.emulate_media(media="print")
    expect(page.locator("main")).to_be_hidden()
    expect(page.locator("dialog#details .explanation")).to_be_visible()
    expect(page.locator("#details-print")).to_be_hidden()


# ---------- export ----------


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_download_exports_the_rows_of_the_current_search(page: Page, fmt: str) -> None:
    search(page, "bob@example.org")
    expect(page.locator("#page-status")).to_have_text("Rows 1–4 of 4")
    with page.expect_download() as info:
        page.get_by_role("link", name=f"Download {fmt.upper()}").click()
    text = Path(info.value.path()).read_text(encoding="utf-8")
    records = list(csv.DictReader(text.splitlines())) if fmt == "csv" else json.loads(text)
    assert len(records) == 4
    for record in records:
        addresses = {record["recipient"], record["deliveredto"], record["email"], record["sender"]}
        assert "bob@example.org" in addresses
    assert sorted(record["type"] for record in records) == ["failure", "rejected", "success", "success"]


# ---------- hostile log text ----------


def test_hostile_log_text_is_shown_literally_and_never_runs(page: Page) -> None:
    search(page, "evil.example", match="contains")
    expect(page.locator("#page-status")).to_have_text("Rows 1–2 of 2")
    assert column_texts(page, "email") == [f"{XSS_SCRIPT}@evil.example"] * 2
    page.get_by_text("Columns", exact=True).click()
    page.locator("#column-list").get_by_label("Subject").check()
    page.locator("#column-list").get_by_label("Sender host").check()
    page.keyboard.press("Escape")
    expect(page.locator("#events-body td.col-subject").filter(has_text=f"{XSS_SCRIPT} {XSS_IMG}")).to_have_count(1)
    expect(page.locator("#events-body td.col-senderhost").filter(has_text=XSS_IMG)).to_have_count(1)

    open_details(page, "victim@example.org", "Delivered")
    dialog = page.locator("dialog#details")
    expect(dialog.locator(".details-subject")).to_contain_text(f"{XSS_SCRIPT} {XSS_IMG}")
    expect(dialog.locator("pre.raw")).to_contain_text(f"H=({XSS_IMG})")
    assert page.locator("main img, dialog img, main script, dialog script").count() == 0
    assert page.evaluate("typeof window.__xss") == "undefined"
    page.get_by_role("button", name="Close").click()


def test_page_loads_nothing_from_other_sites(browser: Browser, server: Server, logged_in_state: str) -> None:
    context, page, problems = new_page(browser, logged_in_state, DESKTOP)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    try:
        page.goto(server.url + "/?q=dave%40example-mail.net")
        expect(page.locator("#page-status")).to_have_text("Rows 1–2 of 2")
        open_details(page, "dave@example-mail.net", "Deferred")
    finally:
        context.close()
    assert requested and all(url.startswith(server.url + "/") for url in requested), requested
    assert problems.messages == []  # and the Content-Security-Policy refused nothing


# ---------- live updates ----------


def test_new_events_banner_appears_when_mail_for_the_search_arrives(page: Page, server: Server) -> None:
    search(page, "late@example.org")
    expect(page.locator("#empty")).to_be_visible()
    msgid = "1tLat6-000006-KL"
    server.ingest("exim_mainlog.late", [
        f"{exim_time(30)} [4001] {msgid} <= alice@shop-example.com H=mail.shop-example.com [192.0.2.10]:40002 "
        'I=[198.51.100.25]:25 P=esmtps S=1200 T="Late news" from <alice@shop-example.com> for late@example.org',
        f"{exim_time(29)} [4002] {msgid} => late <late@example.org> R=virtual_user T=dovecot_virtual_delivery "
        'C="250 2.0.0 <late@example.org> 4242 Saved"',
        f"{exim_time(29)} [4002] {msgid} Completed",
    ])
    banner = page.locator("#show-new")
    expect(banner).to_have_text("1 new event — show them", timeout=12_000)
    banner.click()
    expect(page.locator("#page-status")).to_have_text("Rows 1–1 of 1")
    expect(rows(page).first).to_contain_text("late@example.org")
    expect(page.locator("#new-banner")).to_be_hidden()


# ---------- keyboard and phone ----------


def test_keyboard_alone_can_search_and_open_details(page: Page) -> None:
    page.locator("body").focus()
    for _ in range(6):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "q":
            break
    assert page.evaluate("document.activeElement.id") == "q", "the search box is near the top of the Tab order"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "focus is visible"
    page.keyboard.type("dave@example-mail.net")
    with page.expect_response(lambda r: "/api/v1/search" in r.url):
        page.keyboard.press("Enter")
    wait_for_results(page)
    expect(page.locator("#page-status")).to_have_text("Rows 1–2 of 2")
    page.locator("#table-scroller").focus()
    for _ in range(12):  # past the column headers (sort buttons) to the first row
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.className") == "row-open":
            break
    assert page.evaluate("document.activeElement.className") == "row-open"
    page.keyboard.press("Enter")
    expect(page.locator("dialog#details .explanation")).to_be_visible()


def test_phone_screen_has_no_sideways_scrolling_outside_the_table(browser: Browser, server: Server,
                                                                    logged_in_state: str) -> None:
    context, page, problems = new_page(browser, logged_in_state, PHONE, is_mobile=True, has_touch=True)
    try:
        page.goto(server.url + "/?q=bob%40example.org")
        expect(page.locator("#page-status")).to_have_text("Rows 1–4 of 4")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert page.evaluate("document.body.scrollWidth") <= PHONE["width"]
        outside = page.evaluate("""() => Array.from(document.querySelectorAll('body *'))
            .filter(e => !e.closest('.table-scroller, dialog, .sprite') && e.getClientRects().length)
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
            .map(e => e.tagName + '#' + e.id + '.' + e.className)""")
        assert outside == []
        scroller = page.locator("#table-scroller")
        assert scroller.evaluate("e => e.scrollWidth > e.clientWidth"), "the table scrolls inside its box"
        screenshot(page, "phone.png", full_page=True)
        rows(page).filter(has=page.locator(".type-label:text-is('Failed')")).locator(".row-open").click()
        expect(page.locator("dialog#details .explanation")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        screenshot(page, "phone-details.png")
    finally:
        context.close()
    assert problems.messages == []


def test_log_out_returns_to_the_login_page(anonymous_page: tuple[Page, PageProblems], server: Server) -> None:
    page, _ = anonymous_page
    page.goto(server.url + "/login")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(server.url + "/login")
    page.goto(server.url + "/")
    expect(page).to_have_url(server.url + "/login")


def test_admins_see_how_many_log_lines_were_read_and_not_understood(page: Page) -> None:
    status = page.locator("#log-status")
    expect(status).to_be_visible()
    expect(status).to_contain_text("Log lines read:")
    expect(status).to_have_text(re.compile(r"· Log lines read: [\d,]+, not understood: \d+\."))


# ---------- where would mail to this address go? (the address trace) ----------
# A server of its own: its config asks "exim", and a stand-in exim (tests/fake_exim.py) comes first on
# its PATH, answering with outputs captured from a real Exim 4.96 (the real one: tests/mta).

HOSTILE_ADDRESS = "<img/src=x/onerror=window.__xss=1>@example.org"
HOSTILE_REASON = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>'


@pytest.fixture(scope="module")
def trace_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, FakeExim]]:
    workdir = tmp_path_factory.mktemp("browser-trace")
    exim = FakeExim(workdir / "fake-exim", TRANSPORTS)
    exim.answer("bob@example.org", "bob@example.org\n  router = virtual_user, transport = local_maildir\n")
    exim.answer("list@example.org", "carol@example.net\n    <-- list@example.org\n"
                "  router = dnslookup, transport = remote_smtp\n"
                "  host mx1.example.net        [192.0.2.10]   MX=10\n")
    exim.answer("victim@example.org", f"victim@example.org is undeliverable: {HOSTILE_REASON}\n", status=2)
    env = dict(os.environ, PATH=f"{exim.directory}{os.pathsep}{os.environ.get('PATH', '')}")
    with serving(workdir, '[trace]\nmta = "exim"\n', env=env) as running:
        yield running, exim


@pytest.fixture
def trace_page(browser: Browser, trace_server: tuple[Server, FakeExim]) -> Iterator[tuple[Page, PageProblems]]:
    server, _ = trace_server
    context, page, problems = new_page(browser, None, DESKTOP)
    page.goto(server.url + "/login")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#events-body tr").first).to_be_visible()
    yield page, problems
    context.close()


def run_trace(page: Page) -> None:
    with page.expect_response(lambda r: "/api/v1/trace?" in r.url):
        page.get_by_role("button", name="Trace this address").click()
    expect(page.locator("#trace-result")).not_to_contain_text("Asking the mail server")


def test_trace_shows_where_mail_to_the_searched_address_would_go(trace_page: tuple[Page, PageProblems],
                                                                 trace_server: tuple[Server, FakeExim]) -> None:
    page, problems = trace_page
    _, exim = trace_server
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url) if "/api/v1/trace" in request.url else None)
    panel = page.locator("#trace-panel")
    expect(panel).to_be_hidden()  # no address searched yet
    search(page, "list@example.org")
    expect(panel.get_by_role("heading", name="Where would mail to this address go?")).to_be_visible()
    expect(page.locator("#trace-address")).to_have_text("list@example.org")
    assert asked == []  # only on demand: searching runs nothing on the mail server
    run_trace(page)
    result = page.locator("#trace-result")
    expect(result.locator(".explanation-title")).to_have_text("Mail to this address would be delivered.")
    expect(result).to_contain_text("list@example.org is an alias or forwarder. Mail to it goes to:")
    expect(result).to_contain_text("Forwarded to carol@example.net: Sent on to mx1.example.net [192.0.2.10] (MX 10)")
    screenshot(page, "desktop-trace.png")
    search(page, "bob@example.org")
    expect(result).to_be_empty()  # another address: the old answer goes
    run_trace(page)
    expect(result).to_contain_text("bob@example.org: Delivered to a mailbox on this server")
    search(page, "bob@", match="begins")
    expect(panel).to_be_hidden()  # not one whole address
    assert exim.traced()[-2:] == ["list@example.org", "bob@example.org"]
    assert problems.messages == []


def test_trace_shows_hostile_addresses_and_answers_as_text(trace_page: tuple[Page, PageProblems],
                                                          trace_server: tuple[Server, FakeExim]) -> None:
    page, problems = trace_page
    _, exim = trace_server
    search(page, HOSTILE_ADDRESS)
    expect(page.locator("#trace-address")).to_have_text(HOSTILE_ADDRESS)
    run_trace(page)
    error = page.locator("#trace-result .alert-error")
    expect(error).to_contain_text(f"'{HOSTILE_ADDRESS[:40]}'… cannot be traced: give one plain address")
    assert HOSTILE_ADDRESS not in exim.traced()  # refused before Exim ran

    search(page, "victim@example.org")
    run_trace(page)
    result = page.locator("#trace-result")
    expect(result.locator(".explanation-title")).to_contain_text("would not be delivered")
    expect(result).to_contain_text(f"victim@example.org: Would be rejected: {HOSTILE_REASON}")
    assert page.locator("#trace-panel img, #trace-panel script, main img, main script").count() == 0
    assert page.evaluate("typeof window.__xss") == "undefined"
    # The 400 for the hostile address is the only thing the browser logged.
    assert all("status of 400" in message for message in problems.messages), problems.messages


def test_details_trace_the_events_recipient_only_where_the_user_may(
        browser: Browser, trace_page: tuple[Page, PageProblems], trace_server: tuple[Server, FakeExim]) -> None:
    page, problems = trace_page
    server, exim = trace_server
    search(page, "list@example.org")
    open_details(page, "list@example.org", "Delivered")
    section = page.locator("dialog#details .trace-section")
    expect(section.get_by_role("heading", name="Address trace")).to_be_visible()
    button = section.get_by_role("button", name="Where would mail to list@example.org go?")
    button.focus()
    with page.expect_response(lambda r: "/api/v1/trace?address=list%40example.org" in r.url):
        page.keyboard.press("Enter")
    result = section.locator(".trace-result")
    expect(result.locator(".explanation-title")).to_have_text("Mail to this address would be delivered.")
    expect(result).to_contain_text("list@example.org is an alias or forwarder. Mail to it goes to:")
    expect(result).to_contain_text("Forwarded to carol@example.net: Sent on to mx1.example.net [192.0.2.10] (MX 10)")
    expect(button).to_be_focused()  # the keyboard user is where they were
    screenshot(page, "desktop-details-trace.png")
    assert exim.traced()[-1] == "list@example.org"
    assert problems.messages == []

    # An account of example.org sees carol@example.org's mail to dave@example-mail.net, whose domain is
    # not its own: no trace is offered for it, neither in the details nor as the search's panel; for
    # its own list@example.org it is, on a phone too.
    cli(server.db, server.config, "users", "add", "org", "--role", "account", "--domain", "example.org",
        "--password-stdin", input=PASSWORD + "\n")
    context, phone, phone_problems = new_page(browser, None, PHONE, is_mobile=True, has_touch=True)
    try:
        phone.goto(server.url + "/login")
        phone.get_by_label("User name").fill("org")
        phone.get_by_label("Password").fill(PASSWORD)
        phone.get_by_role("button", name="Log in").click()
        expect(rows(phone).first).to_be_visible()
        search(phone, "dave@example-mail.net")
        expect(phone.locator("#trace-panel")).to_be_hidden()
        open_details(phone, "dave@example-mail.net", "Deferred")
        expect(phone.locator("dialog#details .explanation-title").first).to_be_visible()
        expect(phone.locator("dialog#details .trace-section")).to_have_count(0)
        phone.keyboard.press("Escape")
        search(phone, "list@example.org")
        expect(phone.locator("#trace-panel")).to_be_visible()
        open_details(phone, "list@example.org", "Delivered")
        section = phone.locator("dialog#details .trace-section")
        section.get_by_role("button", name="Where would mail to list@example.org go?").click()
        expect(section.locator(".trace-result .explanation-title")).to_have_text(
            "Mail to this address would be delivered.")
        details = phone.locator("#details-body")
        assert details.evaluate("e => e.scrollWidth <= e.clientWidth"), "no sideways scrolling on a phone"
    finally:
        context.close()
    assert "dave@example-mail.net" not in exim.traced()
    assert phone_problems.messages == []
