"""The grant contract: ``validate`` checks the request against the spec and the caller, then
``create_response`` issues tokens. Both steps raise :class:`tokensmith.errors.OAuthError`. The token
endpoint authenticates the caller first, with a method the grant's :class:`CallerPolicy` accepts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from tokensmith.errors import UnsupportedGrantType
from tokensmith.oauth.client_auth import CallerPolicy
from tokensmith.oauth.request import OAuthRequest

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime


class Grant(Protocol):
    grant_type: str
    #: who may use the grant: OAuth clients (public ones too, where the grant protects itself, e.g. PKCE),
    #: or API keys (the token exchange)
    callers: CallerPolicy
    #: the ``response_type`` values of the authorization endpoint this grant serves (RFC 8414 §2)
    response_types: tuple[str, ...]

    async def validate(self, rt: Runtime, req: OAuthRequest, caller: Any) -> Any:
        """Check the request; return the validated state passed to ``create_response``."""
        ...

    async def create_response(self, rt: Runtime, req: OAuthRequest, caller: Any, validated: Any) -> dict[str, Any]:
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

    def __iter__(self) -> Any:
        return iter(self._grants.values())

    @property
    def grant_types(self) -> list[str]:
        return list(self._grants)
