"""The overview's activity figures: tokens issued per hour over the last day by kind, and failed
sign-ins, counted from the audit log through its public listing (:func:`tokensmith.audit.listing.list_events`),
and laid out as a server-rendered SVG bar chart (no script; the template draws the bars).

The counts of a tenant are kept for :data:`CACHE_SECONDS` in the process: the chart's resolution is an
hour, and paging through a busy day of events on every visit of the overview would cost more than the
page itself. A stale minute is the price; nothing else depends on these numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tokensmith.audit.listing import MAX_PAGE, Filters, list_events
from tokensmith.clock import utc

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

HOURS = 24
CACHE_SECONDS = 60.0
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


async def _count(rt: Runtime, tenant_id: str, event_type: str, start: float, into: list[int]) -> None:
    filters = Filters(type=event_type, since=utc(start))
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = await list_events(rt, tenant_id, filters, cursor=cursor, limit=MAX_PAGE)
        for event in page["events"]:
            slot = int((event["atMicros"] / 1e6 - start) // 3600)
            if 0 <= slot < HOURS:
                into[slot] += 1
        cursor = page["next"]
        if cursor is None:
            return


async def activity(rt: Runtime, tenant_id: str) -> Activity:
    now = rt.clock.now()
    start = (now // 3600 - (HOURS - 1)) * 3600
    result = Activity(start=start)
    for label, types in KINDS:
        counts = [0] * HOURS
        for event_type in types:
            await _count(rt, tenant_id, event_type, start, counts)
        result.series[label] = counts
    for event_type in FAILED_SIGNINS:
        await _count(rt, tenant_id, event_type, start, result.failed)
    return result


class ActivityCache:
    """Each tenant's :class:`Activity` for up to :data:`CACHE_SECONDS` (per process, per runtime)."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, Activity]] = {}

    async def get(self, rt: Runtime, tenant_id: str) -> Activity:
        now = rt.clock.now()
        found = self._entries.get(tenant_id)
        if found is not None and 0 <= now - found[0] < CACHE_SECONDS:
            return found[1]
        value = await activity(rt, tenant_id)
        if len(self._entries) > 1000:
            self._entries.clear()
        self._entries[tenant_id] = (now, value)
        return value

    def forget(self) -> None:
        self._entries.clear()


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
