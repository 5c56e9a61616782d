"""``tokensmith apikeys create|list|show|revoke|rotate``. ``create --json`` prints exactly the body of
``POST /api-keys`` (the secret appears only there and in ``rotate``). The operator's CLI is not limited
by a creator's permissions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from tokensmith.cli.common import JSON_OPT, emit, fail, run_with_runtime
from tokensmith.errors import MessageError, ValidationFailed

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

T = TypeVar("T")

app = typer.Typer(help="API keys (server-to-server credentials clientId:secret).", no_args_is_help=True)
ACTOR = "cli"


def _run(work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run ``work``; validation errors become one readable line on stderr."""

    async def readable(rt: Runtime) -> T:
        try:
            return await work(rt)
        except ValidationFailed as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'request'}: {e['msg']}" for e in exc.errors)
            raise MessageError(problems) from None

    return run_with_runtime(readable)


def _timestamp(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--expires-at: not an ISO 8601 date-time: {value!r}", 2)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _line(v: dict[str, Any]) -> str:
    state = "revoked" if v.get("revokedAt") else ("active" if v["active"] else "inactive")
    return (f"{v['id']}\t{v['clientId']}\t{v['name']}\t{state}\t{' '.join(v['scopes'])}\t"
            f"expires {v['expiresAt'] or 'never'}\tlast used {v.get('lastUsedAt') or 'never'}")


@app.command("create")
def create(
    name: str = typer.Option(..., help="Display name."),
    scope: list[str] = typer.Option([], "--scope", help="A scope (repeat, or space-separated)."),
    expires_at: str | None = typer.Option(None, "--expires-at", help="ISO 8601 expiry (UTC when no offset)."),
    rate_limit: int | None = typer.Option(None, "--rate-limit", help="Requests per minute (default: tenant's)."),
    token_ttl: int | None = typer.Option(None, "--token-ttl", help="Session-token lifetime (s)."),
    organisation: list[str] = typer.Option([], "--organisation",
                                           help="Restrict session tokens to this organisation (repeat)."),
    allow_browser: bool = typer.Option(False, "--allow-browser", help="Accept browser-marked requests."),
    tenant: str = typer.Option("default", help="Tenant slug."),
    as_json: bool = JSON_OPT,
) -> None:
    """Create an API key; prints the secret once."""
    from tokensmith.apikeys import created_view
    from tokensmith.apikeys.management import create_api_key
    from tokensmith.tenants.provisioning import tenant_id_for

    scopes = [s for item in scope for s in item.split()]
    expiry = _timestamp(expires_at)

    async def work(rt: Runtime) -> dict[str, Any]:
        record, secret = await create_api_key(
            rt, tenant_id=await tenant_id_for(rt, tenant), name=name, scopes=scopes, expires_at=expiry,
            rate_limit=rate_limit, token_ttl=token_ttl, allowed_organisations=organisation or None,
            allow_browser=allow_browser, actor=ACTOR)
        return created_view(record, secret)

    emit(_run(work), as_json, lambda v: (
        f"id:       {v['id']}\nclientId: {v['clientId']}\nsecret:   {v['secret']}  (shown once)\n"
        f"X-API-Key: {v['clientId']}:{v['secret']}"))


@app.command("list")
def list_(
    tenant: str | None = typer.Option(None, help="Only this tenant (slug)."),
    include_revoked: bool = typer.Option(False, "--include-revoked", help="Also revoked keys."),
    as_json: bool = JSON_OPT,
) -> None:
    """List API keys (never their secrets)."""
    from tokensmith.apikeys import view
    from tokensmith.apikeys.management import list_api_keys
    from tokensmith.tenants.provisioning import tenant_id_for

    async def work(rt: Runtime) -> list[dict[str, Any]]:
        tid = await tenant_id_for(rt, tenant) if tenant else None
        return [view(r) for r in await list_api_keys(rt, tid, include_revoked=include_revoked)]

    emit(_run(work), as_json, lambda rows: "\n".join(_line(r) for r in rows) or "(no API keys)")


@app.command("show")
def show(key: str = typer.Argument(..., help="Key id or clientId."), as_json: bool = JSON_OPT) -> None:
    """One API key (never its secret)."""
    from tokensmith.apikeys import view
    from tokensmith.apikeys.management import get_api_key

    async def work(rt: Runtime) -> dict[str, Any]:
        return view(await get_api_key(rt, None, key))

    emit(_run(work), as_json, _line)


@app.command("revoke")
def revoke(key: str = typer.Argument(..., help="Key id or clientId."), as_json: bool = JSON_OPT) -> None:
    """Revoke an API key: it fails everywhere within a second, and so do the session tokens it issued."""
    from tokensmith.apikeys import view
    from tokensmith.apikeys.management import revoke_api_key

    async def work(rt: Runtime) -> dict[str, Any]:
        return view(await revoke_api_key(rt, None, key, actor=ACTOR))

    emit(_run(work), as_json, lambda v: f"API key {v['id']} ({v['clientId']}) revoked")


@app.command("rotate")
def rotate(
    key: str = typer.Argument(..., help="Key id or clientId."),
    grace: int = typer.Option(0, help="Seconds the old secret keeps working (default: none)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Issue a new secret (printed once); the old one stops working now or after the grace period."""
    from tokensmith.apikeys import created_view, view
    from tokensmith.apikeys.management import rotate_api_key

    async def work(rt: Runtime) -> dict[str, Any]:
        record, secret = await rotate_api_key(rt, None, key, grace_seconds=grace, actor=ACTOR)
        return {**created_view(record, secret), "previousSecretExpiresAt": view(record)["previousSecretExpiresAt"]}

    emit(_run(work), as_json, lambda v: (
        f"secret:   {v['secret']}  (shown once)\nX-API-Key: {v['clientId']}:{v['secret']}"
        + (f"\nold secret valid until {v['previousSecretExpiresAt']}" if v["previousSecretExpiresAt"] else "")))
