"""Signing keys in memory: parsed once per process, looked up by ``kid``, published as a JWKS.

The key ring is rebuilt only when the key table changes (rotation or revocation), never per request.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

Alg = Literal["ES256", "RS256", "EdDSA"]
SUPPORTED_ALGS: tuple[str, ...] = ("ES256", "RS256", "EdDSA")
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey

# RFC 7638 §3.2: the required members of each key type, in lexicographic order.
_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}


def _public_jwk(public: PublicKey) -> dict[str, Any]:
    if isinstance(public, ec.EllipticCurvePublicKey):
        return dict(ECAlgorithm.to_jwk(public, as_dict=True))
    if isinstance(public, rsa.RSAPublicKey):
        return dict(RSAAlgorithm.to_jwk(public, as_dict=True))
    return dict(OKPAlgorithm.to_jwk(public, as_dict=True))


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url), used as ``kid``."""
    members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKeyMaterial:
    """A parsed key. ``private`` is None for keys this process may only verify with."""

    kid: str
    alg: str
    status: str
    public: PublicKey
    public_jwk: dict[str, Any]
    private: PrivateKey | None = None
    publish_until: datetime | None = None

    def private_pem(self) -> bytes:
        assert self.private is not None
        return self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def generate_signing_key(alg: str, status: str = "next") -> SigningKeyMaterial:
    private: PrivateKey
    if alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif alg == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif alg == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ValueError(f"unsupported signing algorithm {alg!r}; choose one of {SUPPORTED_ALGS}")
    public = private.public_key()
    jwk = _public_jwk(public)
    kid = jwk_thumbprint(jwk)
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    return SigningKeyMaterial(kid=kid, alg=alg, status=status, public=public, public_jwk=jwk, private=private)


def load_signing_key(kid: str, alg: str, status: str, private_pem: bytes, public_jwk: dict[str, Any],
                     publish_until: datetime | None = None) -> SigningKeyMaterial:
    private = serialization.load_pem_private_key(private_pem, password=None)
    if not isinstance(private, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise ValueError(f"key {kid} has an unsupported type")
    return SigningKeyMaterial(kid=kid, alg=alg, status=status, public=private.public_key(),
                              public_jwk=dict(public_jwk), private=private, publish_until=publish_until)


@dataclass
class KeyRing:
    """All keys this process knows. ``active`` signs; ``next``/``retired`` verify and are published;
    revoked keys are absent, so tokens they signed fail at once.

    A retired key leaves the ring (JWKS and verification) when its ``publish_until`` passes, by ``now``
    (the runtime's clock): nothing in the database changes at that moment, so no reload would drop it.
    """

    keys: dict[str, SigningKeyMaterial] = field(default_factory=dict)
    now: Callable[[], float] | None = None
    _jwks_body: bytes = b'{"keys":[]}'

    def __post_init__(self) -> None:
        self._build()

    def _build(self) -> None:
        self._active = next((k for k in self.keys.values() if k.status == "active"), None)
        published = [k.public_jwk for k in self.keys.values() if k.status in ("active", "next", "retired")]
        published.sort(key=lambda jwk: (jwk["kid"] != getattr(self._active, "kid", None), jwk["kid"]))
        self._jwks_body = json.dumps({"keys": published}, separators=(",", ":")).encode()
        ends = [k.publish_until.timestamp() for k in self.keys.values()
                if k.status == "retired" and k.publish_until is not None]
        self._next_expiry: float | None = min(ends) if ends else None

    def _expire(self) -> None:
        if self._next_expiry is None or self.now is None:
            return
        now = self.now()
        if now < self._next_expiry:
            return
        self.keys = {kid: k for kid, k in self.keys.items()
                     if not (k.status == "retired" and k.publish_until is not None
                             and k.publish_until.timestamp() <= now)}
        self._build()

    @property
    def active(self) -> SigningKeyMaterial | None:
        return self._active

    def for_verification(self, kid: str) -> SigningKeyMaterial | None:
        self._expire()
        key = self.keys.get(kid)
        if key is None or key.status == "revoked":
            return None
        return key

    def jwks_json(self) -> bytes:
        self._expire()
        return self._jwks_body

    def jwks(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.jwks_json())
        return result
