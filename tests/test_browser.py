"""The pages, in a real browser: headless Chromium driven by playwright.

The browser is Debian's ``chromium`` package (playwright can't download its
own builds here); ``scripts/test`` installs it under ``CI=true``. Without
it, these tests skip with the reason, except under ``CI=true`` where they
fail instead: CI must never skip them.

Each test runs its server as a subprocess, as a user would, opens the page
the server serves and checks what the page shows.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    expect,
    sync_playwright,
)
from process_helpers import EXAMPLES, free_port, running_server_sync

from websockets_typed.testserver._endpoints import ENDPOINTS

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

CLOCK = re.compile(r"\d\d:\d\d:\d\d\.\d{3}")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")

# Generous for a busy CI machine; waits end as soon as the page is right.
expect.set_options(timeout=15_000)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium, shared by the tests of this module."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install Debian's chromium package"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; browser tests never skip under CI=true")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile for one test; closed before its server stops."""
    context = browser.new_context()
    context.set_default_timeout(15_000)
    try:
        yield context
    finally:
        # Close the pages before the server stops: it checks it exits cleanly.
        context.close()


@pytest.fixture
def javascript_errors() -> Iterator[list[str]]:
    """Errors the test's pages report; the test fails if there are any."""
    errors: list[str] = []
    yield errors
    assert not errors


def open_page(context: BrowserContext, port: int, errors: list[str]) -> Page:
    """Open http://127.0.0.1:port/ in a new tab, collecting its JavaScript errors."""
    page = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", on_console)
    page.goto(f"http://127.0.0.1:{port}/")
    return page


def test_show_time_page(context: BrowserContext, javascript_errors: list[str]) -> None:
    port = free_port()
    with running_server_sync([EXAMPLES / "show_time.py"], port):
        page = open_page(context, port, javascript_errors)
        items = page.locator("#messages li")
        # The first timestamp comes at once, each next one within 3 seconds.
        page.wait_for_function("document.querySelectorAll('#messages li').length >= 3")
        texts = items.all_text_contents()
        assert all(TIMESTAMP.fullmatch(text) for text in texts), texts
        assert texts == sorted(texts)
        # Close the pages before the server stops: it checks it exits cleanly.
        context.close()


def test_counter_page_in_two_tabs(context: BrowserContext, javascript_errors: list[str]) -> None:
    port = free_port()
    with running_server_sync([EXAMPLES / "counter.py"], port):
        first = open_page(context, port, javascript_errors)
        expect(first.locator(".users")).to_have_text("1 user")
        second = open_page(context, port, javascript_errors)
        for page in (first, second):
            expect(page.locator(".users")).to_have_text("2 users")
            expect(page.locator(".value")).to_have_text("0")

        first.locator(".plus").click()
        for page in (first, second):
            expect(page.locator(".value")).to_have_text("1")

        second.locator(".minus").click()
        second.locator(".minus").click()
        for page in (first, second):
            expect(page.locator(".value")).to_have_text("-1")

        second.close()
        expect(first.locator(".users")).to_have_text("1 user")
        # Close the pages before the server stops: it checks it exits cleanly.
        context.close()


@pytest.fixture(scope="module")
def test_server() -> Iterator[int]:
    """``python -m websockets_typed serve``, shared by the tests of its page; yield its port."""
    port = free_port()
    args = ["-m", "websockets_typed", "serve", "--port", str(port), "--subprotocols", "chat"]
    with running_server_sync(args, port):
        yield port


def log_rows(page: Page) -> Locator:
    """The rows of the page's message log."""
    return page.locator("#log tr")


def expect_row(row: Locator, direction: str, size: str, kind: str, data: str) -> None:
    """Check a row of the message log: its time, direction, size, kind and data."""
    expect(row.locator(".time")).to_have_text(CLOCK)
    expect(row.locator(".dir")).to_have_text(direction)
    expect(row.locator(".size")).to_have_text(size)
    expect(row.locator(".kind")).to_have_text(kind)
    expect(row.locator(".data")).to_have_text(data)


def connect_to(page: Page, path: str, subprotocols: str = "") -> None:
    """Connect the page to ``path`` with the connection form."""
    page.locator(f'#endpoints button[data-path^="{path}"]').click()
    page.locator("#subprotocols").fill(subprotocols)
    page.locator("#connect").click()


