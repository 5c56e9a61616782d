"""Access-token formats behind one interface: JWT (RFC 9068) and opaque reference tokens, and the one
verifier that introspection and the guard share."""

from tokensmith.tokens.formats import IssuedToken, TokenIssuer
from tokensmith.tokens.verify import TokenInfo, TokenVerifier

__all__ = ["IssuedToken", "TokenInfo", "TokenIssuer", "TokenVerifier"]
