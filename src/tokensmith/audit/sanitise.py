"""The writable stand-in of an audit event the database refused.

The event is not dropped (that would hide what a hostile client did) and keeps its id, time and type:
each text is made storable — NUL and unpaired surrogates replaced by U+FFFD, cut to its column's
length — and ``data`` gains ``"_sanitised": <reason>`` so that nobody mistakes it for the original.
It is chained with the next ``seq`` like any event, so the chain has no hole. Should even that copy be
refused, a minimal copy (type, time, id and the marker only) is written instead.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

MARKER = "_sanitised"
_COLUMN_LIMITS = {"type": 60, "tenant_id": 36, "actor": 200, "subject": 200, "ip": 64, "request_id": 64}
_TEXT_LIMIT = 2000
_INT_LIMIT = 2**63


def clean_text(value: str, limit: int = _TEXT_LIMIT) -> str:
    value = value.replace("\x00", "\ufffd")
    value = value.encode("utf-8", "replace").decode("utf-8")  # unpaired surrogates become "?"
    return value[:limit]


def clean_value(value: Any, depth: int = 0) -> Any:
    """A JSON value every database and encoder accepts."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -_INT_LIMIT < value < _INT_LIMIT else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return clean_text(value)
    if depth > 20:
        return clean_text(str(value))
    if isinstance(value, dict):
        return {clean_text(str(k), 200): clean_value(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_value(v, depth + 1) for v in value]
    return clean_text(str(value))


def sanitised(event: Any, reason: str) -> Any:
    """A copy of ``event`` (a ``PendingEvent``) with every field storable and the marker in ``data``."""
    fields: dict[str, Any] = {}
    for name, limit in _COLUMN_LIMITS.items():
        value = getattr(event, name)
        fields[name] = None if value is None else clean_text(str(value), limit)
    data = clean_value(event.data) if isinstance(event.data, dict) else {}
    data[MARKER] = reason
    return dataclasses.replace(event, data=data, **fields)


def minimal(event: Any, reason: str) -> Any:
    """The last resort: what happened and when, nothing the client sent."""
    return dataclasses.replace(event, type=clean_text(str(event.type), 60), tenant_id=None, actor=None,
                               subject=None, ip=None, request_id=None, data={MARKER: reason, "minimal": True})
