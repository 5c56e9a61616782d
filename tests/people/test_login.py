"""``POST /auth/login`` (spec §D): the token body, the claims other features rely on, one 401 body for
unknown e-mail and wrong password with similar timing, validation errors, disabled users, rehashing."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from tests.people.helpers import PASSWORD, bearer, login, make_user, tokens, user_row
from tests.support import LiveServer
from tokensmith.people.passwords import needs_rehash

INVALID = {"error": "Invalid email or password"}


def test_login_returns_the_spec_body_and_a_user_jwt(any_server: LiveServer) -> None:
    user = make_user(any_server, "dev@example.com", role="developer", project_permissions=["alpha:Patient.read"])
    with any_server.client() as http:
        resp = login(http, "dev@example.com")
        jwks = KeySet.import_key_set(http.get("/.well-known/jwks.json").json())
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"accessToken", "refreshToken", "expiresIn"}
    assert body["expiresIn"] == "900s"
    assert resp.headers["cache-control"] == "no-store"
    token = jose_jwt.decode(body["accessToken"], jwks, algorithms=["ES256"])
    assert token.header["typ"] == "at+jwt"
    claims = token.claims
    assert claims["sub"] == claims["uid"] == user.id
    assert claims["tenant"] == any_server.tenant_id
    assert claims["role"] == "developer"
    assert claims["scope"].split() == ["ApiKey.*", "Client.*", "App.*", "UserToken.*", "Session.*", "*.read"]
    assert claims["project_permissions"] == ["alpha:Patient.read"]
    assert claims["exp"] - claims["iat"] == 900
    assert {"iss", "aud", "jti", "client_id", "sid"} <= set(claims)
    # the refresh token is opaque, not a JWT
    assert body["refreshToken"].count(".") == 0


def test_access_token_is_a_principal_for_management_endpoints(server: LiveServer) -> None:
    make_user(server, "member@example.com", role="member")
    with server.client() as http:
        access = tokens(http, "member@example.com")["accessToken"]
        me = http.get("/users/me", headers=bearer(access))
        listed = http.get("/users", headers=bearer(access))  # member holds *.read
        created = http.post("/users", json={"email": "x@example.com"}, headers=bearer(access))
    assert me.status_code == 200 and me.json()["email"] == "member@example.com"
    assert listed.status_code == 200
    assert created.status_code == 403
    assert created.json()["error"] == "insufficient_scope"


def test_unknown_email_and_wrong_password_get_the_same_401(server: LiveServer) -> None:
    make_user(server, "known@example.com")
    with server.client() as http:
        unknown = login(http, "nobody@example.com", PASSWORD)
        wrong = login(http, "known@example.com", "not the password at all")
        no_password_user = make_user(server, "nopass@example.com", password=None)
        no_password = login(http, no_password_user.email, "anything at all here")
    for resp in (unknown, wrong, no_password):
        assert resp.status_code == 401
        assert resp.json() == INVALID
        assert resp.headers["cache-control"] == "no-store"


def test_enumeration_timing_is_similar(server_with: Callable[..., LiveServer]) -> None:
    """Median latency of wrong-email vs wrong-password sign-ins differs by less than 2x either way (both
    do one argon2id verification, ~30-50 ms, which dominates); the bound leaves room for a loaded
    2-core machine. Measured interleaved so that load changes hit both series alike."""
    server = server_with(login_max_failures=1000, login_ip_failures_per_minute=1000)
    make_user(server, "known@example.com")
    unknown_times: list[float] = []
    wrong_times: list[float] = []
    with server.client() as http:
        login(http, "warmup@example.com", "x")
        for i in range(15):
            for email, bucket in (("known@example.com", wrong_times), (f"ghost{i}@example.com", unknown_times)):
                started = time.perf_counter()
                resp = login(http, email, "definitely wrong")
                bucket.append(time.perf_counter() - started)
                assert resp.status_code == 401
    ratio = statistics.median(wrong_times) / statistics.median(unknown_times)
    assert 0.5 <= ratio <= 2.0, (ratio, statistics.median(wrong_times), statistics.median(unknown_times))


def test_email_is_case_insensitive(server: LiveServer) -> None:
    make_user(server, "Mixed.Case@Example.com")
    with server.client() as http:
        assert login(http, "mixed.case@example.COM").status_code == 200


def test_invalid_bodies_are_a_400_list(server: LiveServer) -> None:
    with server.client() as http:
        missing = http.post("/auth/login", json={"email": "a@example.com"})
        malformed = http.post("/auth/login", content=b"{not json", headers={"content-type": "application/json"})
        wrong_type = http.post("/auth/login", json={"email": "a@example.com", "password": 5})
    assert missing.status_code == 400
    assert missing.json() == [{"loc": ["password"], "msg": "Field required", "type": "missing"}]
    assert malformed.status_code == 400 and isinstance(malformed.json(), list)
    assert malformed.json()[0]["type"] == "json_invalid"
    assert wrong_type.status_code == 400 and wrong_type.json()[0]["loc"] == ["password"]


def test_disabled_user_is_refused_only_after_a_correct_password(server: LiveServer) -> None:
    from tokensmith.people.users import update_user

    user = make_user(server, "gone@example.com")
    server.call(lambda rt: update_user(rt, user.id, status="disabled", actor="test"))
    with server.client() as http:
        wrong = login(http, "gone@example.com", "wrong password here")
        right = login(http, "gone@example.com")
    assert wrong.status_code == 401 and wrong.json() == INVALID
    assert right.status_code == 403 and right.json() == {"error": "This account is disabled"}


def test_password_hash_is_upgraded_on_sign_in(server: LiveServer) -> None:
    from argon2 import PasswordHasher
    from sqlalchemy import update

    from tokensmith.storage.models import User

    make_user(server, "old@example.com")
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)

    async def downgrade(rt: object) -> None:
        async with rt.db.session() as session:  # type: ignore[attr-defined]
            await session.execute(update(User).where(User.email == "old@example.com").values(password_hash=weak))

    server.call(downgrade)
    assert needs_rehash(weak)
    with server.client() as http:
        assert login(http, "old@example.com").status_code == 200
    stored = user_row(server, "old@example.com").password_hash
    assert stored != weak
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert not needs_rehash(stored)
    with server.client() as http:
        assert login(http, "old@example.com").status_code == 200
