"""A value longer than its audit column (a 320-character e-mail address in a failed sign-in, found by the
fuzzing run) is clipped when the event is queued: on PostgreSQL it used to fail every later batch."""

from __future__ import annotations

from tests.people.helpers import audit_events, login, make_user
from tests.support import LiveServer


def test_a_long_email_in_a_failed_sign_in_does_not_stop_the_audit_log(any_server: LiveServer) -> None:
    email = "a" * 300 + "@example.com"
    make_user(any_server, "known@example.com")
    with any_server.client() as http:
        assert login(http, email, "wrong password").status_code == 401
        assert login(http, "known@example.com").status_code == 200
    events = audit_events(any_server, "login.")
    failed = [e for e in events if e["type"] == "login.failed"]
    assert [e["subject"] for e in failed] == [email[:200]]
    assert any(e["type"] == "login.succeeded" for e in events), [e["type"] for e in events]
