"""RFC 6749 §6 — the refresh token grant for clients of the authorization-code flow.

The rotation, reuse detection and grace rules are those of ``/auth/refresh``
(:func:`tokensmith.people.refresh.rotate_refresh_token`, on ``oauth`` sessions, the token's own client
only): every refresh uses up the token and returns its successor; a used token presented again within
``refresh_reuse_grace`` is a concurrent refresh, within ``refresh_retry_window`` (successor unused) a retry,
otherwise a copy — and the whole session is revoked. ``scope`` may narrow the grant for this access token
(§6: never widen); the refresh token keeps the original grant. Scopes of tokensmith's own language are
re-checked against the user's permissions as they are now.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from tokensmith.clients import ClientRecord
from tokensmith.codeflow.id_token import id_token
from tokensmith.codeflow.launch import LaunchContext
from tokensmith.codeflow.scope_words import IDENTITY_SCOPES
from tokensmith.errors import InvalidGrant, InvalidRequest, InvalidScope, MessageError
from tokensmith.oauth.client_auth import CLIENT, CallerPolicy
from tokensmith.oauth.grants.base import token_response
from tokensmith.oauth.grants.client_credentials import check_client_allows_grant
from tokensmith.oauth.request import OAuthRequest
from tokensmith.people.db import autocommit
from tokensmith.people.login import Context
from tokensmith.people.refresh import Rotated, rotate_refresh_token
from tokensmith.scopes import ScopeLanguages, covered_by_any, parse_scope
from tokensmith.storage.models import Token

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime


_T = Token.__table__


class RefreshTokenGrant:
    grant_type = "refresh_token"
    callers = CallerPolicy(frozenset({CLIENT}), allow_public=True)
    response_types: tuple[str, ...] = ()

    def __init__(self, scopes: ScopeLanguages) -> None:
        self._scopes = scopes

    async def validate(self, rt: Runtime, req: OAuthRequest, client: ClientRecord | None) -> list[str]:
        assert client is not None
        check_client_allows_grant(client, self.grant_type)
        token = req.get("refresh_token")
        if token is None:
            raise InvalidRequest("refresh_token is required")
        try:
            requested = parse_scope(req.form.get("scope"))
        except ValueError as exc:
            raise InvalidScope(str(exc)) from exc
        if requested:  # judged before the rotation uses the token up (only when narrowing: one read more)
            _beyond_original(requested, await _granted_scopes(rt, token[:512], client.client_id))
        return requested

    async def create_response(self, rt: Runtime, req: OAuthRequest, client: ClientRecord | None,
                              requested: list[str]) -> dict[str, Any]:
        assert client is not None
        token = req.form["refresh_token"][:512]
        ctx = Context(ip=req.client_ip, user_agent=req.headers.get("user-agent"), request_id=req.request_id)
        try:
            rotated, new_value = await rotate_refresh_token(rt, token, ctx, session_kind="oauth",
                                                            client_id=client.client_id)
        except MessageError as exc:
            raise InvalidGrant(exc.description, debug=exc.debug) from exc
        scopes = self._scopes_now(rotated, requested)
        claims = rotated.claims
        launch = LaunchContext.from_claims(claims.get("launch"))
        extra = launch.access_token_claims() if launch is not None else None
        access = await rt.issuer.issue(fmt=client.access_token_format, subject=rotated.user_id,
                                       client_id=client.client_id, tenant_id=rotated.tenant_id, scopes=scopes,
                                       ttl=rt.settings.code_flow_access_token_ttl, audience=claims.get("aud"),
                                       session_id=rotated.session_id, user_id=rotated.user_id, extra=extra)
        members: dict[str, Any] = launch.token_response_members() if launch is not None else {}
        members["refresh_token"] = new_value
        if "openid" in scopes:
            members["id_token"] = await id_token(
                rt, client_id=client.client_id, user_id=rotated.user_id, auth_time=int(claims.get("auth_time", 0)),
                nonce=None, amr=claims.get("amr") or [], access_token=access.value, session_id=rotated.session_id,
                scopes=scopes, fhir_user=launch.fhir_user if launch is not None else None)
        rt.audit.record("token.refreshed", tenant_id=rotated.tenant_id, actor=client.client_id, subject=access.jti,
                        ip=req.client_ip, request_id=req.request_id, user_id=rotated.user_id,
                        session_id=rotated.session_id, scope=scopes)
        rt.metrics.child(rt.metrics.tokens_issued, self.grant_type, client.client_id).inc()
        return token_response(access, scopes, **members)

    def _scopes_now(self, rotated: Rotated, requested: list[str]) -> list[str]:
        original = list(rotated.scopes)
        if requested:
            _beyond_original(requested, original)
            original = requested
        languages = self._scopes
        return [s for s in original if s in IDENTITY_SCOPES or languages.language_of(s) is not languages.default
                or covered_by_any(rotated.permissions, s)]


def _beyond_original(requested: list[str], original: list[str] | None) -> None:
    if original is None:
        return  # an unknown token: the rotation refuses it
    beyond = [s for s in requested if s not in original]
    if beyond:
        raise InvalidScope(f"scope beyond the original grant: {' '.join(beyond)[:200]}")


async def _granted_scopes(rt: Runtime, token: str, client_id: str) -> list[str] | None:
    async with autocommit(rt) as conn:
        scopes = (await conn.execute(select(_T.c.scopes).where(
            _T.c.token_hash == rt.master.secret_hash(token), _T.c.kind == "refresh",
            _T.c.client_id == client_id))).first()
    return list(scopes[0] or []) if scopes is not None else None
