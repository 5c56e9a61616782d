"""Typed errors of the SDK, each carrying the server's own message.

The token endpoints answer every failure with a status and a small JSON body (spec §A to §E; RFC 6749 §5.2
for the OAuth ones). :func:`error_for` turns such a response into the most specific class below, so an
integrator can ``except UserTokenRevoked`` (ask the user for a new token) apart from ``RateLimited`` (wait)
or ``InvalidApiKey`` (fix the configuration). Messages come from the server's body, never from the
request: no error of the SDK contains a secret that was sent.
"""

from __future__ import annotations

import re
from typing import Literal

import httpx

#: which kind of endpoint answered: the same status means different things at each
Endpoint = Literal["token", "exchange", "user_token", "login", "refresh", "api"]
_MAX_MESSAGE = 500
_CODE = re.compile(r"^[a-z][a-z_]{2,40}$")  # an RFC 6749 error code, not a sentence


class TokensmithError(Exception):
    """Base of every error the SDK raises on purpose. ``status`` is the HTTP status (None when there
    was no response), ``error`` the server's error code when it sent one, ``message`` its message."""

    status: int | None = None

    def __init__(self, message: str, *, status: int | None = None, error: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.error = error

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, error={self.error!r}, message={self.message!r})"


class ProtocolError(TokensmithError):
    """The server answered something the contract does not allow (a 200 without a token, not JSON)."""


class MfaRequired(TokensmithError):
    """The account has TOTP on and no ``totp=`` callback was given to :class:`PasswordAuth`."""


class BadRequest(TokensmithError):
    status = 400

    def __init__(self, message: str, *, status: int | None = None, error: str | None = None,
                 errors: list[dict[str, object]] | None = None) -> None:
        super().__init__(message, status=status, error=error)
        self.errors = errors or []


class ValidationFailed(BadRequest):
    """400 with the spec's list of ``{"loc", "msg", "type"}`` (see :attr:`errors`)."""


class InvalidGrant(BadRequest):
    """RFC 6749 ``invalid_grant``."""


class InvalidScope(BadRequest):
    """RFC 6749 ``invalid_scope``: a scope the client may not have."""


class Unauthorized(TokensmithError):
    status = 401


class InvalidClient(Unauthorized):
    """RFC 6749 ``invalid_client``: unknown client, wrong secret or assertion, disabled client."""


class InvalidApiKey(Unauthorized):
    """The API key is missing, unknown, wrong, revoked, expired or inactive (spec §A)."""


class InvalidCredentials(Unauthorized):
    """Wrong e-mail or password, or a wrong TOTP code (spec §D)."""


class Forbidden(TokensmithError):
    status = 403


class UserNotAllowed(Forbidden):
    """The session exchange refused the user context: the user is blocked in the tenant, or the key is
    restricted to other organisations (spec §A)."""


class AccountDisabled(Forbidden):
    """The sign-in was correct but the account is disabled."""


class NotFound(TokensmithError):
    status = 404


class UnknownUserToken(NotFound):
    """The personal user token is not known (spec §C, 404)."""


class Conflict(TokensmithError):
    status = 409


class Gone(TokensmithError):
    status = 410


class UserTokenRevoked(Gone):
    """The personal user token was revoked or expired (spec §C, 410): the user must create a new one."""


class RateLimited(TokensmithError):
    """429 still there after the allowed waits, or a wait longer than allowed. ``retry_after`` is the
    server's advice in seconds (None when it gave none)."""

    status = 429

    def __init__(self, message: str, *, status: int | None = None, error: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, status=status, error=error)
        self.retry_after = retry_after


class ServerError(TokensmithError):
    """5xx: the service failed or is unavailable (``retry_after`` when it said when to come back)."""

    def __init__(self, message: str, *, status: int | None = None, error: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, status=status, error=error)
        self.retry_after = retry_after


def retry_after(response: httpx.Response) -> float | None:
    """The server's wait advice: the body's ``retry_after``, else the ``Retry-After`` header (seconds)."""
    body = _json(response)
    candidates: list[object] = []
    if isinstance(body, dict):
        candidates.append(body.get("retry_after"))
    candidates.append(response.headers.get("retry-after"))
    for value in candidates:
        if isinstance(value, bool) or value is None:
            continue
        try:
            seconds = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if 0 <= seconds < 86_400:
            return seconds
    return None


def error_for(response: httpx.Response, endpoint: Endpoint) -> TokensmithError:
    """The typed error for a failed ``response`` of ``endpoint``."""
    status = response.status_code
    body = _json(response)
    code, message, errors = _parts(body, response)
    if status == 429:
        return RateLimited(message, status=status, error=code, retry_after=retry_after(response))
    if status >= 500:
        return ServerError(message, status=status, error=code, retry_after=retry_after(response))
    if status == 400:
        if errors is not None:
            return ValidationFailed(message, status=status, error=code, errors=errors)
        bad = {"invalid_grant": InvalidGrant, "invalid_scope": InvalidScope}.get(code or "", BadRequest)
        return bad(message, status=status, error=code)
    cls = _BY_STATUS.get((endpoint, status)) or _GENERIC.get(status, TokensmithError)
    if status == 401 and endpoint == "token" and code not in (None, "invalid_client"):
        cls = Unauthorized
    return cls(message, status=status, error=code)


_BY_STATUS: dict[tuple[Endpoint, int], type[TokensmithError]] = {
    ("token", 401): InvalidClient,
    ("exchange", 401): InvalidApiKey,
    ("exchange", 403): UserNotAllowed,
    ("user_token", 404): UnknownUserToken,
    ("user_token", 410): UserTokenRevoked,
    ("login", 401): InvalidCredentials,
    ("login", 403): AccountDisabled,
}
_GENERIC: dict[int, type[TokensmithError]] = {
    401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict, 410: Gone,
}


def _json(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None


def _parts(body: object, response: httpx.Response) -> tuple[str | None, str, list[dict[str, object]] | None]:
    """(error code, message, validation list) of an error body."""
    if isinstance(body, list):
        errors = [e for e in body if isinstance(e, dict)]
        described = "; ".join(_describe(e) for e in errors) or "invalid request"
        return None, _clean(described), errors
    if isinstance(body, dict):
        error = body.get("error")
        description = body.get("error_description")
        code = error if isinstance(error, str) and (isinstance(description, str) or _CODE.match(error)) else None
        text = description if isinstance(description, str) else error if isinstance(error, str) else None
        if text is not None:
            return code, _clean(text), None
    return None, f"HTTP {response.status_code} {response.reason_phrase}".strip(), None


def _describe(error: dict[str, object]) -> str:
    loc = error.get("loc")
    where = ".".join(str(part) for part in loc) if isinstance(loc, list) else ""
    msg = str(error.get("msg", "invalid"))
    return f"{where}: {msg}" if where else msg


def _clean(text: str) -> str:
    printable = "".join(ch if ch.isprintable() else " " for ch in text)
    return printable[:_MAX_MESSAGE]
