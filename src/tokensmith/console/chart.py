"""The overview's activity figures: tokens issued per hour over the last day by kind, and failed
sign-ins, counted from the audit log through its public listing (:func:`tokensmith.audit.listing.list_events`),
and laid out as a server-rendered SVG bar chart (no script; the template draws the bars).

The counts of a tenant are kept in the process and refreshed at most every :data:`CACHE_SECONDS`, in the
background, reading only the events since the previous refresh (:class:`Tally`): paging through a busy
day of events on every visit would cost more than the page itself, and the first count of a day (after a
start, and the hourly recount) takes several times the page's budget. A stale minute is the price;
nothing else depends on them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tokensmith.audit.listing import MAX_PAGE, Filters, list_events
from tokensmith.clock import utc
from tokensmith.console.background import Refresher

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

HOURS = 24
CACHE_SECONDS = 60.0
OVERLAP_SECONDS = 600.0
RECOUNT_SECONDS = 3600.0
#: chart series: label and the audit event types counted in it
KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("OAuth clients", ("token.issued",)),
    ("Session exchange", ("exchange.issued",)),
    ("Sign-in and refresh", ("session.created", "session.refreshed")),
    ("User tokens", ("user_token.used",)),
)
FAILED_SIGNINS = ("login.failed",)
#: pages of events read per type at most (a bound on the work of one overview, MAX_PAGE events each)
MAX_PAGES = 200
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 480, 160, 34, 20, 8


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass
class Activity:
    """Per-hour counts (index 0 is the hour starting 23 hours before the current one)."""

    start: float
    series: dict[str, list[int]] = field(default_factory=dict)
    failed: list[int] = field(default_factory=lambda: [0] * HOURS)

    def total(self, label: str) -> int:
        return sum(self.series.get(label, ()))

    @property
    def issued(self) -> int:
        return sum(sum(counts) for counts in self.series.values())


@dataclass
class Tally:
    """A tenant's counts per event type and hour (``int(at // 3600)``), kept up to date incrementally:
    a refresh reads only the events since the previous one (minus :data:`OVERLAP_SECONDS`, for events
    written a little after their time; the ``seq`` of those already counted avoids counting them twice).
    Events written later than that (after an outage) are caught by the full recount every
    :data:`RECOUNT_SECONDS`."""

    counted_at: float
    counted_to: float = 0.0
    hours: dict[str, dict[int, int]] = field(default_factory=dict)
    recent: dict[str, dict[int, float]] = field(default_factory=dict)

    async def add_since(self, rt: Runtime, tenant_id: str, event_type: str, since: float, now: float) -> None:
        hours = self.hours.setdefault(event_type, {})
        recent = self.recent.setdefault(event_type, {})
        filters = Filters(type=event_type, since=utc(since))
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            page = await list_events(rt, tenant_id, filters, cursor=cursor, limit=MAX_PAGE)
            for event in page["events"]:
                if event["seq"] in recent:
                    continue
                at = event["atMicros"] / 1e6
                hours[int(at // 3600)] = hours.get(int(at // 3600), 0) + 1
                recent[event["seq"]] = at
            cursor = page["next"]
            if cursor is None:
                break
        oldest_hour = int(now // 3600) - HOURS
        self.recent[event_type] = {seq: at for seq, at in recent.items() if at >= now - OVERLAP_SECONDS}
        self.hours[event_type] = {hour: n for hour, n in hours.items() if hour > oldest_hour}

    def series(self, types: tuple[str, ...], first_hour: int) -> list[int]:
        return [sum(self.hours.get(t, {}).get(first_hour + i, 0) for t in types) for i in range(HOURS)]


async def refresh(rt: Runtime, tenant_id: str, tally: Tally | None) -> Tally:
    """The tally brought up to now: counted from the window's start when new or due for a recount, else
    from the previous refresh on."""
    now = rt.clock.now()
    window_start = (now // 3600 - (HOURS - 1)) * 3600
    if tally is None or not 0 <= now - tally.counted_at < RECOUNT_SECONDS:
        tally = Tally(counted_at=now)
        since = window_start
    else:
        since = max(window_start, tally.counted_to - OVERLAP_SECONDS)
    for event_type in (*(t for _, types in KINDS for t in types), *FAILED_SIGNINS):
        await tally.add_since(rt, tenant_id, event_type, since, now)
    tally.counted_to = now
    return tally


def activity_of(tally: Tally, now: float) -> Activity:
    first_hour = int(now // 3600) - (HOURS - 1)
    result = Activity(start=first_hour * 3600.0)
    for label, types in KINDS:
        result.series[label] = tally.series(types, first_hour)
    result.failed = tally.series(FAILED_SIGNINS, first_hour)
    return result


class ActivityCache:
    """Each tenant's :class:`Tally` (per process, per runtime), refreshed at most every
    :data:`CACHE_SECONDS`, in the background (:class:`~tokensmith.console.background.Refresher`): the
    overview reads :meth:`peek`, which never waits."""

    def __init__(self, refresher: Refresher | None = None) -> None:
        self._entries: dict[str, tuple[float, Tally]] = {}
        self.refresher = refresher or Refresher()

    def peek(self, rt: Runtime, tenant_id: str) -> Activity | None:
        """The figures as last counted (None before the first count ends); starts a count when due."""
        now = rt.clock.now()
        found = self._entries.get(tenant_id)
        if found is None or not 0 <= now - found[0] < CACHE_SECONDS:
            self.refresher.start("activity:" + tenant_id, lambda: self._refresh(rt, tenant_id))
        return activity_of(found[1], now) if found is not None else None

    def counting(self, tenant_id: str) -> bool:
        return self.refresher.running("activity:" + tenant_id)

    async def get(self, rt: Runtime, tenant_id: str) -> Activity:
        """The figures once the count that is due has ended (tests and the benchmark; pages use :meth:`peek`)."""
        self.peek(rt, tenant_id)
        await self.refresher.wait("activity:" + tenant_id)
        found = self._entries.get(tenant_id)
        if found is None:
            raise RuntimeError("the activity count failed (see the log)")
        return activity_of(found[1], rt.clock.now())

    async def _refresh(self, rt: Runtime, tenant_id: str) -> None:
        """Counts on a copy: a page reading meanwhile sees the previous figures whole, not half updated."""
        now = rt.clock.now()
        found = self._entries.get(tenant_id)
        tally = await refresh(rt, tenant_id, copy.deepcopy(found[1]) if found else None)
        if len(self._entries) > 1000 and tenant_id not in self._entries:
            self._entries.clear()
        self._entries[tenant_id] = (now, tally)

    def forget(self) -> None:
        """Drop every tally (the next overview counts the whole window again)."""
        self._entries.clear()

    def expire(self) -> None:
        """Make the next overview refresh (incrementally) instead of using the cached counts."""
        self._entries = {tenant: (float("-inf"), tally) for tenant, (_, tally) in self._entries.items()}


def _scale(peak: int) -> int:
    """A round top for the axis, at least 1."""
    for step in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000):
        if peak <= step:
            return step
    return peak


def stacked_bars(series: dict[str, list[int]], css_classes: list[str]) -> tuple[list[Bar], int]:
    """Stacked bars of every series per hour; returns the bars and the axis top."""
    totals = [sum(counts[i] for counts in series.values()) for i in range(HOURS)]
    top = _scale(max(totals, default=0))
    slot = (WIDTH - LEFT) / HOURS
    usable = HEIGHT - BOTTOM - TOP
    bars: list[Bar] = []
    for i in range(HOURS):
        base = float(HEIGHT - BOTTOM)
        for (label, counts), css in zip(series.items(), css_classes, strict=False):
            if counts[i] == 0:
                continue
            h = usable * counts[i] / top
            base -= h
            bars.append(Bar(round(LEFT + i * slot + 1, 1), round(base, 1), round(slot - 2, 1), round(h, 1), css,
                            f"{label}: {counts[i]}"))
    return bars, top
