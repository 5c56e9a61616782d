"""The grant contract: ``validate`` checks the request against the spec and the client, then
``create_response`` issues tokens. Both steps raise :class:`tokensmith.errors.OAuthError`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from tokensmith.errors import UnsupportedGrantType
from tokensmith.oauth.request import OAuthRequest
from tokensmith.services.clients import ClientRecord

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime


class Grant(Protocol):
    grant_type: str
    #: public clients (no secret) may use this grant (with PKCE where the grant requires it)
    allows_public_clients: bool
    #: the grant authenticates the caller itself (e.g. token exchange with an API key)
    authenticates_itself: bool

    async def validate(self, rt: Runtime, req: OAuthRequest, client: ClientRecord | None) -> Any:
        """Check the request; return the validated state passed to ``create_response``."""
        ...

    async def create_response(self, rt: Runtime, req: OAuthRequest, client: ClientRecord | None,
                              validated: Any) -> dict[str, Any]:
        ...


def token_response(token: Any, scopes: list[str], **extra: Any) -> dict[str, Any]:
    """RFC 6749 §5.1 successful response: ``access_token``, ``token_type``, ``expires_in``, ``scope``
    (when any), plus grant-specific members (e.g. RFC 8693's ``issued_token_type``)."""
    body: dict[str, Any] = {"access_token": token.value, "token_type": "Bearer", "expires_in": token.expires_in}
    body.update(extra)
    if scopes:
        body["scope"] = " ".join(scopes)
    return body


class GrantRegistry:
    def __init__(self) -> None:
        self._grants: dict[str, Grant] = {}

    def register(self, grant: Grant) -> None:
        self._grants[grant.grant_type] = grant

    def get(self, grant_type: str) -> Grant:
        grant = self._grants.get(grant_type)
        if grant is None:
            raise UnsupportedGrantType(f"grant type {grant_type[:100]!r} is not supported")
        return grant

    @property
    def grant_types(self) -> list[str]:
        return list(self._grants)
