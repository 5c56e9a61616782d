"""The grant contract: ``validate`` checks the request against the spec and the client, then
``create_response`` issues tokens. Both steps raise :class:`tokensmith.errors.OAuthError`."""

from __future__ import annotations

from typing import Any, Protocol

from tokensmith.errors import UnsupportedGrantType
from tokensmith.oauth.request import OAuthRequest
from tokensmith.services.clients import ClientRecord


class Grant(Protocol):
    grant_type: str
    #: public clients (no secret) may use this grant (with PKCE where the grant requires it)
    allows_public_clients: bool
    #: the grant authenticates the caller itself (e.g. token exchange with an API key)
    authenticates_itself: bool

    async def validate(self, rt: Any, req: OAuthRequest, client: ClientRecord | None) -> Any:
        """Check the request; return the validated state passed to ``create_response``."""
        ...

    async def create_response(self, rt: Any, req: OAuthRequest, client: ClientRecord | None,
                              validated: Any) -> dict[str, Any]:
        ...


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
