"""Revocation: the deny list (database feed, Redis fan-out) and the in-memory view each process checks.

``RevocationFeed`` is imported lazily: the guard library uses :mod:`tokensmith.revocation.view` without
the database layer the feed needs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tokensmith.revocation.feed import RevocationFeed

__all__ = ["RevocationFeed"]


def __getattr__(name: str) -> Any:
    if name == "RevocationFeed":
        from tokensmith.revocation.feed import RevocationFeed

        return RevocationFeed
    raise AttributeError(name)
