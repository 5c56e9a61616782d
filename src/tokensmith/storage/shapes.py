"""Packed ``data`` (revision 0008): an event's ``data`` object stored as its *shape* -- the keys and the
kind of each value, a name in the audit dictionary shared by millions of rows -- plus the values alone,
UUIDs as 16 raw bytes and integers as 4 or 8. An ``exchange.issued`` event's ``data`` (``exp``, ``jti``,
``sid``, ``via``: ~115 bytes of JSON) takes 44.

The canonical JSON the chain hashes is rebuilt from shape and values byte for byte; :func:`split` checks
that before it packs anything, so a value it cannot rebuild exactly (a float, an upper-case UUID) keeps
the object as plain canonical JSON (``shape_code`` NULL). Fixed-size values come first, so that one
``struct`` call reads them all.
"""

from __future__ import annotations

import binascii
import re
import struct
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import orjson

SHAPE_PREFIX = "\x01shape "  # dictionary names that are shapes (no type, tenant or actor starts so)
_CANONICAL = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
_FIXED = {"u": "IHHHHI", "n": "i", "i": "q"}  # UUID, int32, int64; "s" (string) and "j" (JSON) are variable


_UUID_PARTS = struct.Struct(">IHHHHI")
_SLOT = {"u": b'"%08x-%04x-%04x-%04x-%04x%08x"', "n": b"%d", "i": b"%d"}


_ONE_BYTE = [bytes((n,)) for n in range(0x80)]  # the varint of a length under 128 (most values)


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return "u" if len(value) == 36 and _UUID.match(value) else "s"
    if type(value) is int:
        return "n" if -2**31 <= value < 2**31 else "i" if -2**63 <= value < 2**63 else "j"
    return "j"


class Shape:
    """One shape: how to rebuild the canonical JSON from packed values. The fixed-size values are read by
    one ``struct`` call straight into the %-template (a UUID as its six hex groups), so an event of the
    common shapes costs one unpack and one format."""

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self.fields = fields
        fixed = [k for _key, k in fields if k in _FIXED]
        self._variable = [k for _key, k in fields if k not in _FIXED]
        self._fixed = struct.Struct(">" + "".join(_FIXED[k] for k in fixed))
        self._template = b"{" + b",".join(orjson.dumps(key).replace(b"%", b"%%") + b":" + _SLOT.get(k, b"%b")
                                          for key, k in fields) + b"}"
        # where each value goes in the template's argument tuple: fixed ones are unpacked flat (a UUID
        # gives six numbers), variable ones follow them in the packed bytes
        self._order: list[tuple[bool, int]] | None = None
        kinds = self._kinds = [k for _key, k in fields]
        if any(k in _FIXED for k in kinds[kinds.index(self._variable[0]):]) if self._variable else False:
            order, f, v = [], 0, 0
            for k in kinds:
                width = 6 if k == "u" else 1
                order += [(True, f + j) for j in range(width)] if k in _FIXED else [(False, v)]
                f, v = (f + width, v) if k in _FIXED else (f, v + 1)
            self._order = order
        self._strings: dict[bytes, bytes] = {}
        self.json = _fast_json(self) or self.slow_json  # type: ignore[method-assign,assignment]

    def pack(self, values: list[Any]) -> bytes:
        """The packed values: the fixed-size ones by one ``struct`` call, then each variable one with its
        length. One pass over the fields (the audit writer packs every event it writes)."""
        fixed: list[Any] = []
        out = [b""]
        for kind, value in zip(self._kinds, values, strict=True):
            if kind == "s":
                encoded = value.encode()
            elif kind == "u":
                fixed += _UUID_PARTS.unpack(bytes.fromhex(value.replace("-", "")))
                continue
            elif kind in _FIXED:
                fixed.append(value)
                continue
            else:
                encoded = orjson.dumps(value, option=_CANONICAL)
            size = len(encoded)
            out += [_ONE_BYTE[size] if size < 0x80 else _varint(size), encoded]
        out[0] = self._fixed.pack(*fixed)
        return b"".join(out)

    def json(self, packed: bytes) -> bytes:
        """The canonical JSON object of packed values (raises on a malformed value); replaced per
        instance by the shape's fast path where it has one."""
        return self.slow_json(packed)

    def slow_json(self, packed: bytes) -> bytes:
        """:meth:`json` for any shape and any input: the authority the fast path defers to."""
        values = self._fixed.unpack_from(packed)
        offset = self._fixed.size
        if not self._variable:
            if offset != len(packed):
                raise ValueError("packed data too long")
            return self._template % values
        parts: list[bytes] = []
        strings = self._strings
        for kind in self._variable:
            length, shift = 0, 0
            while True:
                byte = packed[offset]
                offset += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if byte < 0x80:
                    break
            value = packed[offset:offset + length]
            if len(value) != length:
                raise ValueError("packed data truncated")
            offset += length
            if kind == "s":
                found = strings.get(value)
                if found is None:
                    found = orjson.dumps(value.decode())
                    if len(strings) < 1024:
                        strings[value] = found
                value = found
            parts.append(value)
        if offset != len(packed):
            raise ValueError("packed data too long")
        if self._order is None:
            return self._template % (*values, *parts)
        return self._template % tuple(values[i] if fixed else parts[i] for fixed, i in self._order)


