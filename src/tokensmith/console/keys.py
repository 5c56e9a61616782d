"""Signing keys: their states (next → active → retired, and revoked), rotation, and revocation behind a
confirmation page. The keys sign every tenant's tokens, so only the platform tenant's users with
``SigningKey.read`` / ``SigningKey.write`` see or change them (a tenant's own admin does not)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from tokensmith import signing_keys as service
from tokensmith.console.common import (
    SIGNING_KEY_READ,
    SIGNING_KEY_WRITE,
    SignedIn,
    actor,
    checkbox,
    need_signing_keys,
    new_router,
    page,
    runtime_of,
)
from tokensmith.errors import InvalidRequest, NotFound
from tokensmith.web.pages import see_other
from tokensmith.web.views import checked_form

router = new_router()
ORDER = {"next": 0, "active": 1, "retired": 2, "revoked": 3}
DONE = {"rotated": "Rotated: the next key signs now, the previous one is retired.",
        "revoked": "The key is revoked: tokens it signed fail everywhere within a second."}


def _short(value: str | None) -> str:
    return value.replace("T", " ")[:16] + " UTC" if value else "—"


@router.get("/signing-keys")
async def signing_keys(request: Request, user: SignedIn) -> Response:
    rt = runtime_of(request)
    await need_signing_keys(rt, user, SIGNING_KEY_READ)
    keys = sorted(await service.list_keys(rt), key=lambda k: (ORDER.get(k["status"], 9), k["created_at"] or ""),
                  reverse=False)
    rows = [{**k, "created": _short(k["created_at"]), "until": _short(k["publish_until"]),
             "revoked": _short(k["revoked_at"])} for k in keys]
    return await page(request, user, "signing_keys.html", "keys",
                      {"keys": rows, "message": DONE.get(request.query_params.get("done", "")),
                       "may_write": user.allows(SIGNING_KEY_WRITE)})


@router.post("/signing-keys/rotate")
async def rotate(request: Request, user: SignedIn) -> Response:
    await checked_form(request)
    rt = runtime_of(request)
    await need_signing_keys(rt, user, SIGNING_KEY_WRITE)
    await service.rotate_keys(rt, actor=actor(user))
    return see_other("/console/signing-keys?done=rotated")


async def _key(request: Request, kid: str) -> dict[str, str | None]:
    for key in await service.list_keys(runtime_of(request)):
        if key["kid"] == kid:
            return key
    raise NotFound("signing key not found")


@router.get("/signing-keys/{kid}/revoke")
async def confirm_revoke(kid: str, request: Request, user: SignedIn) -> Response:
    await need_signing_keys(runtime_of(request), user, SIGNING_KEY_WRITE)
    return await page(request, user, "signing_key_revoke.html", "keys", {"key": await _key(request, kid)})


@router.post("/signing-keys/{kid}/revoke")
async def revoke(kid: str, request: Request, user: SignedIn) -> Response:
    form = await checked_form(request)
    rt = runtime_of(request)
    await need_signing_keys(rt, user, SIGNING_KEY_WRITE)
    key = await _key(request, kid)
    if not checkbox(form.get("confirm")):
        return await page(request, user, "signing_key_revoke.html", "keys",
                          {"key": key, "errors": {"confirm": "Tick the box to confirm."}}, status=400)
    try:
        await service.revoke_key(rt, kid, actor=actor(user))
    except InvalidRequest as exc:
        return await page(request, user, "signing_key_revoke.html", "keys",
                          {"key": key, "errors": {"_form": exc.description}}, status=400)
    return see_other("/console/signing-keys?done=revoked")
