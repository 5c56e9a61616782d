"""Symmetric cryptography derived from the master key: keyed hashes of secrets, sealed private keys,
the audit chain MAC."""

from tokensmith.crypto.keys import MasterKeys, constant_time_equal

__all__ = ["MasterKeys", "constant_time_equal"]
