"""RFC 7009 for the refresh tokens of the authorization-code flow (registered in
:mod:`tokensmith.authorization`).

§2.1 requires a server that issues refresh tokens to let their client revoke them, and asks that the
access tokens of the same grant stop working too. A code-flow grant is one ``oauth`` session, so
revoking any of its refresh tokens (the current one or a rotated-away one: both are the client's)
revokes that session, which ends every token under it, with the ``sid`` published to the guards.

Only the client the token was issued to may revoke it; another client gets the same 200 and nothing
happens. Sign-in refresh tokens (``/auth/refresh``) belong to no client and are not revoked here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from tokensmith.clients import ClientRecord
from tokensmith.ids import MAX_TOKEN_LENGTH
from tokensmith.oauth.request import OAuthRequest
from tokensmith.people.sessions import revoke_session
from tokensmith.storage.models import Session, Token

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

_T = Token.__table__
_S = Session.__table__


class CodeFlowRefreshTokenRevoker:
    hint = "refresh_token"

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    async def revoke(self, token: str, client: ClientRecord, req: OAuthRequest) -> bool:
        """True when ``token`` is a code-flow refresh token (revoked, or refused as another client's)."""
        rt = self._rt
        if len(token) > MAX_TOKEN_LENGTH:
            return False
        async with rt.db.session() as session:
            row = (await session.execute(
                select(_T.c.id, _T.c.session_id, _T.c.client_id, _T.c.tenant_id)
                .select_from(_T.join(_S, _S.c.id == _T.c.session_id))
                .where(_T.c.token_hash == rt.master.secret_hash(token), _T.c.kind == "refresh",
                       _S.c.kind == "oauth"))).first()
        if row is None:
            return False
        if row.client_id != client.client_id or row.tenant_id != client.tenant_id:
            rt.audit.record("token.revoke_refused", tenant_id=client.tenant_id, actor=client.client_id,
                            subject=row.id, ip=req.client_ip, request_id=req.request_id,
                            reason="token belongs to another client")
            return True
        ended = await revoke_session(rt, row.session_id, reason="refresh token revoked", actor=client.client_id,
                                     tenant_id=row.tenant_id, ip=req.client_ip, request_id=req.request_id)
        if not ended:  # the grant had ended already (revoked, reused, consent withdrawn): nothing to record
            return True
        rt.audit.record("token.revoked", tenant_id=client.tenant_id, actor=client.client_id, subject=row.id,
                        ip=req.client_ip, request_id=req.request_id, kind="refresh_token",
                        session_id=row.session_id)
        rt.metrics.revocations.labels("refresh_token").inc()
        return True
