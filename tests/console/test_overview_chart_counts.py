"""The overview's chart: tokens issued per hour by kind and failed sign-ins, from the audit log, over the
last 24 hours; refreshed incrementally (new events counted once, old hours leaving the window) and drawn
as SVG bars with their counts in the page."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.console.helpers import client_as
from tests.support import LiveServer, make_settings
from tokensmith.clock import ManualClock
from tokensmith.console.chart import HOURS, ActivityCache


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_800_000_000.0)  # on the hour


@pytest.fixture
def web(sqlite_url: str, clock: ManualClock) -> Iterator[LiveServer]:
    with LiveServer(make_settings(sqlite_url), clock=clock) as live:
        yield live


def _record(web: LiveServer, *types: str) -> None:
    async def write(rt):  # type: ignore[no-untyped-def]
        for event_type in types:
            rt.audit.record(event_type, tenant_id=web.tenant_id, actor="x")
        await rt.audit.flush()

    web.call(write)


def test_counts_per_hour_and_kind_follow_new_events_and_the_window(web: LiveServer, clock: ManualClock) -> None:
    cache = ActivityCache()
    clock.advance(-3 * 3600)
    _record(web, "token.issued", "token.issued", "exchange.issued", "apikey.created")  # 3 hours ago
    clock.advance(3 * 3600 + 60)
    _record(web, "session.created", "session.refreshed", "user_token.used", "login.failed", "login.failed")
    first = web.call(lambda rt: cache.get(rt, web.tenant_id))
    assert first.series["OAuth clients"][HOURS - 4] == 2 and first.series["Session exchange"][HOURS - 4] == 1
    assert first.series["Sign-in and refresh"][HOURS - 1] == 2 and first.series["User tokens"][HOURS - 1] == 1
    assert first.failed[HOURS - 1] == 2 and first.issued == 6
    _record(web, "token.issued")
    assert web.call(lambda rt: cache.get(rt, web.tenant_id)).issued == 6  # within the minute: cached
    clock.advance(61)
    second = web.call(lambda rt: cache.get(rt, web.tenant_id))
    assert second.issued == 7 and second.series["OAuth clients"][HOURS - 1] == 1  # counted once, incrementally
    clock.advance(61)
    assert web.call(lambda rt: cache.get(rt, web.tenant_id)).issued == 7  # nothing counted twice
    clock.advance(21 * 3600)  # the events of 3 hours ago leave the 24-hour window
    late = web.call(lambda rt: cache.get(rt, web.tenant_id))
    assert late.total("OAuth clients") == 1 and late.total("Session exchange") == 0


def _settled(web: LiveServer) -> None:
    """Until the console's background counts end (a page never waits for them; a test may)."""
    web.call(lambda rt: web.app.state.console_activity.refresher.wait())


def test_the_first_visit_shows_the_page_at_once_and_the_chart_once_counted(web: LiveServer) -> None:
    _record(web, "token.issued")
    with client_as(web, "own@example.com", "owner") as http:
        web.app.state.console_activity.forget()  # as after a start: nothing counted yet
        first = http.get("/console").text
        assert "being counted from the audit log" in first and "<svg" not in first
        _settled(web)
        assert "<title>OAuth clients: 1</title>" in http.get("/console").text


def test_stale_figures_are_shown_while_the_refresh_runs(web: LiveServer, clock: ManualClock) -> None:
    cache = ActivityCache()
    _record(web, "token.issued")
    assert web.call(lambda rt: cache.get(rt, web.tenant_id)).issued == 1
    _record(web, "token.issued")
    clock.advance(61)

    async def peek_twice(rt):  # type: ignore[no-untyped-def]
        stale = cache.peek(rt, web.tenant_id)  # due: a refresh starts, the old figures come back at once
        running = cache.counting(web.tenant_id)
        await cache.refresher.wait()
        return stale, running, cache.peek(rt, web.tenant_id)

    stale, running, fresh = web.call(peek_twice)
    assert stale is not None and stale.issued == 1 and running
    assert fresh is not None and fresh.issued == 2 and not cache.counting(web.tenant_id)


def test_the_overview_draws_the_bars_with_their_counts(web: LiveServer) -> None:
    _record(web, "token.issued", "login.failed")
    with client_as(web, "own@example.com", "owner") as http:
        http.get("/console")
        _settled(web)
        page = http.get("/console").text
    # the total also holds the owner's own sign-in (session.created) once the audit writer has written it
    assert re.search(r"Tokens issued per hour, last 24 hours \([12]\)", page)
    assert "<title>OAuth clients: 1</title>" in page and "<title>Failed sign-ins: 1</title>" in page
    assert 'role="img"' in page
