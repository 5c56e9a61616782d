"""Access-token formats behind one interface: JWT (RFC 9068) and opaque reference tokens, and the one
verifier that introspection and the guard share."""

from tokensmith.tokens.formats import IssuedToken, TokenIssuer, default_token_formats
from tokensmith.tokens.registry import Issuance, TokenFormat, TokenFormats, TokenInfo
from tokensmith.tokens.verify import TokenVerifier

__all__ = [
           "Issuance",
           "IssuedToken",
           "TokenFormat",
           "TokenFormats",
           "TokenInfo",
           "TokenIssuer",
           "TokenVerifier",
           "default_token_formats",
]
