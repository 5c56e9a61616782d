"""API keys (spec E) in the console: list, create (scopes chosen from what the user holds; the secret shown
once), edit, rotate with a grace period, revoke (confirmed). Same services and permission checks as
``/api-keys`` (``ApiKey.read`` / ``ApiKey.write``, never scopes beyond the user's own)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tokensmith import permissions as perm
from tokensmith.apikeys import ApiKeyRecord
from tokensmith.apikeys import management as service
from tokensmith.audit.listing import Filters, list_events
from tokensmith.console.common import (
    Confirmation,
    SignedIn,
    checkbox,
    confirm_page,
    confirmed,
    form_errors,
    lines,
    need,
    new_router,
    page,
    request_context,
    runtime_of,
    shown_error,
    when,
    whole_number,
)
from tokensmith.errors import ServiceError, ValidationFailed
from tokensmith.web.pages import see_other
from tokensmith.web.session import BrowserUser
from tokensmith.web.views import CheckedForm, checked_form

router = new_router()
FIELDS = {"name": "name", "scopes": "scopes", "expiresAt": "expires_at", "rateLimit": "rate_limit",
          "gracePeriodSeconds": "grace_seconds", "active": "active", "tokenTtl": "_form"}
BROWSER_LOOKBACK_DAYS = 30
PAGE_SIZE = 100


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed([{"loc": [field], "msg": message, "type": "value_error"}])


def parse_date(value: str, field: str = "expiresAt") -> float | None:
    """A ``YYYY-MM-DD`` (end of that day, UTC) or ``YYYY-MM-DDTHH:MM`` (UTC) field; empty: none."""
    value = value.strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _invalid(field, "enter a date as YYYY-MM-DD") from None
    if len(value) == 10:
        parsed += timedelta(hours=23, minutes=59, seconds=59)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def parse_int(value: str, field: str, low: int, high: int) -> int | None:
    value = value.strip()
    if not value:
        return None
    number = whole_number(value)
    if number is None or not low <= number <= high:
        raise _invalid(field, f"enter a whole number from {low} to {high}")
    return number


def chosen_scopes(form: CheckedForm) -> list[str]:
    """The ticked permission boxes (``scope`` fields) plus the free-text ``scopes_other`` field."""
    ticked = [v for k, v in form.fields.items() if k.startswith("scope:") and v]
    return list(dict.fromkeys([*ticked, *lines(form.get("scopes_other"))]))


async def browser_flagged(request: Request, tenant_id: str) -> set[str]:
    """Ids of the tenant's keys that a browser sent in the last 30 days (audited as possible leaks)."""
    rt = runtime_of(request)
    since = datetime.fromtimestamp(rt.clock.now(), UTC) - timedelta(days=BROWSER_LOOKBACK_DAYS)
    found = await list_events(rt, tenant_id, Filters(type="apikey.browser_use", since=since), limit=500)
    return {e["subject"] for e in found["events"] if e["subject"]}


def row_view(record: ApiKeyRecord, pending_last_used: float | None, flagged: set[str]) -> dict[str, Any]:
    used = max(filter(None, (record.last_used_at, pending_last_used)), default=None)
    state = "revoked" if record.revoked_at else ("inactive" if not record.active else "active")
    return {"id": record.id, "name": record.name, "client_id": record.client_id, "scopes": record.scopes,
            "last_used": when(used), "expires": when(record.expires_at), "state": state,
            "rate_limit": record.effective_rate_limit, "own_rate_limit": record.rate_limit,
            "browser": record.id in flagged, "allow_browser": record.allow_browser,
            "expires_input": datetime.fromtimestamp(record.expires_at, UTC).strftime("%Y-%m-%d")
            if record.expires_at else "", "revoked": record.revoked_at is not None, "active": record.active,
            "grace_until": when(record.previous_secret_expires_at) if record.previous_secret_expires_at else None}


