"""Keys derived from ``TOKENSMITH_MASTER_KEY`` with HKDF-SHA256, one per purpose, so that the key that
hashes API-key secrets can never decrypt a signing key and vice versa."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"tokensmith/v1", info=purpose).derive(master)


def constant_time_equal(a: str | bytes, b: str | bytes) -> bool:
    if isinstance(a, str):
        a = a.encode()
    if isinstance(b, str):
        b = b.encode()
    return hmac.compare_digest(a, b)


class MasterKeys:
    """Purpose-bound keys. ``secret_hash`` is the only way secrets are stored (keyed HMAC-SHA256:
    fast enough to check per request, useless to an attacker holding only the database)."""

    def __init__(self, master_key: str) -> None:
        master = master_key.encode()
        self._hash_key = _derive(master, b"secret-hash")
        # keyed once; each hash copies this state (saves re-keying HMAC on every request)
        self._hash_base = hmac.new(self._hash_key, digestmod=hashlib.sha256)
        self._aead = AESGCM(_derive(master, b"private-key-encryption"))
        self.audit_key = _derive(master, b"audit-chain")

    def secret_hash(self, secret: str) -> str:
        mac = self._hash_base.copy()
        mac.update(secret.encode())
        return mac.hexdigest()

    def verify_secret(self, secret: str, stored_hash: str | None) -> bool:
        if not stored_hash:
            # Still do the work so that timing does not reveal a missing record.
            hmac.compare_digest(self.secret_hash(secret), "0" * 64)
            return False
        return hmac.compare_digest(self.secret_hash(secret), stored_hash)

    def seal(self, plaintext: bytes, associated: bytes) -> bytes:
        nonce = os.urandom(12)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, plaintext, associated))

    def unseal(self, sealed: bytes, associated: bytes) -> bytes:
        raw = base64.b64decode(sealed)
        return self._aead.decrypt(raw[:12], raw[12:], associated)
