"""Console pages at volume (issue 12): server render time of the main pages with 10,000 audit events and
1,000 API keys in the tenant, on SQLite (default) or PostgreSQL. Not a test; target < 100 ms a page.

    .venv/bin/python bench/console.py                        # SQLite file in a temp dir
    .venv/bin/python bench/console.py --database postgres    # a fresh database, dropped after
    .venv/bin/python bench/console.py --keys 1000 --events 10000 --rounds 20

The service runs in this process (uvicorn on loopback, as the tests' LiveServer). The events are recorded
through the audit log (spread over the last 24 hours by a manual clock, so the overview's chart counts
them all) and the keys created through the API-key service. Each page is fetched ``--rounds`` times by a
signed-in client after one warm-up; the figure is the time of the request through the app's whole
ASGI stack in process (middleware, session lookup, services, rendering; no socket), median and p95.
The overview is measured with its chart counts fresh, due for their once-a-minute refresh, and not
counted yet (after a start); the audit page with its chain status cached, due, and not verified yet. The
pages never wait for those computations (they run in the background; each is awaited after the sample,
untimed), and the computations themselves are timed alone in the last rows. ``/signin`` (the
foundation's smallest page) is the reference of the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from tests.people.helpers import PASSWORD, make_user
from tests.support import (
    POSTGRES_URL,
    LiveServer,
    asyncpg_url,
    create_postgres_database,
    drop_postgres_database,
    make_settings,
)

from tokensmith.apikeys.management import create_api_key
from tokensmith.clock import ManualClock

TYPES = ("exchange.issued", "token.issued", "session.created", "user_token.used", "login.failed", "apikey.created")


async def _populate(rt: Any, tenant: str, clock: ManualClock, keys: int, events: int) -> str:
    first = ""
    for i in range(keys):
        record, _ = await create_api_key(rt, tenant_id=tenant, name=f"key {i}", scopes=["Patient.read"],
                                         rate_limit=60 + i % 5)
        first = first or record.id
    step = 24 * 3600 * 0.98 / events
    clock.advance(-24 * 3600 * 0.98)
    for i in range(events):
        rt.audit.record(TYPES[i % len(TYPES)], tenant_id=tenant, actor=f"apikey:{i % 50}", subject=f"u-{i}")
        clock.advance(step)
        if i % 2000 == 1999:
            await rt.audit.flush()
    await rt.audit.flush()
    return first


async def _time(http: httpx.AsyncClient, path: str, rounds: int, before: Any = None,
                after: Any = None) -> tuple[float, float]:
    """``before``: prepares each round (untimed); ``after``: awaited after each round, untimed (the
    background work a page started, so that it does not run into the next sample)."""
    assert (await http.get(path)).status_code == 200, path
    if after is not None:
        await after()
    samples = []
    for _ in range(rounds):
        if before is not None:
            before()
        start = time.perf_counter()
        resp = await http.get(path)
        samples.append((time.perf_counter() - start) * 1000)
        assert resp.status_code == 200, (path, resp.status_code)
        if after is not None:
            await after()
    return _stats(samples)


def _stats(samples: list[float]) -> tuple[float, float]:
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)]


async def _time_work(rounds: int, before: Any, work: Any) -> tuple[float, float]:
    samples = []
    for _ in range(rounds):
        before()
        start = time.perf_counter()
        await work()
        samples.append((time.perf_counter() - start) * 1000)
    return _stats(samples)


Row = tuple[str, float, float]
Case = tuple[str, str, Any, Any]


async def _measure(server: LiveServer, cases: list[Case], work: list[tuple[str, Any, Any]], rounds: int) -> list[Row]:
    """In process, on the server's event loop, through the app's whole ASGI stack (middleware included):
    what the server spends on a page, without the loopback socket. ``work``: the background computations
    the pages start, timed alone (what a page would wait for if it did not refresh in the background)."""
    transport = httpx.ASGITransport(app=server.app)
    async with httpx.AsyncClient(transport=transport, base_url=server.url) as http:
        form = await http.get("/signin")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
        signed = await http.post("/signin", data={"csrf_token": token, "email": "bench@example.com",
                                                  "password": PASSWORD, "next": ""},
                                 headers={"sec-fetch-site": "same-origin"})
        assert signed.status_code == 303, signed.text
        settle = server.app.state.console_activity.refresher.wait  # after every sample, whatever started
        rows = [(label, *await _time(http, path, rounds, before, after or settle))
                for label, path, before, after in cases]
    return rows + [(label, *await _time_work(rounds, before, job)) for label, before, job in work]


def run(url: str, keys: int, events: int, rounds: int) -> list[tuple[str, float, float]]:
    clock = ManualClock()
    with LiveServer(make_settings(url), clock=clock) as server:
        tenant = server.tenant_id
        t0 = time.perf_counter()
        key_id = server.call(lambda rt: _populate(rt, tenant, clock, keys, events), timeout=3600)
        print(f"populated {keys} API keys and {events} audit events in {time.perf_counter() - t0:.1f} s",
              file=sys.stderr)
        make_user(server, "bench@example.com", role="owner")
        state, rt = server.app.state, server.runtime
        activity, chain = state.console_activity, state.console_chain

        def cold_chart() -> None:
            activity.forget()

        def stale_chart() -> None:
            activity.expire()

        def cold_chain() -> None:
            chain.result = None

        def stale_chain() -> None:
            chain.checked_at = rt.clock.now() - 3600  # older than the minute it is kept

        settle = activity.refresher.wait
        cases: list[Case] = [
            ("/signin (reference)", "/signin", None, None),
            ("overview, chart cached", "/console", None, None),
            ("overview, refresh due (previous figures shown, refreshed in the background)", "/console",
             stale_chart, settle),
            ("overview, nothing counted yet (count started in the background)", "/console", cold_chart, settle),
            ("API keys (a page of 100)", "/console/api-keys", None, None),
            ("one API key", f"/console/api-keys/{key_id}", None, None),
            ("audit log, chain status cached", "/console/audit", None, None),
            ("audit log, verification due (previous result shown, verified in the background)", "/console/audit",
             stale_chain, settle),
            ("audit log, never verified yet (verification started in the background)", "/console/audit",
             cold_chain, settle),
            ("audit log, type filter", "/console/audit?type=login.failed", None, None),
            ("audit log, date range", "/console/audit?from=2000-01-01&to=2100-01-01", None, None),
            ("users", "/console/users", None, None),
            ("sessions", "/console/sessions", None, None),
            ("OAuth clients", "/console/clients", None, None),
            ("SMART apps", "/console/smart-apps", None, None),
            ("directory (patients)", "/console/directory/patients", None, None),
            ("signing keys", "/console/signing-keys", None, None),
            ("my account", "/console/account", None, None),
        ]
        work = [
            ("background: chart count from scratch (not a page)", cold_chart, lambda: activity.get(rt, tenant)),
            ("background: chart refresh, events since the last (not a page)", stale_chart,
             lambda: activity.get(rt, tenant)),
            ("background: chain verification (not a page)", cold_chain, lambda: chain.get(rt)),
        ]
        return server.call(_measure(server, cases, work, rounds), timeout=3600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    if args.database == "postgres":
        url = asyncpg_url(asyncio.run(create_postgres_database(POSTGRES_URL)))
        try:
            rows = run(url, args.keys, args.events, args.rounds)
        finally:
            asyncio.run(drop_postgres_database(POSTGRES_URL, url))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            rows = run(f"sqlite+aiosqlite:///{tmp}/bench.db", args.keys, args.events, args.rounds)
    reference = rows[0][1]
    print(f"| page ({args.database}, {args.keys} keys, {args.events} events) | median ms | p95 ms | x /signin |")
    print("| --- | ---: | ---: | ---: |")
    for label, median, p95 in rows:
        print(f"| {label} | {median:.1f} | {p95:.1f} | {median / reference:.1f} |")


if __name__ == "__main__":
    main()
