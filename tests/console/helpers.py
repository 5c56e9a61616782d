"""Helpers of the console tests over HTTP: signed-in browser-like clients (cookies, CSRF tokens read from
the page) and form POSTs as the browser sends them (same-origin Fetch Metadata)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from tests.people.helpers import make_user
from tests.support import LiveServer
from tests.web.helpers import csrf_of, signed_in

SAME = {"sec-fetch-site": "same-origin"}
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\ssrc=)|<style|\sstyle\s*=|\son[a-z]+\s*=|javascript:", re.IGNORECASE)


@contextmanager
def client_as(server: LiveServer, email: str, role: str) -> Iterator[httpx.Client]:
    """A client signed in to the console as a new user of ``role``."""
    make_user(server, email, role=role)
    with server.client() as http:
        signed_in(http, email)
        yield http


def post(http: httpx.Client, path: str, data: dict[str, str] | None = None, *, form_page: str | None = None,
         **headers: str) -> httpx.Response:
    """POST a console form with the CSRF token of a page of the same session (``form_page`` or
    ``/console``)."""
    token = csrf_of(http.get(form_page or "/console").text)
    return http.post(path, data={"csrf_token": token, **(data or {})}, headers={**SAME, **headers})


def assert_no_inline_code(html: str) -> None:
    found = INLINE_SCRIPT.search(html)
    assert found is None, html[max(0, found.start() - 200):found.end() + 100] if found else ""


def secret_of(html: str) -> str:
    found = re.search(r'id="(?:api-key|secret)" type="text" readonly value="([^"]+)"', html)
    assert found, "the page shows no secret"
    return found.group(1)


def text_of(resp: Any) -> str:
    return str(resp.text)
