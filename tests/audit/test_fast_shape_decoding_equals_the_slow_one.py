"""The generated fast path of a ``data`` shape (:func:`tokensmith.storage.shapes._fast_json`) gives the
very bytes the general decoder gives -- and fails where it fails -- for any shape it is made for and any
input, well-formed or truncated, extended or altered (the verifier's speed must not change a verdict)."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from tokensmith.storage.shapes import SHAPE_PREFIX, Shape, shape_named, split

fixed_value = st.one_of(st.integers(-2**31, 2**31 - 1), st.integers(-2**63, 2**63 - 1), st.uuids().map(str))

def _outcome(decode: object, packed: bytes) -> tuple[str, bytes]:
    try:
        return "ok", decode(packed)  # type: ignore[operator]
    except Exception as exc:
        return type(exc).__name__, b""

@settings(max_examples=300, deadline=None)
@given(values=st.lists(fixed_value, min_size=1, max_size=4), last=st.none() | st.text(max_size=140),
       edit=st.integers(0, 3), where=st.integers(0, 200), byte=st.integers(0, 255))
def test_the_fast_path_agrees_with_the_slow_one(values: list[object], last: str | None, edit: int, where: int,
                                                byte: int) -> None:
    data = {f"k{i}%": v for i, v in enumerate(values)} | ({} if last is None else {"zz": last})
    found = split(orjson.dumps(data, option=orjson.OPT_SORT_KEYS))
    assert found is not None
    shape = shape_named(found[0])
    packed = found[1]
    assert shape.json is not shape.slow_json  # these shapes have a fast path
    cut_at = where % (len(packed) + 1)
    packed = [packed, packed[:cut_at], packed + bytes([byte]),
              packed[:cut_at] + bytes([byte]) + packed[cut_at + 1:]][edit]
    assert _outcome(shape.json, packed) == _outcome(shape.slow_json, packed)
    assert _outcome(shape.json, packed) == _outcome(shape.slow_json, packed)  # with the string cached now

def test_shapes_with_other_layouts_keep_the_general_decoder() -> None:
    for fields in ([["a", "s"], ["b", "u"]], [["a", "s"], ["b", "s"]], [["a", "j"]]):
        shape = shape_named(SHAPE_PREFIX + orjson.dumps(fields).decode())
        assert shape.json == shape.slow_json
    assert Shape([("a", "n"), ("b", "u")]).json(bytes(20)) == b'{"a":0,"b":"00000000-0000-0000-0000-000000000000"}'
