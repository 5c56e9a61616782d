"""RFC 6749 §4.1.3 — the authorization code grant, with PKCE (RFC 7636 §4.5, §4.6, S256 only) and OpenID
Connect's ID token (Core §3.1.3.3).

Confidential clients authenticate with their registered method; public clients send ``client_id`` alone
(``none``) and are protected by PKCE. The code is used up before anything else is checked, so a code is
never good twice, whatever the outcome; a code presented again revokes the session its first exchange
created — every access and refresh token issued from it (§4.1.2, §10.5).
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from tokensmith.clients import ClientRecord
from tokensmith.clock import utc
from tokensmith.codeflow.codes import CodeGrant, claim_for_issue, redeem_code, revoke_grant
from tokensmith.codeflow.id_token import id_token
from tokensmith.crypto import constant_time_equal
from tokensmith.errors import InvalidGrant, InvalidRequest
from tokensmith.ids import random_token
from tokensmith.oauth.client_auth import CLIENT, CallerPolicy
from tokensmith.oauth.grants.base import token_response
from tokensmith.oauth.grants.client_credentials import check_client_allows_grant
from tokensmith.oauth.request import OAuthRequest
from tokensmith.people.db import transaction
from tokensmith.people.sessions import refresh_token_row, revoke_session
from tokensmith.storage.models import Session, Token, User
from tokensmith.tokens.formats import IssuedToken

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")  # RFC 7636 §4.1
_S = Session.__table__
_T = Token.__table__
_U = User.__table__
OAUTH_SESSION = "oauth"


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class _Validated:
    grant: CodeGrant
    #: the browser session's end, for a refresh token bound to it (online_access)
    online_until: datetime | None


class AuthorizationCodeGrant:
    grant_type = "authorization_code"
    callers = CallerPolicy(frozenset({CLIENT}), allow_public=True)
    response_types: tuple[str, ...] = ("code",)

    async def validate(self, rt: Runtime, req: OAuthRequest, client: ClientRecord | None) -> _Validated:
        assert client is not None
        check_client_allows_grant(client, self.grant_type)
        code, verifier = req.get("code"), req.get("code_verifier")
        if code is None:
            raise InvalidRequest("code is required")
        if verifier is None:
            raise InvalidRequest("code_verifier is required (PKCE)")
        if not _VERIFIER.match(verifier):
            raise InvalidRequest("code_verifier must be 43 to 128 unreserved characters (RFC 7636 §4.1)")
        redeemed = await redeem_code(rt, code[:200], client.client_id)
        if redeemed.replayed is not None:
            await _revoke_replayed(rt, redeemed.replayed, req)
            raise InvalidGrant("the authorization code was already used; the tokens issued from it are revoked")
        if redeemed.grant is None:
            raise InvalidGrant("the authorization code is invalid or expired", debug=redeemed.refusal)
        grant = redeemed.grant
        given = req.get("redirect_uri")
        if (grant.redirect_uri_given or given is not None) and given != grant.redirect_uri:
            raise InvalidGrant("redirect_uri does not match the authorization request")
        if not constant_time_equal(s256(verifier), grant.code_challenge):
            raise InvalidGrant("code_verifier does not match the code_challenge")
        online_until = None
        if "online_access" in grant.scopes:
            online_until = await _live_browser_session(rt, grant.browser_session_id)
            if online_until is None:
                raise InvalidGrant("the sign-in session of this authorization has ended")
        return _Validated(grant, online_until)

    async def create_response(self, rt: Runtime, req: OAuthRequest, client: ClientRecord | None,
                              validated: _Validated) -> dict[str, Any]:
        assert client is not None
        grant = validated.grant
        now = rt.clock.now()
        ttl = rt.settings.code_flow_access_token_ttl
        wants_refresh = (bool({"offline_access", "online_access"} & set(grant.scopes))
                         and "refresh_token" in client.grant_types)
        if validated.online_until is not None:
            ends = validated.online_until
        else:
            ends = utc(now + (rt.settings.session_absolute_timeout if wants_refresh else ttl))
        refresh = random_token(32) if wants_refresh else None
        access = await _start_session(rt, grant, client, ends, refresh, req)
        launch = grant.launch
        members: dict[str, Any] = launch.token_response_members() if launch is not None else {}
        if refresh is not None:
            members["refresh_token"] = refresh
        if "openid" in grant.scopes:
            members["id_token"] = await id_token(
                rt, client_id=client.client_id, user_id=grant.user_id, auth_time=grant.auth_time, nonce=grant.nonce,
                amr=grant.amr, access_token=access.value, session_id=grant.session_id, scopes=grant.scopes,
                fhir_user=launch.fhir_user if launch is not None else None)
        rt.audit.record("token.issued", tenant_id=grant.tenant_id, actor=client.client_id, subject=access.jti,
                        ip=req.client_ip, request_id=req.request_id, grant=self.grant_type, user_id=grant.user_id,
                        session_id=grant.session_id, scope=list(grant.scopes), refresh=refresh is not None)
        rt.metrics.child(rt.metrics.tokens_issued, self.grant_type, client.client_id).inc()
        return token_response(access, list(grant.scopes), **members)


async def _live_browser_session(rt: Runtime, session_id: str) -> datetime | None:
    """The end of a browser session that is still live, else None."""
    now = utc(rt.clock.now())
    async with rt.db.session() as session:
        found: datetime | None = (await session.execute(select(_S.c.expires_at).where(
            _S.c.id == session_id, _S.c.kind == "browser", _S.c.revoked_at.is_(None),
            _S.c.expires_at > now))).scalar()
    return found


async def _start_session(rt: Runtime, grant: CodeGrant, client: ClientRecord, ends: datetime,
                         refresh: str | None, req: OAuthRequest) -> IssuedToken:
    """The code-flow session (its id fixed by the code), its first refresh token and its access token (a
    stored one in the same transaction), after claiming the code: a replay seen meanwhile stops it here.
    The user must still be active."""
    now = utc(rt.clock.now())
    online = "online_access" in grant.scopes
    async with transaction(rt) as conn:
        if not await claim_for_issue(rt, conn, grant):
            raise InvalidGrant("the authorization code was already used; the tokens issued from it are revoked")
        await conn.execute(_S.insert().values(
            id=grant.session_id, tenant_id=grant.tenant_id, kind=OAUTH_SESSION, user_id=grant.user_id,
            client_id=client.client_id, created_at=now, last_seen_at=now, expires_at=ends, revoked_at=None,
            revoked_reason=None, ip=req.client_ip, user_agent=None,
            parent_id=grant.browser_session_id if online else None))
        status = (await conn.execute(select(_U.c.status).where(_U.c.id == grant.user_id))).scalar()
        if status != "active" or rt.tenants.is_disabled(grant.tenant_id):
            raise InvalidGrant("the user of this authorization cannot sign in any more")
        if refresh is not None:
            claims = {"auth_time": grant.auth_time, "amr": list(grant.amr), "aud": grant.audience,
                      "launch": grant.launch.claims() if grant.launch else None}
            await conn.execute(_T.insert().values(**refresh_token_row(
                rt, refresh, tenant_id=grant.tenant_id, user_id=grant.user_id, session_id=grant.session_id,
                expires_at=ends, client_id=client.client_id, scopes=list(grant.scopes), claims=claims)))
        extra = grant.launch.access_token_claims() if grant.launch is not None else None
        access = await rt.issuer.issue(fmt=client.access_token_format, subject=grant.user_id,
                                       client_id=client.client_id, tenant_id=grant.tenant_id,
                                       scopes=list(grant.scopes), ttl=rt.settings.code_flow_access_token_ttl,
                                       audience=grant.audience, session_id=grant.session_id,
                                       user_id=grant.user_id, extra=extra, conn=conn)
    rt.audit.record("session.created", tenant_id=grant.tenant_id, actor=f"user:{grant.user_id}",
                    subject=grant.session_id, ip=req.client_ip, kind=OAUTH_SESSION, client_id=client.client_id,
                    online=online)
    return access


async def _revoke_replayed(rt: Runtime, grant: CodeGrant, req: OAuthRequest) -> None:
    rt.audit.record("authorization_code.replayed", tenant_id=grant.tenant_id, actor=grant.client_id,
                    subject=grant.session_id, ip=req.client_ip, request_id=req.request_id, user_id=grant.user_id)
    # The mark and the feed entry first: the first exchange may still be writing the grant (module
    # docstring of tokensmith.codeflow.codes); its session rows are revoked once they exist.
    await revoke_grant(rt, grant)
    await revoke_session(rt, grant.session_id, reason="authorization code replayed", actor="system",
                         ip=req.client_ip, request_id=req.request_id)
