"""JSON logs, one object per line, with the request id of the request being served.

No secret may reach a log: request bodies, query strings and credential headers are never logged, and
:func:`redact` masks anything that looks like a bearer token, Basic credentials or an API key in
messages and tracebacks as a second line of defence.
"""

from __future__ import annotations

import contextvars
import logging
import logging.config
import re
import time
import traceback
from typing import Any

import orjson

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_SECRET_PATTERNS = [
    re.compile(r"(?i)(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"\b[0-9a-f]{32}:[0-9a-f]{48}\b"),
    re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),
    re.compile(r"(?i)(client_secret|password|refresh_token|token|secret)=([^&\s]+)"),
]


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) + " [redacted]") if m.lastindex else "[redacted]", text)
    return text


#: uvicorn logs its start-up and shutdown lines on "uvicorn.error" whatever their level; an ``info`` line
#: from a logger called "error" reads like a failure.
_LOGGER_NAMES = {"uvicorn.error": "uvicorn"}


def timestamp(seconds: float) -> str:
    """The ``ts`` of every log line: UTC, milliseconds, ``Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds % 1 * 1000):03d}Z"


def json_line(entry: dict[str, Any]) -> bytes:
    """One log line: compact JSON (orjson), the same bytes for the access log and every other logger."""
    return orjson.dumps(entry, default=str)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": _LOGGER_NAMES.get(record.name, record.name),
            "msg": redact(record.getMessage()),
        }
        rid = getattr(record, "request_id", None) or request_id_var.get()
        if rid:
            entry["request_id"] = rid
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info and record.exc_info[0] is not None:
            entry["exc_type"] = record.exc_info[0].__name__
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json_line(entry).decode()

    def formatException(self, ei: Any) -> str:
        """A traceback without the text of database errors: that text carries the SQL, and values in the
        driver's message (``invalid input for query argument $2: '…'``) and in ``DETAIL`` lines. Such an
        exception shows as its class, SQLSTATE and statement kind; the frames are kept."""
        exc = ei[1]
        chain = _chain(exc)
        if not any(_is_database_error(e) for e in chain):
            return super().formatException(ei)
        from tokensmith.storage.db import describe_db_error

        lines = ["Traceback (most recent call last), database error text withheld:\n"]
        for error in reversed(chain):
            lines.extend(traceback.format_tb(error.__traceback__))
            text = describe_db_error(error) if _is_database_error(error) else redact(str(error))[:300]
            lines.append(f"{type(error).__module__}.{type(error).__qualname__}: {text}\n")
        return "".join(lines).rstrip("\n")


_DATABASE_MODULES = ("sqlalchemy", "asyncpg", "sqlite3", "aiosqlite", "psycopg")


def _is_database_error(error: BaseException) -> bool:
    return type(error).__module__.startswith(_DATABASE_MODULES) or hasattr(error, "statement")


def _chain(exc: BaseException | None) -> list[BaseException]:
    """``exc`` and its causes/contexts, outermost first."""
    found: list[BaseException] = []
    while exc is not None and exc not in found and len(found) < 20:
        found.append(exc)
        exc = exc.__cause__ or exc.__context__
    return found


def _numeric_level(level: str) -> int:
    numeric = logging.getLevelName(level.upper())
    return numeric if isinstance(numeric, int) else logging.INFO


def logging_config(level: str = "INFO", stream: Any = "ext://sys.stderr") -> dict[str, Any]:
    """The :func:`logging.config.dictConfig` of the service: JSON lines on stderr. ``level`` applies to
    tokensmith's own loggers; libraries log at INFO at most (their DEBUG output — every SQL statement
    with its parameters — has no place in a service log). ``tokensmith serve`` hands it to uvicorn, which
    applies it in every worker process."""
    numeric = _numeric_level(level)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": stream}},
        "root": {"level": max(numeric, logging.INFO), "handlers": ["stderr"]},
        "loggers": {
            "tokensmith": {"level": numeric},
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            # the access log is tokensmith's own (observability.access_log), uvicorn's stays off
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
        },
    }


def configure_logging(level: str = "INFO", stream: Any = None) -> None:
    logging.config.dictConfig(logging_config(level, stream or "ext://sys.stderr"))
