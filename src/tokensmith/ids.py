"""Identifiers and random secrets."""

from __future__ import annotations

import os
import secrets
import time
import uuid


def uuid7(ms: int | None = None) -> str:
    """A time-ordered UUIDv7 (RFC 9562). Used as ``jti`` so that the issue time in milliseconds can be
    read back from the id: revoking "every token of this client issued before T" then needs no
    per-token storage and no sub-second ``iat``."""
    ms = int(time.time() * 1000) if ms is None else ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def uuid7_ms(value: str) -> int | None:
    """The millisecond timestamp of a UUIDv7, or None when ``value`` is not one."""
    try:
        parsed = uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return None
    if parsed.version != 7:
        return None
    return parsed.int >> 80


def new_id() -> str:
    return str(uuid.uuid4())


def random_hex(nbytes: int) -> str:
    return secrets.token_hex(nbytes)


def random_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)
