"""Helpers of the browser tests: users with or without TOTP, sign-in through the page, screenshots."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyotp

from tests.people.helpers import PASSWORD, make_user
from tests.support import LiveServer
from tokensmith.clock import ManualClock

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
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


def shot(page: Any, name: str) -> None:
    """A small PNG of the page for docs/screenshots/ (the viewport only, not the full page)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False, type="png")
