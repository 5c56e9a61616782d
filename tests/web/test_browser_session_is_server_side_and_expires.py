"""The browser session: a ``sessions`` row of kind ``browser`` plus the keyed hash of the cookie (never the
value), absolute and idle expiry on the injected clock, revocation by sign-out or through the sessions
API, ``Secure`` ``__Host-`` cookies outside development, and the typed dependency pages use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import Depends
from starlette.responses import PlainTextResponse

from tests.people.helpers import make_user
from tests.support import TEST_MASTER_KEY, LiveServer, make_settings
from tests.web.helpers import csrf_of, page_signin, rows, session_cookie, signed_in
from tokensmith.clock import ManualClock
from tokensmith.people.sessions import revoke_session
from tokensmith.storage.models import Session, Token
from tokensmith.web.session import BrowserUser, require_browser_user


def _whoami_route(server: LiveServer) -> None:
    """A page of the console's kind: needs a signed-in user (the dependency this package exports)."""

    async def whoami(user: BrowserUser = Depends(require_browser_user)) -> PlainTextResponse:
        return PlainTextResponse(f"{user.email} {user.role} {user.session_id} {' '.join(user.amr)} {user.auth_time}")

    server.app.add_api_route("/whoami", whoami, methods=["GET"], tags=["pages"])


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def web(database_url: str, clock: ManualClock) -> Iterator[LiveServer]:
    live = LiveServer(make_settings(database_url, browser_session_idle_timeout=600,
                                    browser_session_absolute_timeout=3600), clock=clock)
    _whoami_route(live)
    with live:
        yield live


def test_the_database_holds_the_session_and_only_a_hash_of_the_cookie(web: LiveServer) -> None:
    user = make_user(web, "iva@example.com", role="developer")
    with web.client() as http:
        signed_in(http, "iva@example.com")
        cookie = session_cookie(http)
        me = http.get("/whoami")
    assert cookie and me.status_code == 200
    [session] = rows(web, Session, user_id=user.id, kind="browser")
    [stored] = rows(web, Token, session_id=session.id, kind="browser")
    assert stored.token_hash != cookie and cookie not in repr(stored.__dict__)
    email, role, sid, amr, auth_time = me.text.split(" ")
    assert (email, role, sid, amr) == ("iva@example.com", "developer", session.id, "pwd")
    assert abs(int(auth_time) - session.created_at.timestamp()) < 2


def test_a_page_needing_a_user_sends_the_browser_to_sign_in_and_back(web: LiveServer) -> None:
    make_user(web, "iva@example.com")
    with web.client() as http:
        first = http.get("/whoami", params={"tab": "keys"})
        assert first.status_code == 303
        assert first.headers["location"] == "/signin?next=%2Fwhoami%3Ftab%3Dkeys"
        back = page_signin(http, "iva@example.com", next_path="/whoami?tab=keys")
        assert back.headers["location"] == "/whoami?tab=keys"
        assert http.get("/whoami").status_code == 200


def test_idle_and_absolute_expiry(web: LiveServer, clock: ManualClock) -> None:
    make_user(web, "iva@example.com")
    with web.client() as http:
        signed_in(http, "iva@example.com")
        for _ in range(6):  # used every 9 minutes (54 min in all): never idle; the absolute hour ends it
            clock.advance(540)
            assert http.get("/whoami").status_code == 200
        clock.advance(540)
        assert http.get("/whoami").status_code == 303
    with web.client() as http:
        signed_in(http, "iva@example.com")
        clock.advance(601)
        assert http.get("/whoami").status_code == 303


def test_revoking_the_session_signs_the_browser_out(web: LiveServer) -> None:
    make_user(web, "iva@example.com")
    with web.client() as http:
        signed_in(http, "iva@example.com")
        sid = http.get("/whoami").text.split(" ")[2]
        assert web.call(lambda rt: revoke_session(rt, sid, reason="admin", actor="test"))
        assert http.get("/whoami").status_code == 303
    with web.client() as http:
        signed_in(http, "iva@example.com")
        sid = http.get("/whoami").text.split(" ")[2]
        http.post("/signout", data={"csrf_token": csrf_of(http.get("/signin").text)},
                  headers={"sec-fetch-site": "same-origin"})
        [session] = rows(web, Session, id=sid)
        assert session.revoked_reason == "signout"


def test_outside_development_cookies_are_secure_and_host_prefixed(sqlite_url: str) -> None:
    settings = make_settings(sqlite_url, env="production", issuer="https://login.example.com",
                             master_key=TEST_MASTER_KEY + "-production-only")
    with LiveServer(settings) as server:
        make_user(server, "iva@example.com")
        with server.client() as http:
            form = http.get("/signin")
            pre = form.headers["set-cookie"]
            # an https site: the client would only send the cookies back over https, so post them by hand
            token = csrf_of(form.text)
            pre_value = pre.split(";")[0].split("=", 1)[1]
            resp = http.post("/signin", data={"csrf_token": token, "email": "iva@example.com",
                                              "password": "correct horse battery staple"},
                             headers={"sec-fetch-site": "same-origin",
                                      "cookie": f"__Host-tokensmith_presession={pre_value}"})
    assert pre.startswith("__Host-tokensmith_presession=")
    assert resp.status_code == 303, resp.text
    cookie = resp.headers["set-cookie"]
    assert cookie.startswith("__Host-tokensmith_session=")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "secure", "path"} <= attributes and "domain" not in attributes
    assert "samesite=lax" in cookie.lower()
