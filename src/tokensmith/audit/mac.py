"""HMAC-SHA256 keyed once, for the audit verifier's hot loop.

``hmac.digest(key, msg)`` sets the key up again on every call (two SHA-256 blocks plus an OpenSSL
context), and ``hmac.new(key).copy()`` copies a whole HMAC context; at a million events that is most of
a verification's time. RFC 2104 defines ``HMAC(K, m) = H((K' ^ opad) || H((K' ^ ipad) || m))``, so the
two keyed SHA-256 states can be computed once and *copied* per message (a cheap hashlib state copy).
The result is byte-for-byte ``hmac.digest(key, msg, "sha256")`` -- a test checks that for random keys
and messages, long keys included -- and it is compared in constant time by the caller.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

_BLOCK = 64  # SHA-256's block size (RFC 2104's B)


def prekeyed_sha256(key: bytes) -> Callable[[bytes], bytes]:
    """A function ``msg -> HMAC-SHA256(key, msg)`` with the key schedule done once."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    inner_copy, outer_copy = inner.copy, outer.copy

    def mac(message: bytes) -> bytes:
        h = inner_copy()
        h.update(message)
        o = outer_copy()
        o.update(h.digest())
        return o.digest()

    return mac