@router.get("/api-keys")
async def list_keys(request: Request, user: SignedIn) -> Response:
    need(user, perm.API_KEY_READ)
    rt = runtime_of(request)
    show_revoked = request.query_params.get("revoked") == "1"
    total = await service.count_api_keys(rt, user.tenant_id, include_revoked=show_revoked)
    number = page_number(request.query_params.get("page", "1"), total)
    records = await service.list_api_keys(rt, user.tenant_id, include_revoked=show_revoked, limit=PAGE_SIZE,
                                          offset=(number - 1) * PAGE_SIZE)
    flagged = await browser_flagged(request, user.tenant_id)
    rows = [row_view(r, rt.apikeys.usage.pending(r.id), flagged) for r in records]
    return await page(request, user, "apikeys.html", "apikeys",
                      {"keys": rows, "show_revoked": show_revoked, "total": total, "page_number": number,
                       "pages": max(1, -(-total // PAGE_SIZE)), "revoked_query": "&revoked=1" if show_revoked else ""})


def page_number(value: str, total: int) -> int:
    """The 1-based page asked for, within the pages there are (anything else: the first)."""
    pages = max(1, -(-total // PAGE_SIZE))
    number = whole_number(value)
    return number if number is not None and 1 <= number <= pages else 1


async def _new_form(request: Request, user: BrowserUser, errors: dict[str, str] | None = None,
                    form: CheckedForm | None = None, status: int = 200) -> Response:
    values = form.fields if form else {}
    ticked = set(chosen_scopes(form)) if form else set()
    return await page(request, user, "apikey_new.html", "apikeys",
                      {"errors": errors or {}, "values": values, "held": user.permissions, "ticked": ticked},
                      status=status)


@router.get("/api-keys/new")
async def new_key(request: Request, user: SignedIn) -> Response:
    need(user, perm.API_KEY_WRITE)
    return await _new_form(request, user)


@router.post("/api-keys/new")
async def create_key(request: Request, user: SignedIn) -> Response:
    form = await checked_form(request)
    need(user, perm.API_KEY_WRITE)
    rt = runtime_of(request)
    try:
        scopes = chosen_scopes(form)
        if not scopes:
            raise _invalid("scopes", "choose at least one scope")
        record, secret = await service.create_api_key(
            rt, tenant_id=user.tenant_id, name=form.get("name"), scopes=scopes,
            expires_at=parse_date(form.get("expires_at")),
            rate_limit=parse_int(form.get("rate_limit"), "rateLimit", 1, service.MAX_RATE_LIMIT),
            creator_scopes=user.permissions, **request_context(request, user))
    except ServiceError as exc:
        if not shown_error(exc):
            raise
        return await _new_form(request, user, form_errors(exc, FIELDS), form, status=exc.status)
    return await _secret_page(request, user, record, secret, "created")


async def _secret_page(request: Request, user: BrowserUser, record: ApiKeyRecord, secret: str,
                       how: str) -> Response:
    return await page(request, user, "apikey_secret.html", "apikeys",
                      {"key": record, "api_key": f"{record.client_id}:{secret}", "how": how,
                       "grace_until": when(record.previous_secret_expires_at),
                       "exchange_url": runtime_of(request).settings.issuer.rstrip("/") + "/api/v1/token/"},
                      scripts=True)


async def _detail(request: Request, user: BrowserUser, key_id: str, errors: dict[str, str] | None = None,
                  status: int = 200, message: str | None = None) -> Response:
    rt = runtime_of(request)
    record = await service.get_api_key(rt, user.tenant_id, key_id)
    flagged = await browser_flagged(request, user.tenant_id)
    return await page(request, user, "apikey_detail.html", "apikeys",
                      {"key": row_view(record, rt.apikeys.usage.pending(record.id), flagged),
                       "errors": errors or {}, "message": message,
                       "max_grace": rt.settings.api_key_max_grace_period}, status=status)


@router.get("/api-keys/{key_id}")
async def key_detail(key_id: str, request: Request, user: SignedIn) -> Response:
    need(user, perm.API_KEY_READ)
    return await _detail(request, user, key_id, message={"saved": "Changes saved.", "revoked": "The key is revoked."}
                         .get(request.query_params.get("done", "")))


@router.post("/api-keys/{key_id}/edit")
async def edit_key(key_id: str, request: Request, user: SignedIn) -> Response:
    form = await checked_form(request)
    need(user, perm.API_KEY_WRITE)
    rt = runtime_of(request)
    try:
        changes: dict[str, Any] = {
            "name": form.get("name"), "active": checkbox(form.get("active")),
            "expires_at": parse_date(form.get("expires_at")),
            "rate_limit": parse_int(form.get("rate_limit"), "rateLimit", 1, service.MAX_RATE_LIMIT),
        }
        scopes = lines(form.get("scopes"), service.MAX_SCOPES + 1)
        if scopes:
            changes["scopes"] = scopes
        await service.update_api_key(rt, user.tenant_id, key_id, changes, creator_scopes=user.permissions,
                                     **request_context(request, user))
    except ServiceError as exc:
        if not shown_error(exc) or exc.status == 404:
            raise
        return await _detail(request, user, key_id, form_errors(exc, FIELDS), status=exc.status)
    return see_other(f"/console/api-keys/{key_id}?done=saved")


@router.post("/api-keys/{key_id}/rotate")
async def rotate_key(key_id: str, request: Request, user: SignedIn) -> Response:
    form = await checked_form(request)
    need(user, perm.API_KEY_WRITE)
    rt = runtime_of(request)
    try:
        grace = parse_int(form.get("grace_seconds"), "gracePeriodSeconds", 0,
                          rt.settings.api_key_max_grace_period) or 0
        record, secret = await service.rotate_api_key(rt, user.tenant_id, key_id, grace_seconds=grace,
                                                      creator_scopes=user.permissions,
                                                      **request_context(request, user))
    except ServiceError as exc:
        if not shown_error(exc) or exc.status == 404:
            raise
        return await _detail(request, user, key_id, form_errors(exc, FIELDS), status=exc.status)
    return await _secret_page(request, user, record, secret, "rotated")


async def _revoke_confirmation(request: Request, user: BrowserUser, key_id: str) -> Confirmation:
    record = await service.get_api_key(runtime_of(request), user.tenant_id, key_id)
    return Confirmation(
        title=f"Revoke the API key {record.name}?",
        explanation=f"clientId {record.client_id}. Every request and session exchange with this key fails from "
                    "now on, and the session tokens it obtained stop working. This cannot be undone.",
        action=f"/console/api-keys/{key_id}/revoke",
        check="I understand: every request with this key fails from now on, and this cannot be undone.",
        button="Revoke the key", cancel=f"/console/api-keys/{key_id}")


@router.get("/api-keys/{key_id}/revoke")
async def confirm_revoke(key_id: str, request: Request, user: SignedIn) -> Response:
    need(user, perm.API_KEY_WRITE)
    return await confirm_page(request, user, "apikeys", await _revoke_confirmation(request, user, key_id))


@router.post("/api-keys/{key_id}/revoke")
async def revoke_key(key_id: str, request: Request, user: SignedIn) -> Response:
    form = await checked_form(request)
    need(user, perm.API_KEY_WRITE)
    if not confirmed(form.fields):
        return await confirm_page(request, user, "apikeys", await _revoke_confirmation(request, user, key_id),
                                  error="Tick the box to confirm the revocation.", status=400)
    await service.revoke_api_key(runtime_of(request), user.tenant_id, key_id, **request_context(request, user))
    return see_other(f"/console/api-keys/{key_id}?done=revoked")
