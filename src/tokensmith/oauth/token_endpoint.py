"""RFC 6749 §3.2 — the token endpoint: a pipeline of named checks, then dispatch to the grant."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tokensmith.errors import InvalidRequest
from tokensmith.oauth.client_auth import ClientAuthRegistry
from tokensmith.oauth.grants import GrantRegistry
from tokensmith.oauth.request import OAuthRequest

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime


async def handle_token_request(rt: Runtime, grants: GrantRegistry, client_auth: ClientAuthRegistry,
                               req: OAuthRequest) -> dict[str, Any]:
    grant_type = req.form.get("grant_type")
    if not grant_type:
        raise InvalidRequest("grant_type is required")
    grant = grants.get(grant_type)  # unsupported_grant_type
    # The grant says who may call it (OAuth clients, public ones too, or API keys): one method, checked.
    presented = client_auth.identify(req, grant.callers)
    caller = await presented.method.authenticate(presented, req)
    validated = await grant.validate(rt, req, caller)
    return await grant.create_response(rt, req, caller, validated)
