"""RFC 6749 §3.2 — the token endpoint: a pipeline of named checks, then dispatch to the grant."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tokensmith.errors import InvalidRequest, UnauthorizedClient
from tokensmith.oauth.client_auth import authenticate_client
from tokensmith.oauth.grants import GrantRegistry
from tokensmith.oauth.request import OAuthRequest

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime


async def handle_token_request(rt: Runtime, grants: GrantRegistry, req: OAuthRequest) -> dict[str, Any]:
    grant_type = req.form.get("grant_type")
    if not grant_type:
        raise InvalidRequest("grant_type is required")
    grant = grants.get(grant_type)  # unsupported_grant_type
    client = None
    if not grant.authenticates_itself:
        client = await authenticate_client(rt, req, allow_public=grant.allows_public_clients)
        if not client.is_confidential and not grant.allows_public_clients:
            raise UnauthorizedClient(f"public clients may not use the {grant_type} grant")
    validated = await grant.validate(rt, req, client)
    return await grant.create_response(rt, req, client, validated)
