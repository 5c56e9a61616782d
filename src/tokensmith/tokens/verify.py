"""One verifier for every access token we issue, shared by introspection and the guard: the registered
format that recognises the token verifies it (:mod:`tokensmith.tokens.jwt`, :mod:`tokensmith.tokens.opaque`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tokensmith.tokens.formats import default_token_formats
from tokensmith.tokens.jwt import SIGNATURE_MEMO_SIZE, looks_like_jwt
from tokensmith.tokens.registry import TokenFormats, TokenInfo

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

__all__ = ["SIGNATURE_MEMO_SIZE", "TokenInfo", "TokenVerifier", "looks_like_jwt"]


class TokenVerifier:
    def __init__(self, runtime: Runtime, formats: TokenFormats | None = None) -> None:
        self._rt = runtime
        self.formats = formats if formats is not None else default_token_formats(runtime)

    async def verify_access_token(self, token: str) -> tuple[TokenInfo | None, str]:
        """(info, reason): info is None when the token is not active; reason is for logs only."""
        fmt = self.formats.for_token(token)
        if fmt is None:
            return None, "no format"
        return await fmt.verify(token)
