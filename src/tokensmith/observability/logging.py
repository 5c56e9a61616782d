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
