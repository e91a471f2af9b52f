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
    Page,
    expect,
    sync_playwright,
)
from process_helpers import EXAMPLES, free_port, running_server_sync

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


def test_test_server_page(context: BrowserContext, javascript_errors: list[str]) -> None:
    port = free_port()
    with running_server_sync(["-m", "websockets_typed", "serve", "--port", str(port)], port):
        first = open_page(context, port, javascript_errors)
        echo = first.locator("#echo")
        expect(echo.locator(".status")).to_have_text("connected")
        echo.locator("input").fill("round trip")
        echo.locator("button").click()
        expect(echo.locator("li")).to_have_text(["> round trip", "< round trip"])

        chat = first.locator("#chat")
        expect(chat.locator(".status")).to_have_text("connected")
        second = open_page(context, port, javascript_errors)
        other_chat = second.locator("#chat")
        expect(other_chat.locator(".status")).to_have_text("connected")
        expect(chat.locator("li").last).to_have_text("< * 2 connected")

        chat.locator("input").fill("Hello from the first tab")
        chat.locator("button").click()
        expect(other_chat.locator("li").last).to_have_text("< Hello from the first tab")
        expect(chat.locator("li").last).to_have_text("< Hello from the first tab")
        # Close the pages before the server stops: it checks it exits cleanly.
        context.close()