def test_test_server_page_sends_and_closes(
    context: BrowserContext, javascript_errors: list[str], test_server: int
) -> None:
    page = open_page(context, test_server, javascript_errors)
    # Every endpoint is listed, with a button to try it (or a link).
    expect(page.locator("#endpoints tr")).to_have_count(len(ENDPOINTS))
    expect(page.locator("#url")).to_have_value(f"ws://127.0.0.1:{test_server}/echo")
    page.locator("#connect").click()
    expect(page.locator("#state")).to_have_text("open")
    expect(page.locator("#protocol")).to_have_text("(none)")
    expect(page.locator("#extensions")).to_contain_text("permessage-deflate")
    expect_row(log_rows(page).last, "·", "", "open", f"ws://127.0.0.1:{test_server}/echo")

    page.locator("#message").fill("héllo")
    page.locator("#send").click()
    expect(log_rows(page)).to_have_count(3)
    expect_row(log_rows(page).nth(1), "→", "6 B", "text", "héllo")
    expect_row(log_rows(page).nth(2), "←", "6 B", "text", "héllo")

    page.locator("#kind").select_option("binary")
    page.locator("#message").fill("zz")
    page.locator("#send").click()
    expect(page.locator("#send-error")).to_contain_text("pairs of hex digits")
    page.locator("#message").fill("00ff 10")
    page.locator("#send").click()
    expect(page.locator("#send-error")).to_have_text("")
    expect(log_rows(page)).to_have_count(5)
    expect_row(log_rows(page).nth(3), "→", "3 B", "binary", "00 ff 10")
    expect_row(log_rows(page).nth(4), "←", "3 B", "binary", "00 ff 10")

    # The application-level round trip: a probe and its echo.
    page.locator("#rtt").click()
    expect(page.locator("#rtt-result")).to_have_text(re.compile(r"echo round trip: \d+\.\d ms"))

    # Browsers refuse to send 1001; the page says so.
    page.locator("#close-code").fill("1001")
    page.locator("#close").click()
    expect(page.locator("#close-error")).not_to_have_text("")
    expect(page.locator("#state")).to_have_text("open")
    page.locator("#close-code").fill("4000")
    page.locator("#close-reason").fill("bye")
    page.locator("#close").click()
    expect(page.locator("#state")).to_have_text("closed: 4000 bye")
    expect_row(log_rows(page).last, "·", "", "close", "4000 bye")
    expect(page.locator("#send")).to_be_disabled()
    page.locator("#clear").click()
    expect(log_rows(page)).to_have_count(0)


def test_test_server_page_endpoints(
    context: BrowserContext, javascript_errors: list[str], test_server: int
) -> None:
    page = open_page(context, test_server, javascript_errors)
    connect_to(page, "/subprotocol", "xml, chat")
    expect(page.locator("#protocol")).to_have_text("chat")
    expect_row(
        log_rows(page).last,
        "←",
        "74 B",
        "text",
        '{"subprotocol": "chat", "offered": ["xml", "chat"], "supported": ["chat"]}',
    )
    page.locator("#disconnect").click()
    expect(page.locator("#state")).to_have_text("closed: 1005")

    # The server pings; the page shows the latency it reports.
    page.locator("#url").fill(f"ws://127.0.0.1:{test_server}/ping?interval=50")
    page.locator("#connect").click()
    expect(page.locator("#rtt-result")).to_have_text(
        re.compile(r"latency the server measured: \d+(\.\d+)? ms")
    )
    page.locator("#disconnect").click()

    page.locator("#clear").click()
    page.locator("#url").fill(f"ws://127.0.0.1:{test_server}/send?count=2&size=4&type=binary")
    page.locator("#connect").click()
    expect(page.locator("#state")).to_have_text("closed: 1000 sent 2 messages")
    expect(log_rows(page)).to_have_count(4)
    for index in (1, 2):
        expect_row(log_rows(page).nth(index), "←", "4 B", "binary", "00 01 02 03")

    connect_to(page, "/headers")
    expect(log_rows(page).last).to_contain_text('"User-Agent": "Mozilla/5.0')
    page.locator("#disconnect").click()


def test_test_server_page_chat_in_two_tabs(
    context: BrowserContext, javascript_errors: list[str], test_server: int
) -> None:
    first = open_page(context, test_server, javascript_errors)
    second = open_page(context, test_server, javascript_errors)
    for page in (first, second):
        connect_to(page, "/chat/")
        expect(page.locator("#state")).to_have_text("open")
    expect(log_rows(first).last.locator(".data")).to_have_text("* 2 connected")
    first.locator("#message").fill("Hello from the first tab")
    first.locator("#send").click()
    expect(log_rows(second).last.locator(".data")).to_have_text("Hello from the first tab")


def test_test_server_page_on_a_phone(browser: Browser, test_server: int) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 640}, is_mobile=True)
    try:
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{test_server}/")
        expect(page.locator("#connect")).to_be_visible()
        # Nothing wider than the screen: no sideways scrolling.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360
    finally:
        context.close()
