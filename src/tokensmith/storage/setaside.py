"""Writing a batch when one of its rows cannot be written.

A batch is one statement in one transaction, so a single unwritable row (PostgreSQL refuses a NUL in
text, a value longer than its column, a string the driver cannot encode) fails the whole batch — and,
retried as it is, every later batch too: one hostile request would stop the writer for good. On such a
*data* error (never on an outage, which is retried whole as before) the batch is split in halves and
each half written on its own, down to the single row that fails; that row goes to the writer's
``set_aside`` (the audit log stores a sanitised, marked copy; the other writers drop it), everything
else is written in order. A batch of n rows with one bad row costs about 2·log2(n) extra transactions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from tokensmith.storage.db import is_data_error

T = TypeVar("T")


async def write_setting_aside(items: list[T], write: Callable[[list[T]], Awaitable[int]],
                              set_aside: Callable[[T, BaseException], Awaitable[int]]) -> int:
    """``write(items)``; on a data error, bisect and hand each row that fails alone to ``set_aside``.
    Any other error propagates (the caller keeps the batch and retries it whole)."""
    try:
        return await write(items)
    except Exception as exc:
        if not is_data_error(exc):
            raise
        if len(items) == 1:
            return await set_aside(items[0], exc)
    middle = len(items) // 2
    return (await write_setting_aside(items[:middle], write, set_aside)
            + await write_setting_aside(items[middle:], write, set_aside))


def data_error_reason(exc: BaseException) -> str:
    """Why a row was refused, without its values: the SQLSTATE, else the exception's class."""
    error: BaseException | None = exc
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
        if isinstance(state, str):
            return f"sqlstate {state}"
        error = getattr(error, "orig", None) or error.__cause__
    return type(exc).__name__
