"""Revocation: the deny list (database feed, Redis fan-out) and the in-memory view each process checks."""

from tokensmith.revocation.feed import RevocationFeed

__all__ = ["RevocationFeed"]
