"""A secret that cannot leak by accident: its ``repr()`` and ``str()`` are a fixed mask, so a secret that
ends up in a log line, an exception message, a traceback's locals or a debugger's view shows ``'***'``.
The value is read only through :meth:`Secret.reveal`, at the one place that puts it on the wire."""

from __future__ import annotations

import hmac

MASK = "***"


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str) or not value:
            raise ValueError("a secret must be a non-empty string")
        self._value = value

    def reveal(self) -> str:
        """The value itself — only for the request that sends it."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret is not picklable (it would leave the process in clear)")


def secret(value: str | Secret) -> Secret:
    """``value`` as a :class:`Secret` (unchanged when it already is one)."""
    return value if isinstance(value, Secret) else Secret(value)
