"""Identifiers and random secrets."""

from __future__ import annotations

import itertools
import os
import re
import secrets
import time
import uuid


class _IdEntropy:
    """Random bytes for identifiers (``jti``, row and event ids), read from the OS CSPRNG 4 KiB at a time.

    Identifiers are not secrets, but they must not collide or be guessable in bulk, so they still come from
    ``os.urandom``; reading it in blocks saves a system call per id — and each such call hands the GIL to
    whichever background thread wants it, which shows on the token endpoint's latency tail. A process that
    forks refills its own block before using it. Secrets (client secrets, refresh tokens, API keys) never
    come from here: they use :mod:`secrets` directly.
    """

    BLOCK = 4096

    def __init__(self) -> None:
        self._pid = -1
        self._block = b""
        self._pos = 0

    def take(self, n: int) -> bytes:
        pos = self._pos
        if pos + n > len(self._block) or self._pid != os.getpid():
            self._pid = os.getpid()
            self._block = os.urandom(self.BLOCK)
            pos = 0
        self._pos = pos + n
        return self._block[pos:pos + n]


_entropy = _IdEntropy()


def _format_uuid(value: int) -> str:
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def uuid7(ms: int | None = None) -> str:
    """A time-ordered UUIDv7 (RFC 9562). Used as ``jti`` so that the issue time in milliseconds can be
    read back from the id: revoking "every token of this client issued before T" then needs no
    per-token storage and no sub-second ``iat``."""
    ms = int(time.time() * 1000) if ms is None else ms
    rand = int.from_bytes(_entropy.take(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return _format_uuid(value)


_UUID7 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\Z")


def uuid7_ms(value: str) -> int | None:
    """The millisecond timestamp of a UUIDv7, or None when ``value`` is not one."""
    if isinstance(value, str) and _UUID7.match(value):
        return int(value[:8] + value[9:13], 16)  # the canonical form we issue: the timestamp's hex
    try:
        parsed = uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return None
    if parsed.version != 7:
        return None
    return parsed.int >> 80


def new_row_id() -> str:
    """An id for rows written at high rates (issued tokens, sessions, audit events): time-ordered (UUIDv7),
    so new rows land at the right edge of the primary-key index. Random (v4) ids would put every insert on
    a random index page — on a table of millions of rows that is a page read and a page write per row, and
    SQLite's write-ahead log grows by a page per row."""
    return uuid7()


def new_id() -> str:
    """A random (version 4) UUID in its canonical text form."""
    value = int.from_bytes(_entropy.take(16), "big")
    value = (value & ~(0xF << 76) & ~(0x3 << 62)) | (0x4 << 76) | (0b10 << 62)
    return _format_uuid(value)


_request_prefix = secrets.token_hex(8)
_request_counter = itertools.count(1)


def new_request_id() -> str:
    """A request id for log correlation: unique per process start (random prefix) plus a counter. Not a
    secret and not unguessable — it is echoed in ``X-Request-Id`` — so it needs no randomness per request."""
    return f"{_request_prefix}{next(_request_counter):016x}"


def random_hex(nbytes: int) -> str:
    return secrets.token_hex(nbytes)


#: Longer values are not reference tokens this service issued: refused before they are hashed and looked up.
MAX_TOKEN_LENGTH = 512


def random_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)
