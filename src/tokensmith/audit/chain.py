"""The hash chain. Format 1: ``hash_n = HMAC-SHA256(audit_key, hex(hash_{n-1}) || "\\n" || canonical(event_n))``;
format 2 (written from chain format 2 on, :mod:`tokensmith.audit.stored_form`) hashes the stored bytes of
the row instead of its JSON. A verifier accepts either for any row.

Keyed with a key derived from the master key, so somebody who can write the database but does not hold
the master key cannot rebuild a valid chain after changing, inserting or deleting a row. ``seq`` is
gap-free from 1; a deleted row shows as a gap, a changed one as a hash mismatch, an inserted one as a
mismatch followed by a broken link. A chain may start after seq 1 (older events archived): it then
starts from an *anchor*, the (seq, hash) a signed checkpoint vouches for.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from tokensmith.audit.mac import prekeyed_sha256
from tokensmith.audit.stored_form import FORMAT_2, body, encode_stored, message
from tokensmith.storage.compact import EPOCH, unpack_text

GENESIS = "0" * 64
_CANONICAL = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
# canonical() of event_fields(), spelled out: the keys in sorted order, for the verifier's hot loop
_TEMPLATE = (b'{"actor":%b,"at":"%b.%06d+00:00","data":%b,"id":%b,"ip":%b,"request_id":%b,"seq":%d,'
             b'"subject":%b,"tenant_id":%b,"type":%b}')


def canonical(event: dict[str, Any]) -> bytes:
    """Sorted keys, no whitespace, UTF-8 (orjson: ~5x cheaper than json.dumps on the write path)."""
    return orjson.dumps(event, option=_CANONICAL, default=str)


def event_fields(seq: int, event_id: str, at: datetime, type_: str, tenant_id: str | None, actor: str | None,
                 subject: str | None, ip: str | None, request_id: str | None,
                 data: dict[str, Any]) -> dict[str, Any]:
    return {
        "seq": seq,
        "id": event_id,
        "at": at.isoformat(timespec="microseconds"),
        "type": type_,
        "tenant_id": tenant_id,
        "actor": actor,
        "subject": subject,
        "ip": ip,
        "request_id": request_id,
        "data": data,
    }


def link(key: bytes, prev_hash: str, fields: dict[str, Any]) -> str:
    return hmac.new(key, prev_hash.encode() + b"\n" + canonical(fields), hashlib.sha256).hexdigest()


def linker(key: bytes) -> Callable[[str, dict[str, Any]], str]:
    """:func:`link` with the key schedule done once (the writer's and the archive checker's loop)."""
    mac = prekeyed_sha256(key)

    def link_to(prev_hash: str, fields: dict[str, Any]) -> str:
        return mac(prev_hash.encode() + b"\n" + canonical(fields)).hex()

    return link_to


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    problem: str


#: A stored row as the database driver returns it: (seq, id, at µs, type code, tenant code, actor code,
#: subject, ip, request_id, data (packed values or canonical JSON bytes), hash (32 bytes), shape code);
#: codes of the name dictionary, packed columns as in storage.compact and storage.shapes.
RawRow = Sequence[Any]
_UNREADABLE = b"?" * 64
_UNREADABLE_RAW = b"?" * 32
_LINK = b"\n"  # format 1: hex(previous hash) || "\n" || canonical JSON
_CANONICAL_AT = 64 + len(_LINK)
_BODY_AT = len(FORMAT_2) + 32  # format 2: 0x02 || previous hash || body (stored_form.message)


def row_body(row: RawRow, packed_names: Mapping[int | None, bytes | None]) -> bytes:
    """The chain-format-2 body of a stored row (``packed_names``: dictionary code -> packed name)."""
    seq, id_, at, type_, tenant, actor, subject, ip, request_id, data, _hash, shape = row
    type_name = packed_names[type_]
    if type_name is None:
        raise ValueError("row without a type")
    return body(seq, at, id_, type_name, packed_names[tenant], packed_names[actor], subject, ip, request_id,
                packed_names[shape], data)


@dataclass
class ChainWalker:
    """Checks rows in ``seq`` order, chunk by chunk, from an anchor. Built for speed (no ORM objects, no
    JSON decoding, one pre-keyed HMAC per row): the canonical bytes are assembled from the stored columns,
    which hold the canonical pieces already; dictionary codes map to their JSON through ``names``
    (:func:`tokensmith.audit.names.json_names`), an unknown code makes the row unreadable."""

    key: bytes
    last_seq: int = 0
    last_hash: str = GENESIS
    names: dict[int | None, bytes] = field(default_factory=lambda: {None: b"null"})
    #: code -> the name packed as stored (``None`` -> ``None``): what format 2 hashes
    packed_names: dict[int | None, bytes | None] = field(default_factory=lambda: {None: None})
    count: int = 0
    problems: list[ChainProblem] = field(default_factory=list)
    checkpoints: list[tuple[int, str]] = field(default_factory=list)  # (seq, data) of checkpoint events
    checkpoint_code: int | None = None
    #: whether the row before ``last_seq`` failed its check (a mismatch after it is a broken link); kept
    #: across chunks and handed to the walker of the next part of a parallel verification
    previous_bad: bool = False
    #: whether the row before ``last_seq`` was of chain format 2 (tried first for the next row)
    format_2: bool = True
    #: shape code -> ``stored data -> canonical JSON`` (:func:`tokensmith.storage.shapes.json_decoders`)
    shapes: dict[int | None, Callable[[bytes], bytes]] = field(default_factory=lambda: {None: bytes})
    _json: dict[Any, bytes] = field(default_factory=dict)
    _second: int = -1
    _second_text: bytes = b""

    def __post_init__(self) -> None:
        self._mac = prekeyed_sha256(self.key)

    def _cache_json(self, packed: bytes | None) -> bytes:
        """JSON of a repetitive packed column (subject, ip) not in the cache yet: made and cached (the
        assembler looks the cache up itself, one ``dict.get`` per column)."""
        found = b"null" if packed is None else _packed_json(bytes(packed))
        if len(self._json) > 200_000:
            self._json.clear()
        self._json[packed] = found
        return found

    def _canonical(self, row: RawRow) -> bytes:
        seq, id_, at, type_, tenant, actor, subject, ip, request_id, data, _hash, shape = row
        second, micros = divmod(at, 1_000_000)
        if second != self._second:
            self._second = second
            self._second_text = (EPOCH + timedelta(seconds=second)).isoformat()[:19].encode()
        names, cached, miss = self.names, self._json.get, self._cache_json
        # cached JSON is never empty: ``or`` falls through to making it only on a miss
        return _TEMPLATE % (
            names[actor], self._second_text, micros, self.shapes[shape](data), _packed_json(id_),
            cached(ip) or miss(ip), b"null" if request_id is None else _packed_json(request_id), seq,
            cached(subject) or miss(subject), names[tenant], names[type_])

    def _body(self, row: RawRow) -> bytes:
        return row_body(row, self.packed_names)

    def data_json(self, row: RawRow) -> bytes:
        return self.shapes[row[11]](row[9])

    def _readable(self, row: RawRow) -> bool:
        try:
            orjson.loads(self.data_json(row))
            return isinstance(row[2], int)
        except Exception:
            return False

    def _data_text(self, row: RawRow) -> str:
        try:
            return self.data_json(row).decode()
        except Exception:
            return ""

    def feed(self, rows: Iterable[RawRow], lines: list[bytes] | None = None) -> None:
        """Check ``rows``; with ``lines``, also append each row's archive line: its canonical JSON with
        ``"hash"`` added (what :func:`archive_line_parts` takes apart again), and for a format-2 row its
        body as ``"stored"`` after it."""
        mac, compare, checkpoint_code = self._mac, hmac.compare_digest, self.checkpoint_code
        prev = self._raw_last_hash()
        expected = self.last_seq + 1
        previous_bad, format_2 = self.previous_bad, self.format_2
        count = 0
        for row in rows:
            seq, stored = row[0], row[10]
            count += 1
            try:
                # the format of the row before first: a chain changes format once, if ever
                message = self._message(format_2, prev, row)
                ok: bool | None = None if message is None else compare(mac(message), stored)
                if ok is not True:
                    other = self._message(not format_2, prev, row)
                    if other is not None and compare(mac(other), stored):
                        ok, format_2, message = True, not format_2, other
                    elif ok is None and other is not None:
                        ok = False  # None only when neither format could be assembled
                if lines is not None:
                    lines.append(self._line(row, message if ok else None, format_2))
            except Exception:
                ok = None
            if ok is not True or seq != expected:
                self._report(row, ok, expected, previous_bad)
            previous_bad = ok is not True
            if row[3] == checkpoint_code:
                self.checkpoints.append((seq, self._data_text(row)))
            prev = stored if isinstance(stored, bytes) else _UNREADABLE_RAW
            expected = seq + 1
        if count:
            self.count += count
            self.last_seq, self.previous_bad, self.format_2 = expected - 1, previous_bad, format_2
            self.last_hash = _UNREADABLE.decode() if prev is _UNREADABLE_RAW else prev.hex()

    def _raw_last_hash(self) -> bytes:
        try:
            return bytes.fromhex(self.last_hash)
        except ValueError:
            return _UNREADABLE_RAW

    def _message(self, format_2: bool, prev: bytes, row: RawRow) -> bytes | None:
        """The MAC input of the row as a link after ``prev`` in that format (None: it cannot be made)."""
        try:
            if format_2:
                return message(prev, self._body(row))
            return binascii.hexlify(prev) + _LINK + self._canonical(row)
        except Exception:
            return None

    def _line(self, row: RawRow, checked: bytes | None, format_2: bool) -> bytes:
        """The archive line of a row; ``checked``: the MAC input that verified (its pieces are reused)."""
        digest = binascii.hexlify(row[10])
        if format_2:
            row_body = checked[_BODY_AT:] if checked is not None else self._body(row)
            return b'%b,"hash":"%b","stored":"%b"}\n' % (self._canonical(row)[:-1], digest, encode_stored(row_body))
        canonical_bytes = checked[_CANONICAL_AT:] if checked is not None else self._canonical(row)
        return b'%b,"hash":"%b"}\n' % (canonical_bytes[:-1], digest)

    def _report(self, row: RawRow, ok: bool | None, expected: int, previous_bad: bool) -> None:
        """The problems of a row that is out of sequence or fails its check (``ok``: None when it could
        not even be assembled)."""
        seq = row[0]
        gap = seq != expected
        if gap:
            self.problems.append(ChainProblem(seq, f"sequence gap: expected {expected} (rows deleted?)"))
        if ok is None or (not ok and not self._readable(row)):
            self.problems.append(ChainProblem(seq, "row unreadable (changed)"))
        elif not ok:
            self.problems.append(ChainProblem(seq, "broken link to the previous row (deleted or inserted)"
                                              if gap or previous_bad else "hash mismatch (row changed)"))

    def resume_after(self, rows: list[RawRow]) -> None:
        """Take the state a serial walk has after ``rows`` -- the last one or two rows before a part of the
        chain that this walker checks on its own -- without reporting anything about them (they belong to
        the previous part). Two rows: the first gives the hash to check the second against, the second
        whether the first row of this part follows a bad one."""
        if len(rows) == 2:
            stored = rows[0][10]
            self.last_seq = rows[0][0]
            self.last_hash = stored.hex() if isinstance(stored, bytes) else _UNREADABLE.decode()
        self.feed(rows[-1:])
        self.count, self.problems, self.checkpoints = 0, [], []


_LINE_TAIL = re.compile(rb',"hash":"([0-9a-f]{64})"}\n?\Z')


def archive_line_parts(line: bytes) -> tuple[bytes, bytes] | None:
    """(canonical bytes, hash) of an archive line written by :meth:`ChainWalker.feed`, or None for a
    line of another shape (an older archive: its events are checked field by field)."""
    match = _LINE_TAIL.search(line, max(0, len(line) - 80))
    if match is None:
        return None
    return line[:match.start()] + b"}", bytes.fromhex(match.group(1).decode())


#: bytes that a JSON string cannot hold as they are (RFC 8259 §7), or that need UTF-8 validation
_NOT_PLAIN = re.compile(rb'[\x00-\x1f"\\\x80-\xff]')


def _packed_json(packed: bytes) -> bytes:
    """``orjson.dumps(unpack_text(packed))`` without the detour for the common kinds: UUIDs with or without
    a plain ASCII prefix (``apikey:<uuid>``), hex, and plain ASCII text (every byte is written as it is,
    as orjson would); anything else -- escapes, non-ASCII, malformed -- takes the detour (which raises
    on what it cannot read)."""
    kind = packed[0]
    if kind == 1 and len(packed) >= 17:
        prefix = packed[1:-16]
        if not prefix or _NOT_PLAIN.search(prefix) is None:
            h = packed[-16:].hex().encode()
            return b'"%b%b-%b-%b-%b-%b"' % (prefix, h[:8], h[8:12], h[12:16], h[16:20], h[20:])
    elif kind == 2:
        return b'"%b"' % packed[1:].hex().encode()
    elif kind == 0 and _NOT_PLAIN.search(packed, 1) is None:
        return b'"%b"' % packed[1:]
    return orjson.dumps(unpack_text(packed))
