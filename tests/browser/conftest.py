"""A real browser for the page tests: Playwright driving Debian's Chromium (``/usr/bin/chromium``,
headless), one browser for the browser tests and a fresh context (cookies, storage) per test.

``page`` also watches the console: a Content-Security-Policy violation on any page fails the test (the
pages must work under their own policy, without inline script or style).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import LiveServer, make_settings
from tokensmith.clock import ManualClock

CHROMIUM = os.environ.get("TOKENSMITH_TEST_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One Chromium for the browser tests, closed when they are done: Playwright's sync API keeps an event
    loop running in the main thread while it is open, and the fixtures of later tests call asyncio.run()
    (the PostgreSQL databases), which refuses to run inside a running loop."""
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: ./scripts/test installs it (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session", autouse=True)
def screenshot_scratch(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Where ``shot()`` writes unless ``TOKENSMITH_UPDATE_SCREENSHOTS=1``: a pytest tmp dir of this run
    (of this worker, under xdist), so runs never rewrite the tracked PNGs nor collide."""
    from tests.browser import helpers

    helpers._scratch[:] = [tmp_path_factory.mktemp("screenshots")]


@pytest.fixture
def browser_context(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 800, "height": 700}, locale="en-GB")
    context.set_default_timeout(10_000)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(browser_context: Any) -> Iterator[Any]:
    """A page of a fresh context; fails the test on a CSP violation reported by the browser."""
    page = browser_context.new_page()
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    yield page
    assert not violations, f"CSP violations: {violations}"


@pytest.fixture
def clock() -> ManualClock:
    """The web server's clock: the tests move it instead of sleeping (code and session lifetimes)."""
    return ManualClock()


@pytest.fixture
def web(sqlite_url: str, clock: ManualClock) -> Iterator[LiveServer]:
    """The service on SQLite, on loopback, on the test's clock."""
    with LiveServer(make_settings(sqlite_url), clock=clock) as live:
        yield live


@pytest.fixture
def app_site() -> Iterator[Any]:
    """The app's redirect URI, served on loopback (:class:`tests.browser.helpers.AppServer`)."""
    from tests.browser.helpers import AppServer

    site = AppServer()
    try:
        yield site
    finally:
        site.close()
