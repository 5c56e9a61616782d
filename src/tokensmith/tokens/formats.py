"""Issuing access tokens in the format a client (or feature) asks for: the claims are built here, once for
every format (RFC 9068 names), and the format (:mod:`tokensmith.tokens.registry`) turns them into a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tokensmith.ids import new_row_id, uuid7
from tokensmith.tokens.jwt import JwtFormat
from tokensmith.tokens.opaque import OpaqueFormat
from tokensmith.tokens.registry import Issuance, TokenFormats

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime


@dataclass(frozen=True)
class IssuedToken:
    value: str
    expires_in: int
    expires_at: float
    jti: str


def default_token_formats(runtime: Runtime) -> TokenFormats:
    """The formats tokensmith ships: ``jwt`` (RFC 9068) and ``opaque`` (the fallback for verification)."""
    formats = TokenFormats()
    formats.register(JwtFormat(runtime))
    formats.register(OpaqueFormat(runtime), fallback=True)
    return formats


class TokenIssuer:
    def __init__(self, runtime: Runtime, formats: TokenFormats | None = None) -> None:
        self._rt = runtime
        self.formats = formats if formats is not None else default_token_formats(runtime)

    async def issue(
        self,
        *,
        fmt: str,
        subject: str,
        client_id: str | None,
        tenant_id: str,
        scopes: list[str],
        ttl: int,
        audience: str | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
        extra: dict[str, Any] | None = None,
        conn: Any = None,
    ) -> IssuedToken:
        """``conn``: an open connection to store a stored (opaque) token on; by default such a token is
        stored in a transaction of its own."""
        now = self._rt.clock.now()
        iat = int(now)
        exp = iat + ttl
        jti = uuid7(int(now * 1000))
        claims: dict[str, Any] = {
            "iss": self._rt.settings.issuer,
            "sub": subject,
            "aud": audience or self._rt.settings.audience,
            "exp": exp,
            "iat": iat,
            "jti": jti,
        }
        if client_id is not None:
            claims["client_id"] = client_id
        if scopes:
            claims["scope"] = " ".join(scopes)
        if session_id is not None:
            claims["sid"] = session_id
        claims["tenant"] = tenant_id
        if extra:
            claims.update(extra)
        value = await self.formats.get(fmt).issue(
            claims, Issuance(tenant_id, client_id, user_id, session_id, scopes, now, conn))
        return IssuedToken(value, ttl, exp, jti)


def opaque_row_id() -> str:
    return new_row_id()
