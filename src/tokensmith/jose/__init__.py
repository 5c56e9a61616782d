"""A typed façade over PyJWT/cryptography: signing keys, the key ring, JWKS, signing and verification
with algorithms pinned per key (RFC 7515, 7517, 7519, 8725)."""

from tokensmith.jose.keyring import KeyRing, SigningKeyMaterial, generate_signing_key
from tokensmith.jose.tokens import JwtVerificationError, sign_jwt, verify_jwt

__all__ = [
    "JwtVerificationError",
    "KeyRing",
    "SigningKeyMaterial",
    "generate_signing_key",
    "sign_jwt",
    "verify_jwt",
]
