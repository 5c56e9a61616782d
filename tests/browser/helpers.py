"""Helpers of the browser tests: users with or without TOTP, sign-in through the page, screenshots."""

from __future__ import annotations

import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyotp

from tests.people.helpers import PASSWORD, make_user
from tests.support import LiveServer
from tokensmith.clock import ManualClock

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# The tracked PNGs are rewritten only when asked (``TOKENSMITH_UPDATE_SCREENSHOTS=1``, when the pages
# changed): every other run still takes each screenshot (the page must render to a PNG) but into a
# scratch directory, so a test run leaves the worktree clean and parallel workers never share a file.
UPDATE_SCREENSHOTS = os.environ.get("TOKENSMITH_UPDATE_SCREENSHOTS") == "1"
_scratch: list[Path] = []  # the run's scratch directory (tests/browser/conftest.py, a pytest tmp dir)
INLINE = re.compile(r"<script|<style|\sstyle\s*=|\son[a-z]+\s*=|javascript:", re.IGNORECASE)


def user_with_totp(server: LiveServer, clock: ManualClock, email: str, **kw: Any) -> tuple[Any, pyotp.TOTP]:
    """A user whose TOTP is on; the clock is moved a step on so the set-up code is not a replay."""
    from tokensmith.people import totp

    user = make_user(server, email, **kw)
    secret = server.call(lambda rt: totp.begin_setup(rt, user.id))["secret"]
    app = pyotp.TOTP(secret)
    server.call(lambda rt: totp.enable(rt, user.id, app.at(clock.now())))
    clock.advance(30)
    return user, app


def sign_in(page: Any, email: str, password: str = PASSWORD) -> None:
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")


def assert_no_inline_code(html: str) -> None:
    assert not INLINE.search(html), INLINE.search(html)


def shot(page: Any, name: str, *, full_page: bool = False) -> None:
    """A small PNG of the page for docs/screenshots/ (the viewport only, unless a page is longer than
    its point: the consent page with the picker, whose buttons are below the fold)."""
    target = screenshot_dir()
    target.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target / f"{name}.png"), full_page=full_page, type="png")


def screenshot_dir() -> Path:
    """docs/screenshots/ when updating them, else this run's scratch directory."""
    return SCREENSHOTS if UPDATE_SCREENSHOTS else _scratch[0]


SMART_APP_SCOPES = ("openid", "fhirUser", "launch", "launch/patient", "offline_access", "patient/*.rs")


def smart_site(server: LiveServer, http: Any, email: str, redirect_uri: str, *,
               totp_clock: ManualClock | None = None,
               scopes: tuple[str, ...] = SMART_APP_SCOPES) -> tuple[str, str, pyotp.TOTP | None]:
    """A public SMART app (redirecting to ``redirect_uri``) registered through ``POST /smart/apps``, two
    patients in the directory (``alice-1`` Alice Smith, ``bob-2`` Bob Jones) and a clinician ``email``
    linked to a Practitioner (with TOTP on when ``totp_clock`` is given): (client id, practitioner id, the
    TOTP app or None)."""
    from tests.people.helpers import admin_headers as user_admin_headers
    from tests.people.helpers import user_row
    from tests.smart.helpers import admin_headers

    admin = admin_headers(server, http)
    app = http.post("/smart/apps", json={"name": "Growth chart", "redirectUris": [redirect_uri], "scopes": list(scopes),
                                         "isConfidential": False}, headers=admin)
    assert app.status_code == 201, app.text
    for pid, given, family in (("alice-1", "Alice", "Smith"), ("bob-2", "Bob", "Jones")):
        made = http.post("/smart/patients", json={"id": pid, "name": {"given": [given], "family": family}},
                         headers=admin)
        assert made.status_code == 201, made.text
    doctor = http.post("/smart/practitioners", json={"name": {"given": ["Gregory"], "family": "House"}},
                       headers=admin)
    assert doctor.status_code == 201, doctor.text
    otp = None
    if totp_clock is None:
        make_user(server, email, role="developer")
    else:
        _, otp = user_with_totp(server, totp_clock, email, role="developer")
    linked = http.patch(f"/users/{user_row(server, email).id}",
                        json={"fhirUser": f"Practitioner/{doctor.json()['id']}"},
                        headers=user_admin_headers(server, http))
    assert linked.status_code == 200, linked.text
    return app.json()["clientId"], doctor.json()["id"], otp


class AppServer:
    """The app's side of the redirect: a real HTTP server on loopback (``redirect_uri`` is
    ``http://127.0.0.1:<port>/callback``, allowed for apps on loopback) that records every callback URL
    the browser is sent to (``seen``) and answers with a page saying "Example App"."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/callback":  # the browser's own asks (favicon.ico)
                    self.send_error(404)
                    return
                owner.seen.append(f"{owner.origin}{self.path}")
                body = b"<!doctype html><title>Example App</title><h1>Example App</h1>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.redirect_uri = f"{self.origin}/callback"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="example-app")
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
