"""What a page handler uses: :func:`render_page` (a template with the CSRF token of the request's
binding and the signed-in user) and :func:`checked_form` (a POST's form, refused when it is cross-site
or its CSRF token is missing or wrong). The binding is the browser session when someone is signed in,
else the pre-session cookie, which :func:`render_page` sets when the browser has none yet."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.types import Message

from tokensmith.errors import InvalidRequest
from tokensmith.inputs import has_control
from tokensmith.web import forms
from tokensmith.web.pages import render
from tokensmith.web.session import BrowserUser, current_browser_user

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

_PRESESSION_MAX_AGE = 24 * 3600


def _runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


@dataclass(frozen=True)
class CheckedForm:
    """A POST that passed the cross-site and CSRF checks."""

    fields: dict[str, str]
    user: BrowserUser | None

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default)


def _binding(request: Request, rt: Runtime, user: BrowserUser | None) -> str | None:
    if user is not None:
        return "sid:" + user.session_id
    pre = forms.read_cookie(request, rt.settings, forms.PRESESSION_COOKIE)
    return "pre:" + pre if pre else None


async def render_page(request: Request, template: str, context: dict[str, Any] | None = None, *,
                      status: int = 200, form_targets: Iterable[str] = (),
                      headers: dict[str, str] | None = None) -> HTMLResponse:
    """Render with ``csrf_token`` and ``signed_in_email`` in the context (every form of the page posts the
    token in a hidden ``csrf_token`` field)."""
    rt = _runtime(request)
    user = await current_browser_user(request)
    new_pre = None
    binding = _binding(request, rt, user)
    if binding is None:
        new_pre = forms.new_presession()
        binding = "pre:" + new_pre
    values = {"csrf_token": forms.csrf_token(rt, binding), "signed_in_email": user.email if user else None}
    values.update(context or {})
    response = render(request, template, values, status=status, form_targets=form_targets, headers=headers)
    if new_pre is not None:
        forms.set_cookie(response, rt.settings, forms.PRESESSION_COOKIE, new_pre, _PRESESSION_MAX_AGE)
    return response


async def checked_form(request: Request, multiline: Iterable[str] = ()) -> CheckedForm:
    """The form of a POST from one of this site's pages (403 otherwise); ``multiline``: its textareas."""
    rt = _runtime(request)
    forms.refuse_cross_site(request, rt.settings)
    fields = await forms.read_form(request, frozenset(multiline))
    user = await current_browser_user(request)
    forms.check_csrf(rt, _binding(request, rt, user), fields.get("csrf_token"))
    return CheckedForm(fields, user)


@dataclass(frozen=True)
class CheckedUpload:
    """A file-upload POST (``multipart/form-data``) that passed the same checks as :class:`CheckedForm`:
    its text fields, and the one file's name and bytes (``b""`` when none was chosen)."""

    fields: dict[str, str]
    user: BrowserUser | None
    filename: str
    content: bytes

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default)


async def checked_upload(request: Request, file_field: str, *, max_bytes: int) -> CheckedUpload:
    """A form with one file of at most ``max_bytes``: refused cross-site first, the body read with that
    bound (never more than it into memory), then the CSRF token checked like a plain form's."""
    rt = _runtime(request)
    forms.refuse_cross_site(request, rt.settings)
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "multipart/form-data":  # still refused for a missing or wrong token first (403)
        token = (await forms.read_form(request)).get("csrf_token") if content_type == forms.FORM_TYPE else None
        forms.check_csrf(rt, _binding(request, rt, await current_browser_user(request)), token)
        raise InvalidRequest("the request must be multipart/form-data (a file upload)")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes + 8 * 1024:  # the file and the form around it
            raise InvalidRequest(f"the file is too large: at most {max_bytes // 1024} KiB")
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": bytes(body), "more_body": False}

    try:
        parsed = await Request(request.scope, replay).form(max_files=1, max_fields=10, max_part_size=max_bytes)
    except (MultiPartException, HTTPException) as exc:
        raise InvalidRequest(f"the upload cannot be read: {str(getattr(exc, 'message', exc))[:100]}") from None
    fields: dict[str, str] = {}
    filename, content = "", b""
    for name, value in parsed.multi_items():
        if isinstance(value, str):
            if name in fields or has_control(value):
                raise InvalidRequest(f"the field {name[:40]!r} is repeated or holds control characters")
            fields[name] = value
        elif name == file_field:
            filename, content = (value.filename or "")[:200], await value.read()
    await parsed.close()
    user = await current_browser_user(request)
    forms.check_csrf(rt, _binding(request, rt, user), fields.get("csrf_token"))
    if len(content) > max_bytes:
        raise InvalidRequest(f"the file is too large: at most {max_bytes // 1024} KiB")
    return CheckedUpload(fields, user, filename, content)
