"""Chain format 2: the MAC of a row covers the bytes the row stores, not a JSON rendering of them.

Format 1 (:mod:`tokensmith.audit.chain`) hashes the event's canonical JSON, which a verifier must rebuild
from the packed columns for every row -- UUIDs formatted, ``data`` decoded from its shape, the time
printed -- at ~4 us a row in Python, most of a verification's time. Format 2 hashes the stored form:

    hash_n = HMAC-SHA256(audit_key, 0x02 || hash_{n-1} (32 bytes) || body_n)
    body_n = seq (int64) || at in µs (int64) || nine lengths (int32, -1 for NULL)
             || id || type || tenant || actor || subject || ip || request_id || shape || data

each field as stored (:mod:`tokensmith.storage.compact`, :mod:`tokensmith.storage.shapes`); type, tenant,
actor and shape are the dictionary entries' packed *names*, not their codes, so a changed dictionary
entry breaks every row that uses it (no separate MAC of the dictionary is needed), and a body read on
its own -- an archive line -- says everything without a dictionary. The lengths make the concatenation
unambiguous; the leading 0x02 can never begin a format-1 message (those begin with a hex digit), so no
message of one format is a message of the other. A row's format is not stored: a verifier checks the
format the row before had first and the other one when that fails -- both are MACs under the same key,
so accepting either forges nothing. The writer writes format 2 from this version on; rows written
before keep verifying as format 1.

What a body means is fixed by the packing functions it was made with (``pack_text``, ``pack_ip``, the
shape codec): those are part of format 2's definition and may only change with a format 3.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping
from datetime import timedelta
from functools import lru_cache
from typing import Any

from tokensmith.storage.compact import EPOCH, pack_text, unpack_text
from tokensmith.storage.shapes import data_of

FORMAT_2 = b"\x02"
_HEADER = struct.Struct(">qq9i")
_NULL = -1
#: the archive line's key for a format-2 row's body (base64): the line's readable fields must be what
#: the body decodes to
STORED_KEY = "stored"

#: packed name of a type, tenant, actor or shape (a few thousand distinct values)
packed_name = lru_cache(maxsize=8192)(pack_text)


def packed_names(names: Mapping[int, str]) -> dict[int | None, bytes | None]:
    """code -> the name packed as stored (``None`` -> ``None``): what a format-2 body holds in place of
    a dictionary code (the twin of :func:`tokensmith.audit.names.json_names`)."""
    out: dict[int | None, bytes | None] = {code: packed_name(name) for code, name in names.items()}
    out[None] = None
    return out


def body(seq: int, at: int, id_: bytes, type_: bytes, tenant: bytes | None, actor: bytes | None,
         subject: bytes | None, ip: bytes | None, request_id: bytes | None, shape: bytes | None,
         data: bytes | None) -> bytes:
    """The part of a row's format-2 MAC input after the previous hash (the writer's and the walker's)."""
    return b"".join((
        _HEADER.pack(seq, at, len(id_), len(type_), _NULL if tenant is None else len(tenant),
                     _NULL if actor is None else len(actor), _NULL if subject is None else len(subject),
                     _NULL if ip is None else len(ip), _NULL if request_id is None else len(request_id),
                     _NULL if shape is None else len(shape), _NULL if data is None else len(data)),
        id_, type_, tenant or b"", actor or b"", subject or b"", ip or b"", request_id or b"", shape or b"",
        data or b""))


def message(prev: bytes, row_body: bytes) -> bytes:
    """The MAC input: the format byte, the previous row's hash (raw), the body."""
    return FORMAT_2 + prev + row_body


def split_body(row_body: bytes) -> tuple[int, int, list[bytes | None]]:
    """(seq, at µs, the nine fields) of a body; raises ValueError on a malformed one."""
    try:
        seq, at, *lengths = _HEADER.unpack_from(row_body)
    except struct.error as exc:
        raise ValueError("format-2 body too short") from exc
    offset, fields = _HEADER.size, list[bytes | None]()
    for length in lengths:
        if length == _NULL:
            fields.append(None)
            continue
        if length < 0 or offset + length > len(row_body):
            raise ValueError("format-2 body truncated")
        fields.append(row_body[offset:offset + length])
        offset += length
    if offset != len(row_body):
        raise ValueError("format-2 body too long")
    return int(seq), int(at), fields


def fields_of_body(row_body: bytes) -> dict[str, Any]:
    """The event a body holds, as the chain's fields (what an archive line shows beside it)."""
    seq, at, (id_, type_, tenant, actor, subject, ip, request_id, shape, data) = split_body(row_body)

    def text(value: bytes | None) -> str | None:
        return None if value is None else unpack_text(value)

    if id_ is None or type_ is None or data is None:
        raise ValueError("format-2 body without id, type or data")
    return {"seq": seq, "id": unpack_text(id_),
            "at": (EPOCH + timedelta(microseconds=at)).isoformat(timespec="microseconds"),
            "type": unpack_text(type_), "tenant_id": text(tenant), "actor": text(actor), "subject": text(subject),
            "ip": text(ip), "request_id": text(request_id),
            "data": data_of(data, text(shape))}


def encode_stored(row_body: bytes) -> bytes:
    return base64.b64encode(row_body)


def decode_stored(value: object) -> bytes:
    """The body of an archive line's ``stored`` value; raises ValueError on anything else."""
    if not isinstance(value, str):
        raise ValueError("no format-2 body")
    return base64.b64decode(value, validate=True)


__all__ = ["FORMAT_2", "STORED_KEY", "body", "decode_stored", "encode_stored", "fields_of_body", "message",
           "packed_name", "packed_names", "split_body"]
