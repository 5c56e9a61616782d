"""Sign-in throttling (docs/security.md): the account lockout holds under concurrency, expires, looks
the same for unknown addresses, and a per-IP failure budget that believes ``X-Forwarded-For`` only from
trusted proxies."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import httpx

from tests.people.helpers import PASSWORD, audit_types, login, make_user, user_row
from tests.support import LiveServer
from tokensmith.clock import ManualClock


async def _concurrent_logins(url: str, email: str, password: str, n: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        return list(await asyncio.gather(*(
            http.post("/auth/login", json={"email": email, "password": password}) for _ in range(n))))


def test_twenty_concurrent_wrong_passwords_get_five_checks_and_lock_the_account(any_server: LiveServer) -> None:
    make_user(any_server, "target@example.com")
    responses = asyncio.run(_concurrent_logins(any_server.url, "target@example.com", "wrong password!", 20))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {401: 5, 429: 15}, statuses
    for resp in responses:
        if resp.status_code == 429:
            body = resp.json()
            assert body["error"] == "Too many sign-in attempts"
            assert body["retry_after"] >= 1
            assert resp.headers["retry-after"] == str(body["retry_after"])
    # Locked now: even the right password is refused, for the lockout period.
    with any_server.client() as http:
        locked = login(http, "target@example.com", PASSWORD)
    assert locked.status_code == 429
    assert 890 <= locked.json()["retry_after"] <= 900
    assert user_row(any_server, "target@example.com").locked_until is not None
    types = audit_types(any_server, "login.")
    assert types.count("login.failed") == 5
    assert types.count("login.locked_out") == 1


def test_lockout_expires_and_success_resets_the_count(server_with: Callable[..., LiveServer]) -> None:
    clock = ManualClock()
    server = server_with(clock=clock)
    make_user(server, "user@example.com")
    with server.client() as http:
        for _ in range(5):
            assert login(http, "user@example.com", "wrong password!").status_code == 401
        assert login(http, "user@example.com").status_code == 429
        clock.advance(899)
        assert login(http, "user@example.com").status_code == 429
        clock.advance(2)
        assert login(http, "user@example.com").status_code == 200
        # a success starts a new series: four failures do not lock
        for _ in range(4):
            assert login(http, "user@example.com", "wrong password!").status_code == 401
        assert login(http, "user@example.com").status_code == 200
        assert user_row(server, "user@example.com").failed_logins == 0


def test_failures_further_apart_than_the_window_do_not_add_up(server_with: Callable[..., LiveServer]) -> None:
    clock = ManualClock()
    server = server_with(clock=clock)
    make_user(server, "slow@example.com")
    with server.client() as http:
        for _ in range(4):
            assert login(http, "slow@example.com", "wrong password!").status_code == 401
        clock.advance(901)
        for _ in range(4):
            assert login(http, "slow@example.com", "wrong password!").status_code == 401
        assert login(http, "slow@example.com").status_code == 200


def test_unknown_addresses_lock_out_exactly_like_accounts(server: LiveServer) -> None:
    make_user(server, "real@example.com")
    with server.client() as http:
        real = [login(http, "real@example.com", "wrong password!") for _ in range(6)]
        ghost = [login(http, "ghost@example.com", "wrong password!") for _ in range(6)]
    assert [r.status_code for r in real] == [401] * 5 + [429]
    assert [r.status_code for r in ghost] == [401] * 5 + [429]
    assert [r.json()["error"] for r in real] == [r.json()["error"] for r in ghost]
    assert abs(real[5].json()["retry_after"] - ghost[5].json()["retry_after"]) <= 2


def test_concurrent_wrong_passwords_for_an_unknown_address_are_bounded_too(server: LiveServer) -> None:
    responses = asyncio.run(_concurrent_logins(server.url, "ghost@example.com", "wrong password!", 20))
    assert Counter(r.status_code for r in responses) == {401: 5, 429: 15}


def test_failures_per_client_ip_are_limited(server_with: Callable[..., LiveServer]) -> None:
    server = server_with(login_ip_failures_per_minute=3)
    make_user(server, "someone@example.com")
    with server.client() as http:
        failures = [login(http, f"u{i}@example.com", "wrong password!").status_code for i in range(3)]
        throttled = login(http, "u9@example.com", "wrong password!")
        blocked_correct = login(http, "someone@example.com")
    assert failures == [401, 401, 401]
    assert throttled.status_code == 429
    assert 1 <= throttled.json()["retry_after"] <= 60
    assert blocked_correct.status_code == 429  # the IP's budget is spent for every account
    assert "login.throttled" in audit_types(server, "login.")


def test_successful_sign_ins_do_not_use_up_the_ip_budget(server_with: Callable[..., LiveServer]) -> None:
    server = server_with(login_ip_failures_per_minute=2)
    make_user(server, "busy@example.com")
    with server.client() as http:
        assert all(login(http, "busy@example.com").status_code == 200 for _ in range(6))


def test_forwarded_for_is_believed_only_from_trusted_proxies(server_with: Callable[..., LiveServer]) -> None:
    behind_proxy = server_with(login_ip_failures_per_minute=2, trusted_proxies=["127.0.0.1/32"])
    with behind_proxy.client() as http:
        first = [login(http, f"a{i}@example.com", "wrong password!",
                       headers={"X-Forwarded-For": "203.0.113.7"}).status_code for i in range(3)]
        other_client = login(http, "b@example.com", "wrong password!", headers={"X-Forwarded-For": "203.0.113.8"})
        spoofed_chain = login(http, "c@example.com", "wrong password!",
                              headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.7"})
    assert first == [401, 401, 429]
    assert other_client.status_code == 401
    # the proxy appends the real peer: the right-most untrusted entry counts, not a forged left one
    assert spoofed_chain.status_code == 429


def test_forwarded_for_from_an_untrusted_peer_is_ignored(server_with: Callable[..., LiveServer]) -> None:
    direct = server_with(login_ip_failures_per_minute=2)
    with direct.client() as http:
        statuses = [login(http, f"a{i}@example.com", "wrong password!",
                          headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code for i in range(3)]
    assert statuses == [401, 401, 429]
