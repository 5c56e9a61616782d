"""Helpers of the page tests over HTTP: a browser-like client (cookies, CSRF tokens read from the
forms) against a live server."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.people.helpers import PASSWORD

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_MFA = re.compile(r'name="mfa_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def mfa_token_of(html: str) -> str:
    found = _MFA.search(html)
    assert found, "the page has no mfa_token"
    return found.group(1)


def page_signin(http: httpx.Client, email: str, password: str = PASSWORD, next_path: str = "",
                **headers: str) -> httpx.Response:
    """GET the sign-in form, then POST it as the browser would (same-origin Fetch Metadata)."""
    form = http.get("/signin", params={"next": next_path} if next_path else None)
    assert form.status_code == 200, form.text
    return http.post("/signin", data={"csrf_token": csrf_of(form.text), "email": email, "password": password,
                                      "next": next_path},
                     headers={"sec-fetch-site": "same-origin", **headers})


def signed_in(http: httpx.Client, email: str, password: str = PASSWORD) -> None:
    resp = page_signin(http, email, password)
    assert resp.status_code == 303, resp.text


def session_cookie(http: httpx.Client) -> str | None:
    return http.cookies.get("tokensmith_session")


def rows(server: Any, model: Any, **where: Any) -> list[Any]:
    from sqlalchemy import select

    async def read(rt: Any) -> list[Any]:
        async with rt.db.session() as session:
            query = select(model)
            for name, value in where.items():
                query = query.where(getattr(model, name) == value)
            return list((await session.execute(query)).scalars())

    return server.call(read)