_FAST_SOURCE = """
def fast(p, hexlify=hexlify, ints=ints, template=template, strings=strings, slow=slow):
    if {length_check}:
        return slow(p)
    h = hexlify(p[:{fixed}])
    {variable}
    return template % ({args})
"""


def _fast_json(shape: Shape) -> Callable[[bytes], bytes] | None:
    """A function equal to ``shape.slow_json`` on every input, generated for the common shapes: fixed-size
    values first, then at most one string (``exchange.issued``: an int, two UUIDs, one string). UUIDs
    come out of one ``hexlify`` of the fixed part by slicing (~2x cheaper than formatting six integers);
    anything unusual -- a string of 128 bytes or more, one not seen yet, a wrong length -- goes to the
    slow path, which also raises what it raises. The generated code holds only offsets: keys live in the
    template, an argument."""
    kinds = [k for _key, k in shape.fields]
    variable = shape._variable
    if not kinds or shape._order is not None or variable not in ([], ["s"]):
        return None
    ints = struct.Struct(">" + "".join({"u": "16x", "n": "i", "i": "q"}[k] for k in kinds if k in _FIXED))
    fixed, offset, n, args = ints.size, 0, 0, []
    for kind in kinds:
        if kind == "u":
            o = 2 * offset
            args += [f"h[{o + a}:{o + b}]" for a, b in ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32))]
            offset += 16
        elif kind in _FIXED:
            args.append(f"i[{n}]")
            n, offset = n + 1, offset + (4 if kind == "n" else 8)
    length_check = f"len(p) != {fixed}"
    source_variable = "i = ints(p)" if n else ""
    if variable:
        length_check = f"len(p) <= {fixed} or p[{fixed}] != len(p) - {fixed + 1} or p[{fixed}] > 127"
        source_variable += f"\n    s = strings.get(p[{fixed + 1}:])\n    if s is None:\n        return slow(p)"
        args.append("s")
    template = shape._template.replace(b'"%08x-%04x-%04x-%04x-%04x%08x"', b'"%b-%b-%b-%b-%b"')
    namespace: dict[str, Any] = {}
    exec(  # noqa: S102 - generated from offsets only, see the docstring
        _FAST_SOURCE.format(length_check=length_check, fixed=fixed, variable=source_variable,
                            args=", ".join(args) + ","),
        {"hexlify": binascii.hexlify, "ints": ints.unpack_from, "template": template,
         "strings": shape._strings, "slow": shape.slow_json}, namespace)
    fast: Callable[[bytes], bytes] = namespace["fast"]
    return fast


@lru_cache(maxsize=4096)
def shape_named(name: str) -> Shape:
    """The shape a dictionary name describes (raises ValueError for a name that is no shape)."""
    if not name.startswith(SHAPE_PREFIX):
        raise ValueError("not a shape")
    fields = orjson.loads(name[len(SHAPE_PREFIX):])
    return Shape([(str(key), str(kind)) for key, kind in fields])


@lru_cache(maxsize=4096)
def _shape_of(fields: tuple[tuple[str, str], ...]) -> tuple[str, Shape]:
    """(dictionary name, shape) of a field list: the name is built and parsed once per shape, not per event."""
    name = SHAPE_PREFIX + orjson.dumps(fields).decode()
    return name, shape_named(name)


def split(data_json: bytes) -> tuple[str, bytes] | None:
    """(shape name, packed values) for a canonical JSON object, or None when it is to stay JSON."""
    obj = orjson.loads(data_json)
    if not isinstance(obj, dict) or not obj:
        return None
    name, shape = _shape_of(tuple([(key, _kind(value)) for key, value in obj.items()]))
    packed = shape.pack(list(obj.values()))
    if shape.json(packed) != data_json:
        return None  # not rebuilt byte for byte: kept as it is
    return name, packed


def data_json(packed: bytes, shape_code: int | None, names: Mapping[int, str]) -> bytes:
    """The canonical JSON of a stored ``data`` column (``names``: dictionary code -> name)."""
    if shape_code is None:
        return bytes(packed)
    return shape_named(names[shape_code]).json(bytes(packed))


def data_of(packed: bytes | None, shape_name: str | None) -> dict[str, Any]:
    """The ``data`` object of a stored row, given its shape's name (the ORM's view)."""
    if packed is None:
        return {}
    raw = bytes(packed) if shape_name is None else shape_named(shape_name).json(bytes(packed))
    value: dict[str, Any] = orjson.loads(raw) if raw else {}
    return value


def json_decoders(names: Mapping[int, str]) -> dict[int | None, Callable[[bytes], bytes]]:
    """shape code -> ``packed -> canonical JSON`` for the shapes of ``names``, parsed once (``None``: the
    column holds the canonical JSON itself). A code that is no shape has no entry."""
    decoders: dict[int | None, Callable[[bytes], bytes]] = {None: bytes}
    decoders.update((code, shape_named(name).json) for code, name in names.items()
                    if name.startswith(SHAPE_PREFIX))
    return decoders


__all__ = ["SHAPE_PREFIX", "Shape", "data_json", "data_of", "json_decoders", "shape_named", "split"]
