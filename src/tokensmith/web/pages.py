"""Rendering pages: one Jinja2 environment (autoescape on, templates shipped in the package), the security
headers every HTML response carries, the error page and the static files.

The Content-Security-Policy allows no inline script or style at all (``default-src 'none'``; the one
stylesheet comes from ``/static/``) and no framing (``frame-ancestors 'none'`` plus ``X-Frame-Options``).
``form-action`` is ``'self'`` plus the origins a page's form may end up at: Chromium applies
``form-action`` to the redirects that follow a form POST, so a consent form whose answer redirects to an
app's ``redirect_uri`` must name that URI's origin (:func:`render` ``form_targets``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

STATIC_PREFIX = "/static/"
_STATIC_TYPES = {".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png",
                 ".js": "text/javascript; charset=utf-8"}


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """Built once per process (templates are package data and do not change while it runs)."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("tokensmith.web", "templates"),
                             autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals["static"] = static_url
    return env


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) URL, else None."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(form_targets: Iterable[str] = ()) -> str:
    sources = ["'self'", *sorted({o for o in (origin_of(t) for t in form_targets) if o})]
    return ("default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
            f"form-action {' '.join(sources)}; frame-ancestors 'none'")


def security_headers(form_targets: Iterable[str] = ()) -> dict[str, str]:
    """The headers of every HTML response. Pages are never cached: they hold forms (CSRF tokens) or a
    signed-in user's data."""
    return {
        "Content-Security-Policy": content_security_policy(form_targets),
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
    }


def render(request: Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200,
           form_targets: Iterable[str] = (), headers: dict[str, str] | None = None) -> HTMLResponse:
    """A page with the security headers. ``form_targets``: URLs (of other origins) the page's forms may
    redirect to after their POST."""
    values: dict[str, Any] = {"request_path": request.url.path, "signed_in_email": None}
    values.update(context or {})
    html = environment().get_template(template).render(**values)
    all_headers = security_headers(form_targets)
    all_headers.update(headers or {})
    return HTMLResponse(html, status_code=status, headers=all_headers)


def error_page(request: Request, status: int, title: str, message: str,
               headers: dict[str, str] | None = None) -> HTMLResponse:
    """The browser's answer to any error on a page route (never a stack trace, never a redirect)."""
    return render(request, "error.html", {"title": title, "message": message, "status": status}, status=status,
                  headers=headers)


def see_other(location: str, headers: dict[str, str] | None = None,
              form_targets: Iterable[str] = ()) -> Response:
    """303 after a form POST (the browser follows with a GET)."""
    all_headers = security_headers(form_targets)
    all_headers["Location"] = location
    all_headers.update(headers or {})
    return Response(status_code=303, headers=all_headers)


# ---- static files (package data) ----

@lru_cache(maxsize=32)
def _static_file(name: str) -> tuple[bytes, str] | None:
    if "/" in name or name.startswith(".") or not any(name.endswith(ext) for ext in _STATIC_TYPES):
        return None
    resource = resources.files("tokensmith.web").joinpath("static", name)
    if not resource.is_file():
        return None
    data = resource.read_bytes()
    return data, hashlib.sha256(data).hexdigest()[:16]


def static_url(name: str) -> str:
    """The file's URL with its content hash: a changed file gets a new URL, so it can be cached for long."""
    found = _static_file(name)
    return f"{STATIC_PREFIX}{name}" + (f"?v={found[1]}" if found else "")


def static_response(name: str, if_none_match: str | None) -> Response:
    found = _static_file(name)
    if found is None:
        return Response("not found", status_code=404, media_type="text/plain",
                        headers={"X-Content-Type-Options": "nosniff"})
    data, digest = found
    etag = f'"{digest}"'
    headers = {"Cache-Control": "public, max-age=86400", "ETag": etag, "X-Content-Type-Options": "nosniff"}
    if if_none_match == etag:
        return Response(status_code=304, headers=headers)
    ext = name[name.rindex("."):]
    return Response(data, media_type=_STATIC_TYPES[ext], headers=headers)
