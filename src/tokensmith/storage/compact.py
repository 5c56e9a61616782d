"""Compact, lossless storage of audit-event columns.

An ``exchange.issued`` row used to store its identifiers as text (36 bytes per UUID, 64 per hash) and
the previous row's hash a second time. Here every column keeps exactly the value the chain hashes, in
fewer bytes: UUIDs (alone or after a prefix such as ``apikey:``) as 16 bytes, lower-case hex strings
(request ids) as their bytes, times as integer microseconds, hashes as 32 raw bytes. The mapping is a
bijection, so the canonical form -- and therefore every existing chain hash -- is unchanged.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import BigInteger, LargeBinary, Text
from sqlalchemy.types import TypeDecorator

_RAW, _UUID, _HEX, _IPV4, _IPV6 = 0, 1, 2, 3, 4
_UUID_36 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HEX_STRING = re.compile(r"(?:[0-9a-f]{2})+\Z")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CANONICAL = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def pack_text(value: str) -> bytes:
    """``prefix + canonical UUID`` -> 0x01 prefix 16 bytes; lower-case hex -> 0x02 bytes; else 0x00 UTF-8."""
    # A UUID has a fixed length, so the only split of ``prefix + UUID`` is at ``len - 36``: one
    # full match of the last 36 characters instead of a lazy ``(.*?)`` that retried the UUID pattern at
    # every position of a string that has none (a request id, a jti) -- ~5 us per column at flush.
    tail = value[-36:]
    if len(value) >= 36 and _UUID_36.fullmatch(tail) is not None:
        return bytes([_UUID]) + value[:-36].encode() + bytes.fromhex(tail.replace("-", ""))
    if _HEX_STRING.match(value):
        return bytes([_HEX]) + bytes.fromhex(value)
    return bytes([_RAW]) + value.encode()


@lru_cache(maxsize=1024)
def pack_ip(value: str) -> bytes:
    """An address in the text form :mod:`ipaddress` prints -> 0x03 + 4 bytes (IPv4) or 0x04 + 16 bytes
    (IPv6); anything else (a proxy's odd header, an IPv6 address written another way) -> 0x00 UTF-8, so
    that unpacking always gives back the very string. Cached: the same few addresses (a proxy, a client
    fleet) come back in every batch, and parsing one costs more than the rest of the row's columns."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return bytes([_RAW]) + value.encode()
    if str(address) != value:
        return bytes([_RAW]) + value.encode()
    return bytes([_IPV4 if address.version == 4 else _IPV6]) + address.packed


def unpack_text(packed: bytes) -> str:
    kind = packed[0]
    if kind == _UUID:
        if len(packed) < 17:
            raise ValueError("packed UUID too short")
        h = packed[-16:].hex()
        return f"{packed[1:-16].decode()}{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    if kind == _HEX:
        return packed[1:].hex()
    if kind == _IPV4 and len(packed) == 5:
        return str(ipaddress.IPv4Address(packed[1:]))
    if kind == _IPV6 and len(packed) == 17:
        return str(ipaddress.IPv6Address(packed[1:]))
    if kind != _RAW:
        raise ValueError(f"unknown packed kind {kind}")
    return packed[1:].decode()


def to_micros(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - EPOCH) // timedelta(microseconds=1)


def from_micros(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def canonical_data(data: Any) -> bytes:
    """The bytes stored for ``data``: exactly its part of the canonical form (sorted keys, no spaces)."""
    return orjson.dumps(data if data is not None else {}, option=_CANONICAL, default=str)


class PackedText(TypeDecorator[str]):
    """A string column stored with :func:`pack_text` (equality filters still use the index)."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> bytes | None:
        return None if value is None else pack_text(value)

    def process_result_value(self, value: bytes | None, dialect: Any) -> str | None:
        return None if value is None else unpack_text(bytes(value))


class PackedIP(PackedText):
    """An IP address column stored with :func:`pack_ip` (5 bytes for IPv4 instead of up to 16)."""

    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> bytes | None:
        return None if value is None else pack_ip(value)


class Micros(TypeDecorator[datetime]):
    """A UTC datetime stored as integer microseconds since the epoch (8 bytes, exact)."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> int | None:
        return None if value is None else to_micros(value)

    def process_result_value(self, value: int | None, dialect: Any) -> datetime | None:
        return None if value is None else from_micros(int(value))


class HexDigest(TypeDecorator[str]):
    """A SHA-256 hex digest stored as its 32 bytes."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> bytes | None:
        return None if value is None else bytes.fromhex(value)

    def process_result_value(self, value: bytes | None, dialect: Any) -> str | None:
        return None if value is None else bytes(value).hex()


class CanonicalJSON(TypeDecorator[dict[str, Any]]):
    """``data`` stored as its canonical JSON text, so verification splices it in without re-encoding."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str:
        return canonical_data(value).decode()

    def process_result_value(self, value: str | None, dialect: Any) -> dict[str, Any]:
        result: dict[str, Any] = orjson.loads(value) if value else {}
        return result


def utc_micros(ts: float) -> int:
    """A clock reading (seconds since the epoch) as integer microseconds."""
    return round(ts * 1_000_000)
