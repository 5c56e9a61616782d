"""Identifiers: UUIDv7 ``jti`` values carry their issue time (read back for cut-off revocations), ids are
well-formed and unique, request ids are unique per process."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from tokensmith.ids import new_id, new_request_id, new_row_id, uuid7, uuid7_ms


@given(st.integers(min_value=0, max_value=(1 << 48) - 1))
def test_the_issue_time_is_read_back_from_a_uuid7(ms: int) -> None:
    value = uuid7(ms)
    parsed = uuid.UUID(value)
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert uuid7_ms(value) == ms
    assert uuid7_ms(value.upper()) == ms  # the general path agrees with the fast one


def test_what_is_not_a_uuid7_has_no_issue_time() -> None:
    assert uuid7_ms(new_id()) is None  # version 4
    for value in ("", "nonsense", "01a22129-33d5-799f-a7eb", "01a22129-33d5-799f-c7eb-f5e5a0f82461"):
        assert uuid7_ms(value) is None, value


def test_ids_are_well_formed_and_unique() -> None:
    v4 = [uuid.UUID(new_id()) for _ in range(2000)]
    assert all(u.version == 4 and u.variant == uuid.RFC_4122 for u in v4)
    rows = [new_row_id() for _ in range(2000)]
    assert all(uuid.UUID(r).version == 7 for r in rows)
    assert len(set(v4)) == len(v4) and len(set(rows)) == len(rows)
    stamps = [r[:13] for r in rows]  # the 48-bit millisecond timestamp leads: rows land in time order
    assert stamps == sorted(stamps)


def test_request_ids_are_unique_32_hex() -> None:
    ids = [new_request_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
