"""``GET /console``: counts of what the user may see, and the activity chart (tokens issued per hour over
the last day by kind, and failed sign-ins; :mod:`tokensmith.console.chart`)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tokensmith import clients as client_service
from tokensmith import permissions as perm
from tokensmith.apikeys import management as apikey_service
from tokensmith.clock import utc
from tokensmith.console import chart
from tokensmith.console.common import SignedIn, new_router, page, runtime_of
from tokensmith.people import sessions as session_service
from tokensmith.people import users as user_service
from tokensmith.web.session import BrowserUser

router = new_router()
CSS = ["k0", "k1", "k2", "k3"]


def activity_cache(request: Request) -> chart.ActivityCache:
    cache: chart.ActivityCache = request.app.state.console_activity
    return cache


async def _counts(request: Request, user: BrowserUser) -> list[tuple[str, int, str]]:
    rt = runtime_of(request)
    counts: list[tuple[str, int, str]] = []
    if user.allows(perm.API_KEY_READ):
        counts.append(("API keys", await apikey_service.count_api_keys(rt, user.tenant_id), "/console/api-keys"))
    if user.allows(perm.CLIENT_READ):
        clients = await client_service.list_clients(rt, user.tenant_id)
        counts.append(("OAuth clients", len(clients), "/console/clients"))
    if user.allows(perm.USER_READ):
        users = await user_service.list_users(rt, user.tenant_id)
        counts.append(("Users", len(users), "/console/users"))
        live = await session_service.list_sessions(rt, user.tenant_id)
        counts.append(("Live sessions", len(live), "/console/sessions"))
    return counts


def _chart_context(activity: chart.Activity) -> dict[str, Any]:
    bars, top = chart.stacked_bars(activity.series, CSS)
    failed_bars, failed_top = chart.stacked_bars({"Failed sign-ins": activity.failed}, ["k4"])
    slot = (chart.WIDTH - chart.LEFT) / chart.HOURS
    ticks = [(round(chart.LEFT + i * slot + slot / 2, 1), utc(activity.start + i * 3600).strftime("%H"))
             for i in range(0, chart.HOURS, 3)]
    return {"bars": bars, "top": top, "failed_bars": failed_bars, "failed_top": failed_top, "ticks": ticks,
            "legend": [(label, css, activity.total(label)) for (label, _), css in zip(chart.KINDS, CSS,
                                                                                    strict=True)],
            "issued": activity.issued, "failed": sum(activity.failed), "dims": chart}


@router.get("")
async def overview(request: Request, user: SignedIn) -> Response:
    context: dict[str, Any] = {"counts": await _counts(request, user), "chart": None, "counting": False}
    if user.allows(perm.AUDIT_READ):
        activity = activity_cache(request).peek(runtime_of(request), user.tenant_id)  # never waits for a count
        context["chart"] = _chart_context(activity) if activity is not None else None
        context["counting"] = activity is None
    return await page(request, user, "overview.html", "overview", context)
