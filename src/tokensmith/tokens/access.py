"""Access tokens (every registered format) at the introspection (RFC 7662) and revocation (RFC 7009)
endpoints: the introspector and the revoker of the ``access_token`` kind."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tokensmith.clients import ClientRecord
from tokensmith.oauth.client_auth import Caller
from tokensmith.oauth.introspection import access_token_response
from tokensmith.oauth.request import OAuthRequest

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime


class AccessTokenIntrospector:
    hint = "access_token"

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    async def introspect(self, token: str, caller: Caller) -> dict[str, Any] | None:
        info, _reason = await self._rt.verifier.verify_access_token(token)
        return access_token_response(info.claims) if info is not None else None


class AccessTokenRevoker:
    hint = "access_token"

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    async def revoke(self, token: str, client: ClientRecord, req: OAuthRequest) -> bool:
        rt = self._rt
        info, _ = await rt.verifier.verify_access_token(token)
        if info is None:
            return False
        if info.client_id != client.client_id:
            rt.audit.record("token.revoke_refused", tenant_id=client.tenant_id, actor=client.client_id,
                            subject=info.claims.get("jti"), ip=req.client_ip, request_id=req.request_id,
                            reason="token belongs to another client")
            return True
        jti = info.claims.get("jti")
        exp = info.claims.get("exp")
        async with rt.db.session() as session:
            await rt.verifier.formats.get(info.format).revoke(session, info, rt.clock.now())
            await rt.revocations.revoke(session, "jti", str(jti), expires_at=float(exp) if exp else None)
        rt.audit.record("token.revoked", tenant_id=client.tenant_id, actor=client.client_id, subject=str(jti),
                        ip=req.client_ip, request_id=req.request_id, format=info.format)
        rt.metrics.revocations.labels("access_token").inc()
        return True
