"""RFC 7009 — Token Revocation. Only the client a token was issued to may revoke it; invalid or
foreign tokens get the same 200 as revoked ones (§2.2), so the endpoint reveals nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import update

from tokensmith.errors import InvalidRequest
from tokensmith.oauth.client_auth import authenticate_client
from tokensmith.oauth.request import OAuthRequest
from tokensmith.storage.models import Token

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

# Other features (refresh tokens, user tokens) register revokers: they return True when they handled it.
Revoker = Callable[[Any, str, Any, OAuthRequest], Awaitable[bool]]


async def revoke_access_token(rt: Runtime, token: str, client: Any, req: OAuthRequest) -> bool:
    info, _ = await rt.verifier.verify_access_token(token)
    if info is None:
        return False
    if info.client_id != getattr(client, "client_id", None):
        rt.audit.record("token.revoke_refused", tenant_id=client.tenant_id, actor=client.client_id,
                        subject=info.claims.get("jti"), ip=req.client_ip, request_id=req.request_id,
                        reason="token belongs to another client")
        return True
    jti = info.claims.get("jti")
    exp = info.claims.get("exp")
    async with rt.db.session() as session:
        if info.format == "opaque" and info.row_id:
            await session.execute(update(Token).where(Token.id == info.row_id)
                                  .values(revoked_at=datetime.fromtimestamp(rt.clock.now(), UTC)))
        await rt.revocations.revoke(session, "jti", str(jti), expires_at=float(exp) if exp else None)
    rt.audit.record("token.revoked", tenant_id=client.tenant_id, actor=client.client_id, subject=str(jti),
                    ip=req.client_ip, request_id=req.request_id, format=info.format)
    rt.metrics.revocations.labels("access_token").inc()
    return True


async def revoke(rt: Runtime, revokers: list[Revoker], req: OAuthRequest) -> None:
    client = await authenticate_client(rt, req, allow_public=True)
    token = req.form.get("token")
    if not token:
        raise InvalidRequest("token is required")
    for revoker in revokers:
        if await revoker(rt, token, client, req):
            return
