"""The token-format contract and its registry: a format issues an access token for a set of claims and
verifies a token it recognises (signature or lookup, then the shared revocation checks). ``jwt`` (RFC 9068)
and ``opaque`` reference tokens are registered by default; a client's ``access_token_format`` names one."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from tokensmith.errors import InvalidRequest


@dataclass(frozen=True)
class TokenInfo:
    """An active token's claims, as introspection reports them."""

    claims: dict[str, Any]
    token_type: str = "access_token"
    format: str = "jwt"
    row_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tenant(self) -> str | None:
        value = self.claims.get("tenant")
        return value if isinstance(value, str) else None

    @property
    def client_id(self) -> str | None:
        value = self.claims.get("client_id")
        return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class Issuance:
    """What a format may need beyond the claims: who the token is for, and an open connection to store it
    on (one pool checkout per request for callers that already hold one)."""

    tenant_id: str
    client_id: str | None
    user_id: str | None
    session_id: str | None
    scopes: list[str]
    now: float
    conn: Any = None


class TokenFormat(Protocol):
    name: str

    def recognises(self, token: str) -> bool:
        """Whether ``token`` is shaped like this format's tokens (cheap, no verification)."""
        ...

    async def issue(self, claims: dict[str, Any], issuance: Issuance) -> str:
        """The token value for ``claims`` (which carry ``jti``, ``exp``, …)."""
        ...

    async def verify(self, token: str) -> tuple[TokenInfo | None, str]:
        """(info, reason): info is None when the token is not active; reason is for logs only."""
        ...

    async def revoke(self, session: Any, info: TokenInfo, now: float) -> None:
        """The format's own part of revoking a token (the jti deny list is common to all formats)."""
        ...


class TokenFormats:
    def __init__(self) -> None:
        self._formats: dict[str, TokenFormat] = {}
        self._fallback: TokenFormat | None = None

    def register(self, fmt: TokenFormat, *, fallback: bool = False) -> None:
        """``fallback``: the format tried for a token no other format recognises (opaque)."""
        self._formats[fmt.name] = fmt
        if fallback:
            self._fallback = fmt

    def __iter__(self) -> Iterator[TokenFormat]:
        return iter(self._formats.values())

    @property
    def names(self) -> list[str]:
        return list(self._formats)

    def get(self, name: str) -> TokenFormat:
        fmt = self._formats.get(name)
        if fmt is None:
            raise InvalidRequest(f"access token format must be one of {tuple(self._formats)}")
        return fmt

    def for_token(self, token: str) -> TokenFormat | None:
        for fmt in self._formats.values():
            if fmt is not self._fallback and fmt.recognises(token):
                return fmt
        return self._fallback
