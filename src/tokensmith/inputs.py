"""The input rules every edge applies (spec "Security rules"; ``docs/security.md``, "Input rules").

* **U+0000 is refused everywhere**: no field needs it, PostgreSQL cannot store it in ``text`` or ``jsonb``
  (a NUL that got past the edge would fail the statement, and a queued row would fail every batch of a
  background writer), and C code downstream would cut the string short.
* **The rest of the C0 range except tab and newline is refused in names and identifiers** (ids, client ids,
  e-mail addresses, names, user ids, organisations, notes, scopes): such a character is never part of a
  name, and it is how log and terminal injection starts. Free text that is never shown (passwords, codes,
  tokens) only loses U+0000.

This module holds the rules (two predicates and the pydantic types built on them); each edge refuses in
its own family's 400 shape: pydantic bodies and FastAPI path/query parameters as the list of
``{"loc", "msg", "type": "control_character"}``, the OAuth endpoints as RFC 6749 ``invalid_request``.
The checks are one C-level ``str.isprintable`` call for the common string and a precompiled regex only
when that fails: they are on the token and exchange hot paths.

Numbers are range-checked where they enter, with the bounds below (a number beyond them is a 400, never
an ``OverflowError`` from the database driver).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

ERROR_TYPE = "control_character"
NUL_MESSAGE = "must not contain control characters (U+0000)"
CONTROL_MESSAGE = "must not contain control characters (U+0000 to U+001F other than tab and newline)"

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")

# Number bounds (documented in docs/security.md, "Input rules").
MAX_OFFSET = 1_000_000  # list offsets: deeper pages are not a use case, and the SQL stays cheap


def has_nul(value: str) -> bool:
    return "\x00" in value


def has_control(value: str) -> bool:
    """True when ``value`` holds a C0 control character other than tab and newline (U+0000 included)."""
    # isprintable() is false for tab/newline and for non-ASCII separators too: only then is the regex asked.
    return not value.isprintable() and _CONTROL.search(value) is not None


def nul_free(value: str) -> str:
    if "\x00" in value:
        raise PydanticCustomError(ERROR_TYPE, "Value " + NUL_MESSAGE)
    return value


def control_free(value: str) -> str:
    if not value.isprintable() and _CONTROL.search(value) is not None:
        raise PydanticCustomError(ERROR_TYPE, "Value " + CONTROL_MESSAGE)
    return value


def control_error(loc: list[str | int], *, nul_only: bool = False) -> dict[str, object]:
    """One entry of the 400 list, for edges that check outside pydantic (path and query parameters)."""
    return {"loc": loc, "msg": "Value " + (NUL_MESSAGE if nul_only else CONTROL_MESSAGE), "type": ERROR_TYPE}


NoNul = AfterValidator(nul_free)
"""``Annotated[str, Field(...), NoNul]``: free text no one reads as a name (passwords, codes, tokens).
Put it after the field's length constraints, so that those keep pydantic's ``string_too_long`` errors."""

NoControl = AfterValidator(control_free)
"""``Annotated[str, Field(...), NoControl]``: names, identifiers and notes."""

Text = Annotated[str, NoNul]
Label = Annotated[str, NoControl]
"""Unconstrained forms (list items: ``list[Label]``)."""


def utc_instant(value: datetime) -> datetime:
    """An instant in UTC (a naive one is taken as UTC), refused when UTC has no such date (an offset past
    9999-12-31 or before year 1)."""
    try:
        return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    except (OverflowError, ValueError):
        raise PydanticCustomError("datetime_range", "Input should be a date between years 1 and 9999 in UTC") \
            from None


Instant = Annotated[datetime, AfterValidator(utc_instant)]
"""A date and time as an instant in UTC (naive: UTC)."""
