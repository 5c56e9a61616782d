"""The one place where errors become HTTP responses.

* :class:`ServiceError` → its status, body and headers (details only below 500).
* A lost database → 503 with ``Retry-After`` (the pool reconnects by itself when it is back).
* Request validation → 400 with a list of ``{"loc", "msg", "type"}`` (no ``body`` prefix).
* A client that hung up before its body arrived → an aborted request (a warning; status 499 in the
  access log and metrics, nothing is sent: nobody is listening).
* Anything else → 500 ``{"error": "server_error"}``; the exception goes to the log, never to the wire.
* On the browser's pages (routes tagged ``pages``) the same errors are the error page instead of JSON
  (a 3xx, such as "sign in first", is a redirect).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from tokensmith.config import Settings
from tokensmith.errors import PayloadTooLarge, ServiceError, ServiceUnavailable, ValidationFailed
from tokensmith.http.deps import runtime
from tokensmith.http.responses import json_response
from tokensmith.storage.db import is_outage

log = logging.getLogger("tokensmith.http")

#: Spec A (the session exchange) answers every error as ``{"error": "<message>"}``; a body too large for it,
#: whether its own bound or the service's refused it, says so in that shape too.
_MESSAGE_SHAPED_PATHS = frozenset({"/api/v1/token/", "/api/v1/token"})
TOO_LARGE_MESSAGE = "Request body too large"
_NO_STORE_PATHS = ("/oauth/", "/identity-server/", "/api/v1/token", "/auth/", "/api/user/oauth2/", "/smart/token")


def clean_validation_errors(errors: Any) -> list[dict[str, Any]]:
    """Pydantic/FastAPI errors as the wire contract shows them."""
    cleaned = []
    for err in errors:
        loc = [part for part in err.get("loc", ()) if part != "body"]
        cleaned.append({"loc": loc, "msg": err.get("msg", ""), "type": err.get("type", "value_error")})
    return cleaned


def error_response(exc: ServiceError, path: str = "") -> Response:
    if exc.status >= 500:
        log.warning("request failed: %s", exc.code, extra={"fields": {"debug": exc.debug, "status": exc.status}})
    elif exc.debug:
        log.info("request refused: %s", exc.code, extra={"fields": {"debug": exc.debug, "status": exc.status}})
    no_store = path.startswith(_NO_STORE_PATHS)
    body = exc.body()
    if isinstance(exc, PayloadTooLarge) and path in _MESSAGE_SHAPED_PATHS:
        body = {"error": TOO_LARGE_MESSAGE}
    return json_response(body, exc.status, exc.headers, no_store=no_store)


def unavailable(settings: Settings, exc: BaseException, path: str = "") -> Response:
    return error_response(ServiceUnavailable(settings.db_retry_after, debug=type(exc).__name__), path)


#: The exception classes a lost database or Redis (or a client that went away) raise into a handler.
EXPECTED_FAILURES: tuple[type[Exception], ...] = (SQLAlchemyError, RedisError, OSError, ClientDisconnect)

#: nginx's "client closed request": what the access log and the metrics record for an aborted request
ABORTED_STATUS = 499


def aborted_response() -> Response:
    """The client went away mid-request: its fault (or its network's), not the service's — a warning with
    the request id, never an "unhandled error"."""
    log.warning("request aborted by the client")
    return Response(status_code=ABORTED_STATUS)


def unexpected_response(exc: BaseException, settings: Settings, path: str = "") -> Response:
    """An exception that escaped the handlers: a service error keeps its mapping, a client that hung up
    is an aborted request, a lost database is a 503, anything else a bare 500 (logged)."""
    if isinstance(exc, ServiceError):
        return error_response(exc, path)
    if isinstance(exc, ClientDisconnect):
        return aborted_response()
    if is_outage(exc):
        return unavailable(settings, exc, path)
    log.error("unhandled error", exc_info=exc)
    return json_response({"error": "server_error"}, 500)


PAGE_TAG = "pages"
_PAGE_TITLES = {400: "This request cannot be answered", 403: "Not allowed", 404: "Not found",
                429: "Too many attempts", 503: "Temporarily unavailable"}


def is_page(request: Request) -> bool:
    """A browser page (HTML) rather than a JSON endpoint."""
    return PAGE_TAG in (getattr(request.scope.get("route"), "tags", None) or ())


def page_error_response(request: Request, exc: ServiceError) -> Response:
    from tokensmith.web.pages import error_page, security_headers

    if 300 <= exc.status < 400:
        return Response(status_code=exc.status, headers={**security_headers(), **exc.headers})
    if exc.status >= 500:
        log.warning("page failed: %s", exc.code, extra={"fields": {"debug": exc.debug, "status": exc.status}})
    elif exc.debug:
        log.info("page refused: %s", exc.code, extra={"fields": {"debug": exc.debug, "status": exc.status}})
    message = exc.description if exc.status < 500 and exc.description else "The service could not answer."
    title = _PAGE_TITLES.get(exc.status, "Something went wrong")
    return error_page(request, exc.status, title, message, headers=exc.headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> Response:
        if is_page(request):
            return page_error_response(request, exc)
        return error_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        failed = ValidationFailed(clean_validation_errors(exc.errors()))
        if is_page(request):
            failed.status, failed.description = 400, "The request has invalid parameters."
            return page_error_response(request, failed)
        return error_response(failed, request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if isinstance(exc.__cause__, ClientDisconnect):  # FastAPI reports a body cut short as a 400
            return aborted_response()
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return json_response({"error": code, "error_description": str(exc.detail)}, exc.status_code,
                             dict(exc.headers or {}))

    async def _unexpected(request: Request, exc: Exception) -> Response:
        settings = runtime(request).settings
        if is_page(request) and not isinstance(exc, ClientDisconnect):
            if is_outage(exc):
                return page_error_response(request, ServiceUnavailable(settings.db_retry_after,
                                                                       debug=type(exc).__name__))
            if not isinstance(exc, ServiceError):
                log.error("unhandled error", exc_info=exc)
                return page_error_response(request, ServiceError("", status=500))
            return page_error_response(request, exc)
        return unexpected_response(exc, settings, request.url.path)

    # Starlette sends the response of an ``Exception`` handler and then re-raises the exception to the
    # server, which logs it as an application crash and drops the kept-alive connection. The failures the
    # service expects (a lost database or Redis, a client that hung up) are registered by class, so they
    # are answered in place like any other error.
    for expected in EXPECTED_FAILURES:
        app.add_exception_handler(expected, _unexpected)
    app.add_exception_handler(Exception, _unexpected)
