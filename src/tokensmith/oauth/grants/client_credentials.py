"""RFC 6749 §4.4 — Client Credentials Grant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tokensmith.clients import ClientRecord
from tokensmith.errors import InvalidRequest, InvalidScope, UnauthorizedClient
from tokensmith.oauth.client_auth import CONFIDENTIAL_CLIENTS
from tokensmith.oauth.grants.base import token_response
from tokensmith.oauth.request import OAuthRequest
from tokensmith.scopes import ScopeLanguages, parse_scope

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime


@dataclass(frozen=True)
class _Validated:
    scopes: list[str]
    audience: str | None


def check_client_allows_grant(client: ClientRecord, grant_type: str) -> None:
    if grant_type not in client.grant_types:
        raise UnauthorizedClient(f"this client may not use the {grant_type} grant")


def check_scope_within_role(client: ClientRecord, requested: list[str], languages: ScopeLanguages) -> list[str]:
    """§3.3: an absent scope means the client's whole allowance; anything beyond it is invalid_scope."""
    if not requested:
        return list(client.allowed_scopes)
    beyond = languages.not_covered(client.allowed_scopes, requested)
    if beyond:
        raise InvalidScope(f"scope not allowed for this client: {' '.join(beyond)[:200]}")
    return requested


class ClientCredentialsGrant:
    grant_type = "client_credentials"
    callers = CONFIDENTIAL_CLIENTS
    response_types: tuple[str, ...] = ()

    def __init__(self, scopes: ScopeLanguages) -> None:
        self._scopes = scopes

    async def validate(self, rt: Runtime, req: OAuthRequest, client: ClientRecord | None) -> _Validated:
        # §4.4: "The client credentials grant type MUST only be used by confidential clients."
        if client is None or not client.is_confidential:
            raise UnauthorizedClient("the client_credentials grant is for confidential clients only")
        check_client_allows_grant(client, self.grant_type)
        try:
            requested = parse_scope(req.form.get("scope"))
        except ValueError as exc:
            raise InvalidScope(str(exc)) from exc
        scopes = check_scope_within_role(client, requested, self._scopes)
        resource = req.get("resource")  # RFC 8707: the audience the client asks for
        if resource is not None and not resource.startswith(("http://", "https://", "urn:")):
            raise InvalidRequest("resource must be an absolute URI")
        return _Validated(scopes=scopes, audience=resource)

    async def create_response(self, rt: Runtime, req: OAuthRequest, client: ClientRecord | None,
                              validated: _Validated) -> dict[str, Any]:
        assert client is not None
        token = await rt.issuer.issue(
            fmt=client.access_token_format, subject=client.client_id, client_id=client.client_id,
            tenant_id=client.tenant_id, scopes=validated.scopes, ttl=client.access_token_ttl,
            audience=validated.audience,
        )
        rt.audit.record("token.issued", tenant_id=client.tenant_id, actor=client.client_id,
                        subject=token.jti, ip=req.client_ip, request_id=req.request_id,
                        grant=self.grant_type, format=client.access_token_format, scope=validated.scopes)
        rt.metrics.child(rt.metrics.tokens_issued, self.grant_type, client.client_id).inc()
        return token_response(token, validated.scopes)
