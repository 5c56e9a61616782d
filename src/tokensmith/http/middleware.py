"""Pure ASGI middleware (no BaseHTTPMiddleware: it costs a task per request on the hot path):
request id, access log, metrics, and the last line of defence that turns an escaped exception into
a JSON 500/503 instead of a stack trace."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tokensmith.errors import PayloadTooLarge
from tokensmith.http.errors import error_response, unexpected_response
from tokensmith.ids import new_request_id
from tokensmith.observability.access_log import AccessLog
from tokensmith.observability.logging import request_id_var
from tokensmith.observability.metrics import Metrics

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

log = logging.getLogger("tokensmith.access")
_RID_OK = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, runtime_getter: Callable[[], Runtime], metrics: Metrics,
                 access_log: AccessLog) -> None:
        self.app = app
        self._runtime = runtime_getter
        self._metrics = metrics
        self._access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = None
        length: int | None = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                rid = candidate if _RID_OK.match(candidate) else None
            elif name == b"content-length":
                length = int(value) if value.isdigit() else -1
        rid = rid or new_request_id()
        limit = self._runtime().settings.max_request_body
        too_large = length is not None and length > limit
        if length is None and scope["method"] not in _BODYLESS:
            receive = _limited(receive, limit)  # chunked: count the body as it arrives
        token = request_id_var.set(rid)
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        status_holder = [500]
        response_started = [False]
        rid_header = (b"x-request-id", rid.encode())

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_started[0] = True
                status_holder[0] = message["status"]
                message["headers"] = [*message.get("headers", []), rid_header]
            await send(message)

        try:
            if too_large:
                await error_response(PayloadTooLarge(limit), scope["path"])(scope, receive, send_wrapper)
            else:
                await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            if response_started[0]:
                raise
            response = unexpected_response(exc, self._runtime().settings, scope.get("path", ""))
            await response(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            status = status_holder[0]
            metrics = self._metrics
            metrics.child(metrics.requests, endpoint, scope["method"], str(status)).inc()
            metrics.child(metrics.latency, endpoint).observe(elapsed)
            self._access_log.write(scope["method"], scope["path"], status, round(elapsed * 1000, 2),
                                   _client(scope), rid)
            request_id_var.reset(token)


_BODYLESS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


def _limited(receive: Receive, limit: int) -> Receive:
    received = 0

    async def wrapper() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise PayloadTooLarge(limit)
        return message

    return wrapper


def _client(scope: Scope) -> str | None:
    client = scope.get("client")
    return client[0] if client else None
