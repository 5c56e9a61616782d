"""ID tokens (OpenID Connect Core 1.0 §2, §3.1.3.6) and the userinfo claims (§5.3), signed by the
service's active key through the JOSE layer (:func:`tokensmith.jose.tokens.sign_jwt`, the key's pinned
algorithm)."""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from tokensmith.errors import ServiceUnavailable
from tokensmith.jose.tokens import sign_jwt
from tokensmith.storage.models import User

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

#: the claims tokensmith can put in an ID token or the userinfo answer (discovery's claims_supported)
CLAIMS_SUPPORTED = ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "amr", "sid", "name",
                    "email", "email_verified", "fhirUser"]
_HASHES = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}
_U = User.__table__


def at_hash(access_token: str, alg: str) -> str:
    """§3.1.3.6: the left half of the hash of the access token, with the hash of the signing algorithm
    (EdDSA with Ed25519: SHA-512)."""
    digest = _HASHES.get(alg[-3:], hashlib.sha512)(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


async def user_claims(rt: Runtime, user_id: str, scopes: tuple[str, ...] | list[str],
                      fhir_user: str | None) -> dict[str, Any]:
    """The claims ``profile``, ``email`` and ``fhirUser`` let an app see (§5.4)."""
    claims: dict[str, Any] = {}
    if "profile" in scopes or "email" in scopes:
        async with rt.db.session() as session:
            row = (await session.execute(select(_U.c.name, _U.c.email).where(_U.c.id == user_id))).first()
        if row is not None:
            if "profile" in scopes and row.name:
                claims["name"] = row.name
            if "email" in scopes:
                claims["email"] = row.email
                claims["email_verified"] = False  # tokensmith does not verify addresses
    if fhir_user and ("fhirUser" in scopes or "openid" in scopes):
        claims["fhirUser"] = fhir_user
    return claims


async def id_token(rt: Runtime, *, client_id: str, user_id: str, auth_time: int, nonce: str | None,
                   amr: tuple[str, ...] | list[str], access_token: str, session_id: str,
                   scopes: tuple[str, ...] | list[str], fhir_user: str | None) -> str:
    key = rt.keyring.active
    if key is None:
        raise ServiceUnavailable(rt.settings.db_retry_after, debug="no active signing key")
    now = int(rt.clock.now())
    claims: dict[str, Any] = {"iss": rt.settings.issuer, "sub": user_id, "aud": client_id, "exp": now + 900,
                              "iat": now, "auth_time": auth_time, "at_hash": at_hash(access_token, key.alg),
                              "sid": session_id}
    if nonce is not None:
        claims["nonce"] = nonce
    if amr:
        claims["amr"] = list(amr)
    claims.update(await user_claims(rt, user_id, scopes, fhir_user))
    return sign_jwt(claims, key, typ="JWT")
