"""Compact JWS signing (RFC 7515 §7.1) for the service's own keys, with PyJWT's algorithms but without
PyJWS's per-call work.

Why not ``jwt.api_jws.encode``: per token it copies and sorts the header, serialises it with the standard
``json`` module, looks the algorithm up and re-checks the key — a quarter of the CPU of signing one ES256
token (the ECDSA itself is the rest). Here the header segment is built once per (key, ``typ``) and the
algorithm object once per ``alg``; the signature itself is PyJWT's (``Algorithm.sign``, which also turns
ECDSA's DER into the raw R‖S of RFC 7518 §3.4), so no signing is written here. The bytes are those PyJWS
writes (sorted, compact header), and verification goes through PyJWT as before.

:func:`verify_compact` is the other direction for client assertions that PyJWT has already parsed once
(``decode_complete`` without verification, to learn who claims to call): the signature is checked by
PyJWT's ``Algorithm.verify`` over the bytes that were parsed, instead of a second ``jwt.decode`` that
base64-decodes, JSON-parses and re-validates the same token (measured: the second parse cost more than
the RS384 verification itself).
"""

from __future__ import annotations

import base64
from functools import lru_cache

import orjson
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt import get_algorithm_by_name
from jwt.algorithms import Algorithm

from tokensmith.jose.keyring import PrivateKey

#: the key type each signing algorithm the service uses needs (PyJWT's sign() does not check the curve)
_KEY_CHECKS = {
    "ES256": lambda key: isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1",
    "RS256": lambda key: isinstance(key, rsa.RSAPrivateKey),
    "EdDSA": lambda key: isinstance(key, ed25519.Ed25519PrivateKey),
}


def b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


@lru_cache(maxsize=8)
def _algorithm(alg: str) -> Algorithm:
    return get_algorithm_by_name(alg)


@lru_cache(maxsize=256)
def header_segment(alg: str, kid: str, typ: str) -> bytes:
    """The encoded protected header; keys sorted, as PyJWS writes it (kids and types are ASCII)."""
    return b64url(orjson.dumps({"alg": alg, "kid": kid, "typ": typ}, option=orjson.OPT_SORT_KEYS))


def verify_compact(token: str, signature: bytes, key: object, alg: str) -> bool:
    """Whether ``signature`` (the decoded third segment of ``token``) is ``alg``'s over the first two
    segments, under ``key``; the caller pins ``alg`` (never taken from the token alone)."""
    signing_input = token.rpartition(".")[0].encode("ascii")
    return bool(_algorithm(alg).verify(signing_input, key, signature))


def sign_compact(payload: bytes, key: PrivateKey, alg: str, kid: str, typ: str) -> str:
    """``header.payload.signature`` of ``payload`` (already serialised JSON) with ``key`` under ``alg``."""
    check = _KEY_CHECKS.get(alg)
    if check is None:
        raise ValueError(f"unsupported signing algorithm {alg!r}")
    if not check(key):
        raise ValueError(f"{alg} cannot sign with a {type(key).__name__}")
    signing_input = header_segment(alg, kid, typ) + b"." + b64url(payload)
    return (signing_input + b"." + b64url(_algorithm(alg).sign(signing_input, key))).decode("ascii")
