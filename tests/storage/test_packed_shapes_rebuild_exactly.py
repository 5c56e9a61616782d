"""An audit event's ``data`` packed by its shape (revision 0008) rebuilds its canonical JSON byte for byte,
whatever mix of value kinds and lengths it holds; what cannot be rebuilt stays plain JSON."""

from __future__ import annotations

from typing import Any

import pytest

from tokensmith.storage.compact import canonical_data
from tokensmith.storage.shapes import data_json, shape_named, split

UUID = "0190a6b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"

CASES: list[dict[str, Any]] = [
    {"grant": "client_credentials", "format": "jwt", "scope": ["api.read", "api.write"]},
    {"exp": 1796244000, "jti": UUID, "sid": UUID, "via": "exchange"},
    {"a": -2**31, "b": 2**31, "c": 2**63 - 1, "d": -2**63, "e": "x" * 127, "f": "y" * 128, "g": "é" * 9000},
    {"nested": {"z": 1, "a": [UUID, None, True]}, "n": 0, "u": UUID, "s": ""},
]


@pytest.mark.parametrize("data", CASES)
def test_packed_data_rebuilds_the_canonical_json(data: dict[str, Any]) -> None:
    canonical = canonical_data(data)
    found = split(canonical)
    assert found is not None
    name, packed = found
    assert data_json(packed, 1, {1: name}) == canonical
    assert shape_named(name).json(packed) == canonical


@pytest.mark.parametrize("data", [{"ratio": 0.1}, {"id": UUID.upper()}, {}])
def test_what_cannot_be_rebuilt_stays_json(data: dict[str, Any]) -> None:
    found = split(canonical_data(data))
    if found is not None:  # packed only when the rebuild is exact
        assert shape_named(found[0]).json(found[1]) == canonical_data(data)
