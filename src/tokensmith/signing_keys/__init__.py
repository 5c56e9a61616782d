"""Signing keys, the deployment's own: their lifecycle (next → active → retired, and revoked) and the key
ring every process signs and verifies with (:mod:`~tokensmith.signing_keys.lifecycle`). The JOSE side —
parsing, JWKS, signing with the algorithm pinned per key — is :mod:`tokensmith.jose`."""

from tokensmith.signing_keys.lifecycle import (
    configured_token_lifetimes,
    ensure_keys,
    list_keys,
    load_keyring,
    longest_token_ttl,
    revoke_key,
    rotate_keys,
)

__all__ = ["configured_token_lifetimes", "ensure_keys", "list_keys", "load_keyring", "longest_token_ttl",
           "revoke_key", "rotate_keys"]
