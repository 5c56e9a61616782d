"""The audit log: filtered by event type, actor and date range, in keyset pages by sequence (newest
first), the chain's verification status, and a CSV export of the same filter. Reads go through the audit
package's public functions only (:func:`tokensmith.audit.listing.list_events`,
:func:`tokensmith.audit.verification.verify_database`); ``Audit.read`` as for ``GET /audit-events``.

The chain is verified from the newest signed checkpoint (the whole chain when there is none), at most once
a minute per process and in the background (a walk of the chain is not a page's work: the page shows the
previous result, and says from where and when it was had).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from tokensmith import permissions as perm
from tokensmith.audit.listing import Filters, list_events
from tokensmith.audit.verification import verify_database
from tokensmith.console.background import Refresher
from tokensmith.console.common import SignedIn, need, new_router, page, runtime_of, when
from tokensmith.errors import InvalidRequest, ValidationFailed
from tokensmith.inputs import has_control
from tokensmith.web.pages import security_headers

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

router = new_router()
PAGE_SIZE = 50
CSV_MAX_ROWS = 100_000
CHAIN_CHECK_SECONDS = 60.0
KNOWN_TYPES = ("apikey.browser_use", "apikey.created", "apikey.revoked", "apikey.rotated", "client.created",
               "client.disabled", "client.secret_rotated", "exchange.issued", "exchange.refused", "login.failed",
               "login.succeeded", "session.created", "session.revoked", "signing_key.revoked",
               "signing_key.rotated", "token.issued", "user.created", "user_token.created", "user_token.used")


def _day(value: str, field: str, *, end: bool = False) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
        return day + timedelta(days=1) if end else day
    except (ValueError, OverflowError):  # OverflowError: the day after 9999-12-31
        raise ValidationFailed([{"loc": [field], "msg": "enter a date as YYYY-MM-DD", "type": "value_error"}]) from None


def _text(request: Request, name: str, limit: int) -> str:
    value = request.query_params.get(name, "").strip()
    if len(value) > limit or has_control(value):
        raise ValidationFailed([{"loc": [name], "msg": f"at most {limit} printable characters", "type": "value_error"}])
    return value


def filters_of(request: Request) -> tuple[Filters, dict[str, str]]:
    """The filters of the query string, and the raw values to show back in the form."""
    raw = {"type": _text(request, "type", 60), "actor": _text(request, "actor", 200),
           "from": _text(request, "from", 10), "to": _text(request, "to", 10)}
    filters = Filters(type=raw["type"] or None, actor=raw["actor"] or None, since=_day(raw["from"], "from"),
                      until=_day(raw["to"], "to", end=True))
    return filters, raw


class ChainStatus:
    """The result of the last full verification, renewed in the background when older than
    :data:`CHAIN_CHECK_SECONDS` (the page shows the previous result meanwhile, and says when it was had)."""

    KEY = "chain"

    def __init__(self, refresher: Refresher | None = None) -> None:
        self.checked_at: float | None = None
        self.result: dict[str, Any] | None = None
        self.refresher = refresher or Refresher()

    def peek(self, rt: Runtime) -> tuple[dict[str, Any] | None, float | None]:
        now = rt.clock.now()
        if self.result is None or self.checked_at is None or not 0 <= now - self.checked_at < CHAIN_CHECK_SECONDS:
            self.refresher.start(self.KEY, lambda: self._verify(rt))
        return self.result, self.checked_at

    async def get(self, rt: Runtime) -> tuple[dict[str, Any] | None, float | None]:
        """The result once a verification that is due has ended (tests and the benchmark)."""
        self.peek(rt)
        await self.refresher.wait(self.KEY)
        return self.result, self.checked_at

    async def _verify(self, rt: Runtime) -> None:
        started = rt.clock.now()
        verification = await verify_database(rt, since_checkpoint=True)
        self.result = {"ok": verification.ok, "events": verification.events,
                       "problems": len(verification.problems), "anchor": verification.anchor}
        self.checked_at = started


def chain_status(request: Request) -> ChainStatus:
    status: ChainStatus = request.app.state.console_chain
    return status


def _row(event: dict[str, Any]) -> dict[str, Any]:
    return {**event, "when": when(event["atMicros"] / 1e6),
            "details": json.dumps(event["data"], sort_keys=True, ensure_ascii=False)[:300] if event["data"] else ""}


@router.get("/audit")
async def audit_log(request: Request, user: SignedIn) -> Response:
    need(user, perm.AUDIT_READ)
    rt = runtime_of(request)
    errors: dict[str, str] = {}
    events: list[dict[str, Any]] = []
    next_cursor = None
    raw = {k: request.query_params.get(k, "")[:200] for k in ("type", "actor", "from", "to")}
    try:
        filters, raw = filters_of(request)
        cursor = request.query_params.get("cursor") or None
        found = await list_events(rt, user.tenant_id, filters, cursor=cursor[:60] if cursor else None,
                                  limit=PAGE_SIZE)
        events, next_cursor = [_row(e) for e in found["events"]], found["next"]
    except ValidationFailed as exc:
        for item in exc.errors:
            errors[str((item.get("loc") or ["_form"])[0])] = str(item.get("msg"))
    except InvalidRequest as exc:
        errors["_form"] = exc.description
    chain, checked = chain_status(request).peek(rt)
    query = urlencode({k: v for k, v in raw.items() if v})
    return await page(request, user, "audit.html", "audit",
                      {"events": events, "next": next_cursor, "raw": raw, "errors": errors, "chain": chain,
                       "checked": when(checked), "known_types": KNOWN_TYPES, "query": query,
                       "first_page": not request.query_params.get("cursor")},
                      status=400 if errors else 200)


def cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run: text starting with ``= + - @`` (or a tab/CR) gets a
    leading apostrophe (actors, subjects and user ids come from callers)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


async def _csv_lines(rt: Runtime, tenant_id: str, filters: Filters) -> AsyncIterator[str]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["seq", "at", "type", "actor", "subject", "ip", "request_id", "data"])
    cursor: str | None = None
    written = 0
    while written < CSV_MAX_ROWS:
        found = await list_events(rt, tenant_id, filters, cursor=cursor, limit=500)
        for e in found["events"]:
            writer.writerow([e["seq"], e["at"], cell(e["type"]), cell(e["actor"]), cell(e["subject"]), cell(e["ip"]),
                             cell(e["requestId"]), cell(json.dumps(e["data"], sort_keys=True) if e["data"] else "")])
        written += len(found["events"])
        yield out.getvalue()
        out.seek(0)
        out.truncate()
        cursor = found["next"]
        if cursor is None:
            return


@router.get("/audit.csv")
async def audit_csv(request: Request, user: SignedIn) -> Response:
    need(user, perm.AUDIT_READ)
    filters, _ = filters_of(request)
    rt = runtime_of(request)
    await list_events(rt, user.tenant_id, filters, limit=1)  # refuses a bad filter before the 200 starts
    headers = security_headers()
    headers["Content-Disposition"] = 'attachment; filename="audit-events.csv"'
    return StreamingResponse(_csv_lines(rt, user.tenant_id, filters), media_type="text/csv; charset=utf-8",
                             headers=headers)
