"""One error model for the whole service.

Every failure that can reach a client is a :class:`ServiceError`. It carries the public part (status,
error code, description, extra body fields, headers) and a ``debug`` detail meant for logs only; the
single mapping to HTTP lives in :mod:`tokensmith.http.errors`. Only errors below 500 show details.
"""

from __future__ import annotations

import re
from typing import Any

_NOT_IN_DESCRIPTION = re.compile(r"[^\x20-\x21\x23-\x5B\x5D-\x7E]")


class ConfigurationError(Exception):
    """The configuration is unusable; raised at start-up, never mapped to HTTP."""


class ServiceError(Exception):
    """Base of every error a client may see."""

    status: int = 500
    code: str = "server_error"

    def __init__(
        self,
        description: str = "",
        *,
        code: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        debug: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(description or self.code)
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.description = description
        self.headers: dict[str, str] = dict(headers or {})
        self.debug = debug
        self.extra: dict[str, Any] = dict(extra or {})

    def body(self) -> Any:
        """The JSON body sent to the client."""
        body: dict[str, Any] = {"error": self.code}
        if self.description and self.status < 500:
            body["error_description"] = self.description
        body.update(self.extra)
        return body


class OAuthError(ServiceError):
    """An RFC 6749 §5.2 error: ``{"error": code, "error_description": ...}``."""

    status = 400
    code = "invalid_request"

    def body(self) -> Any:
        body = super().body()
        if isinstance(body.get("error_description"), str):
            # §5.2: "MUST NOT include characters outside the set %x20-21 / %x23-5B / %x5D-7E" — and a
            # description may echo what the client sent (a grant type, a scope).
            body["error_description"] = _NOT_IN_DESCRIPTION.sub("?", body["error_description"])
        return body


class InvalidRequest(OAuthError):
    code = "invalid_request"


class InvalidClient(OAuthError):
    """RFC 6749 §5.2: 401, with ``WWW-Authenticate`` when the client tried HTTP Basic."""

    status = 401
    code = "invalid_client"

    def __init__(self, description: str = "client authentication failed", *, basic: bool = False,
                 debug: str | None = None) -> None:
        headers = {"WWW-Authenticate": 'Basic realm="tokensmith", charset="UTF-8"'} if basic else None
        super().__init__(description, headers=headers, debug=debug)


class InvalidGrant(OAuthError):
    code = "invalid_grant"


class InvalidScope(OAuthError):
    code = "invalid_scope"


class UnauthorizedClient(OAuthError):
    code = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    code = "unsupported_grant_type"


class UnsupportedTokenType(OAuthError):
    code = "unsupported_token_type"


class InvalidToken(ServiceError):
    """RFC 6750 §3.1: a Bearer token that is missing, expired, revoked or malformed."""

    status = 401
    code = "invalid_token"

    def __init__(self, description: str = "the access token is invalid", **kw: Any) -> None:
        headers = {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"'}
        headers.update(kw.pop("headers", {}) or {})
        super().__init__(description, headers=headers, **kw)


class InsufficientScope(ServiceError):
    status = 403
    code = "insufficient_scope"


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Gone(ServiceError):
    status = 410
    code = "gone"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class MessageError(ServiceError):
    """Errors of the non-OAuth JSON APIs whose contract is ``{"error": "<message>"}``."""

    def body(self) -> Any:
        body: dict[str, Any] = {"error": self.description}
        body.update(self.extra)
        return body


class RateLimited(ServiceError):
    """429 with ``retry_after`` in the body and ``Retry-After`` in the headers."""

    status = 429
    code = "rate_limited"

    def __init__(self, retry_after: int, description: str = "Rate limit exceeded", *,
                 oauth: bool = False) -> None:
        retry_after = max(1, int(retry_after))
        super().__init__(description, headers={"Retry-After": str(retry_after)},
                         extra={"retry_after": retry_after})
        self.retry_after = retry_after
        self.oauth = oauth

    def body(self) -> Any:
        if self.oauth:
            return {"error": "slow_down", "error_description": self.description, "retry_after": self.retry_after}
        return {"error": self.description, "retry_after": self.retry_after}


class ValidationFailed(ServiceError):
    """400 with a JSON list of ``{"loc", "msg", "type"}`` (pydantic's shape, no ``body`` prefix)."""

    status = 400
    code = "validation_error"

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("validation failed")
        self.errors = errors

    def body(self) -> Any:
        return self.errors


class PayloadTooLarge(ServiceError):
    """413: the request body is larger than the service accepts (``max_request_body``) or than the endpoint's
    own, smaller bound (the session exchange's). One error whoever refuses: the body's shape is the
    endpoint's contract, so it is chosen where errors become responses (:mod:`tokensmith.http.errors`)."""

    status = 413
    code = "invalid_request"

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than {limit} bytes")
        self.limit = limit


class ServiceUnavailable(ServiceError):
    """503: a dependency (the database) is unreachable; the client should retry later."""

    status = 503
    code = "temporarily_unavailable"

    def __init__(self, retry_after: int, description: str = "the service is temporarily unavailable",
                 debug: str | None = None) -> None:
        super().__init__(description, headers={"Retry-After": str(retry_after)}, debug=debug)

    def body(self) -> Any:
        return {"error": self.code, "error_description": self.description}
