"""Forms of the pages: parsing, CSRF tokens, and the refusal of cross-site POSTs.

A CSRF token is the keyed hash (:meth:`MasterKeys.secret_hash`, under a ``csrf:`` label) of what the form
is bound to: the browser session's id once signed in, else a random *pre-session* cookie set with the
sign-in form. A POST must carry the token of its binding, compared in constant time — a token taken from
another browser (another session or pre-session cookie) is worthless. On top, a POST whose
``Sec-Fetch-Site`` is ``cross-site``/``same-site`` or whose ``Origin`` is another origin is refused before
the token is even looked at (SameSite=Lax already keeps the session cookie off cross-site POSTs; this
also covers the pre-session cookie).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from tokensmith.crypto import constant_time_equal
from tokensmith.errors import Forbidden, InvalidRequest
from tokensmith.ids import random_token
from tokensmith.inputs import CONTROL_MESSAGE, has_control
from tokensmith.oauth.request import parse_form
from tokensmith.web.pages import origin_of

if TYPE_CHECKING:
    from tokensmith.config import Settings
    from tokensmith.runtime import Runtime

PRESESSION_COOKIE = "tokensmith_presession"
#: form fields that may hold any printable text (a password may hold anything but U+0000)
_FREE_TEXT = frozenset({"password"})
FORM_TYPE = "application/x-www-form-urlencoded"
CSRF_REFUSED = "The form has expired or did not come from this site. Go back, reload the page and try again."
CROSS_SITE_REFUSED = "Forms of this site cannot be submitted from another site."


def cookie_name(settings: Settings, base: str) -> str:
    """``__Host-`` names where the issuer is https (the cookie is then Secure, host-only, ``Path=/``)."""
    return ("__Host-" + base) if settings.issuer.startswith("https://") else base


def cookie_secure(settings: Settings) -> bool:
    return not settings.is_development or settings.issuer.startswith("https://")


def set_cookie(response: Response, settings: Settings, base: str, value: str, max_age: int | None) -> None:
    response.set_cookie(cookie_name(settings, base), value, max_age=max_age, path="/", httponly=True,
                        samesite="lax", secure=cookie_secure(settings))


def clear_cookie(response: Response, settings: Settings, base: str) -> None:
    response.delete_cookie(cookie_name(settings, base), path="/", httponly=True, samesite="lax",
                           secure=cookie_secure(settings))


def read_cookie(request: Request, settings: Settings, base: str) -> str | None:
    value = request.cookies.get(cookie_name(settings, base))
    return value if value and len(value) <= 200 and not has_control(value) else None


async def read_form(request: Request, multiline: frozenset[str] = frozenset()) -> dict[str, str]:
    """The urlencoded body (each field once, UTF-8, at most 64 KiB), control characters refused. In the
    ``multiline`` fields (textareas) CR LF becomes LF first: HTML's form submission sends a textarea's line
    breaks as CR LF. Anywhere else a CR is refused (a ``next`` with CR LF is a header injection attempt)."""
    form = parse_form(request.headers.get("content-type"), await request.body())
    for name in multiline & form.keys():
        form[name] = form[name].replace("\r\n", "\n")
    for name, value in form.items():
        if name not in _FREE_TEXT and has_control(value):
            raise InvalidRequest(f"the field {name[:40]!r} {CONTROL_MESSAGE}")
    return form


def refuse_cross_site(request: Request, settings: Settings) -> None:
    """403 for a POST a browser says comes from another site. Fetch Metadata decides where the browser
    sends it (``same-origin`` and ``none`` pass); otherwise an ``Origin`` other than this site's is
    refused. ``Origin: null`` is not evidence either way: with ``Referrer-Policy: no-referrer`` browsers
    send it for this site's own forms too (the CSRF token still has to match)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        if site not in ("same-origin", "none"):
            raise Forbidden(CROSS_SITE_REFUSED, debug=f"Sec-Fetch-Site: {site[:40]}")
        return
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return
    own = {origin_of(settings.issuer)}
    host = request.headers.get("host")
    if host:
        own.add(f"{request.url.scheme}://{host}")
    if origin not in own or urlsplit(origin).path not in ("", "/"):
        raise Forbidden(CROSS_SITE_REFUSED, debug=f"Origin: {origin[:100]}")


def csrf_token(rt: Runtime, binding: str) -> str:
    return rt.master.secret_hash("csrf:" + binding)


def check_csrf(rt: Runtime, binding: str | None, presented: str | None) -> None:
    if not binding or not presented or not constant_time_equal(csrf_token(rt, binding), presented):
        raise Forbidden(CSRF_REFUSED, debug="csrf token missing or wrong")


def new_presession() -> str:
    return random_token(24)
