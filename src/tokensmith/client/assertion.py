"""``private_key_jwt`` client authentication (RFC 7523 §2.2, RFC 7521 §4.2; SMART backend services):
a short-lived JWT signed with the client's private key instead of a shared secret.

The contract the server checks: ``iss`` = ``sub`` = the client id, ``aud`` = the token endpoint URL,
``exp`` at most five minutes ahead, a ``jti`` never used before, signed RS384 or ES384 (the algorithm
follows the key: pinned, never chosen by anything the server says).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: seconds an assertion is valid; the server refuses more than 300
ASSERTION_LIFETIME = 120
ALGORITHMS = ("RS384", "ES384")

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True, repr=False)
class AssertionSigner:
    """Signs client assertions with one private key (parsed once)."""

    key: PrivateKey
    algorithm: str
    key_id: str | None = None

    @classmethod
    def load(cls, private_key: str | bytes | PrivateKey, *, key_id: str | None = None,
             algorithm: str | None = None, password: bytes | None = None) -> AssertionSigner:
        """From a PEM (str or bytes) or a ``cryptography`` key; RSA keys sign RS384, P-384 keys ES384."""
        key = private_key
        if isinstance(key, str | bytes):
            data = key.encode() if isinstance(key, str) else key
            loaded = serialization.load_pem_private_key(data, password=password)
            if not isinstance(loaded, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
                raise ValueError("private_key must be an RSA or EC (P-384) private key")
            key = loaded
        natural = _algorithm_of(key)
        if algorithm is not None and algorithm != natural:
            raise ValueError(f"this key signs {natural}, not {algorithm}")
        return cls(key, natural, key_id)

    def sign(self, client_id: str, audience: str, now: float) -> str:
        issued = int(now)
        claims = {"iss": client_id, "sub": client_id, "aud": audience, "iat": issued,
                  "exp": issued + ASSERTION_LIFETIME, "jti": secrets.token_urlsafe(24)}
        headers = {"kid": self.key_id} if self.key_id else None
        return jwt.encode(claims, self.key, algorithm=self.algorithm, headers=headers)

    def __repr__(self) -> str:
        return f"AssertionSigner(algorithm={self.algorithm!r}, key_id={self.key_id!r}, key=***)"


def _algorithm_of(key: PrivateKey) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise ValueError("RSA keys must have at least 2048 bits")
        return "RS384"
    if not isinstance(key.curve, ec.SECP384R1):
        raise ValueError("EC keys must be on P-384 (ES384)")
    return "ES384"
