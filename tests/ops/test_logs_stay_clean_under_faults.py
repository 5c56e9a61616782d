"""Security rule "no secret is ever logged", under faults: the real ``tokensmith serve`` at DEBUG on
PostgreSQL behind a TCP proxy; sign-ins, refreshes, users created (passwords hashed with argon2id), API
keys and the session exchange, user tokens, client credentials, hostile inputs, and the database failing
statements that carry the run's values. Afterwards no password, token, secret, hash or bound value used
in the run may appear anywhere in the logs.

Hostile inputs (a NUL, a lone surrogate, values one character over their column) no longer reach the
database: the edge refuses them with 400, and that refusal must not log them either. The database errors
that carry the SQL and its bound values (their text used to reach the logs) are made by the proxy instead:
it cuts the link right after the bytes of a statement binding a value of the run were passed on, once in
a request (a user created) and once in a background writer's batch (the exchange users), then cuts it in
the middle of the traffic."""

from __future__ import annotations

import http.client as http_client
import json
import secrets
import time
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ops.helpers import ServeProcess
from tests.support import TEST_MASTER_KEY, TcpProxy
from tokensmith.crypto import MasterKeys

M = secrets.token_hex(4)  # a marker in every bound value of the run
PASSWORD = f"owner-pass-{M}-horse-battery"


def _wait_ready(http: httpx.Client, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while http.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "not ready again"
        time.sleep(0.2)


def _status(send: Any) -> int:
    """The status of a request; 0 when the server dropped the connection (after a 500, uvicorn closes a
    kept-alive connection: the next request on it is reset)."""
    try:
        return int(send().status_code)
    except httpx.TransportError:
        return 0


def _traffic(http: httpx.Client, admin: dict[str, str], refresh: list[str], key: str,
             used: list[str]) -> list[int]:
    """One round of ordinary requests; returns the statuses (503s expected while cut)."""
    statuses = []
    r = http.post("/auth/refresh", json={"refreshToken": refresh[0]})
    statuses.append(r.status_code)
    if r.status_code == 200:
        refresh[0] = r.json()["refreshToken"]
        used += [r.json()["accessToken"], refresh[0]]
    statuses.append(http.post("/auth/login", json={"email": f"owner-{M}@example.com",
                                                   "password": f"wrong-{M}-pw"}).status_code)
    r = http.post("/api/v1/token/", json=_exchange_user(), headers={"X-Api-Key": key})
    statuses.append(r.status_code)
    if r.status_code == 200:
        used.append(json.dumps(r.json()))
    return statuses


def _exchange_user(**fields: str) -> dict[str, str]:
    return {"user_id": f"uid-{M}", "first_name": f"first-{M}", "last_name": "L", "organisation": f"org-{M}",
            **fields}


def _over(limit: int, prefix: str) -> str:
    """A value of the run one character longer than ``limit`` (its column's width)."""
    return (prefix + "-" + M + "-" + "x" * limit)[:limit + 1]


def _hostile(http: httpx.Client, admin: dict[str, str], key: str) -> list[int]:
    """Values the database would refuse (a NUL, a lone surrogate, longer than the column): the edge refuses
    them first. Returns the statuses (0: the connection was dropped)."""
    statuses = []
    for user in (_exchange_user(user_id=f"nul-uid-{M}\x00"), _exchange_user(user_id=_over(200, "long-uid")),
                 _exchange_user(first_name=_over(200, "long-first")),
                 _exchange_user(organisation=_over(300, "long-org"))):
        statuses.append(_status(partial(http.post, "/api/v1/token/", json=user, headers={"X-Api-Key": key})))
    for body in ({"email": f"nul-{M}@example.com", "password": f"nul-pw-{M}-x1y2z3", "name": f"nulname-{M}\x00"},
                 {"email": f"long-{M}@example.com", "password": f"long-pw-{M}-x1y2z3", "name": _over(200, "long")}):
        statuses.append(_status(partial(http.post, "/users", json=body, headers=admin)))
    raw = '{"email": "sur-M@example.com", "password": "sur-pw-M-q9w8e7", "name": "surname-M\\ud800"}'.replace(
        "M", M)
    statuses.append(_status(lambda: http.post("/users", content=raw,
                                              headers={**admin, "Content-Type": "application/json"})))
    for notes in (f"note-{M}\x00", _over(2000, "long-note")):
        statuses.append(_status(partial(http.patch, f"/exchange-users/uid-{M}", json={"notes": notes}, headers=admin)))
    return statuses


def _wait(condition: Any, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@pytest.mark.postgres
def test_no_secret_or_bound_value_reaches_the_logs_under_faults(tmp_path: Path,
                                                                 pg_proxy: tuple[TcpProxy, str]) -> None:
    proxy, url = pg_proxy
    used: list[str] = [PASSWORD, f"wrong-{M}-pw", f"nul-pw-{M}-x1y2z3", f"sur-pw-{M}-q9w8e7", f"long-pw-{M}-x1y2z3"]
    server = ServeProcess(tmp_path, env={"TOKENSMITH_LOG_LEVEL": "DEBUG", "TOKENSMITH_DATABASE_URL": url})
    server.cli("init", "--admin-email", f"owner-{M}@example.com", "--admin-password", PASSWORD)
    client = json.loads(server.cli("clients", "create", "--name", "svc", "--scope", "api.read", "--json").stdout)
    used.append(client["client_secret"])
    with server, httpx.Client(base_url=server.url, timeout=15) as http:
        signed_in = http.post("/auth/login", json={"email": f"owner-{M}@example.com", "password": PASSWORD}).json()
        used += [signed_in["accessToken"], signed_in["refreshToken"]]
        admin = {"Authorization": f"Bearer {signed_in['accessToken']}"}
        member_pw = f"member-pw-{M}-a1b2c3"
        used.append(member_pw)
        assert http.post("/users", json={"email": f"member-{M}@example.com", "password": member_pw,
                                         "name": f"name-{M}"}, headers=admin).status_code == 201
        created = http.post("/api-keys", json={"name": f"key-{M}", "scopes": ["Patient.read"]}, headers=admin)
        assert created.status_code == 201, created.text
        key = f"{created.json()['clientId']}:{created.json()['secret']}"
        used += [created.json()["secret"], key]
        user_token = http.post("/user-tokens", json={"name": f"ut-{M}"}, headers=admin).json()["token"]
        used.append(user_token)
        opaque = http.post("/api/user/oauth2/token", data={"grant_type": "refresh_token",
                                                           "refresh_token": user_token}).json()
        used.append(opaque["access_token"])
        cc = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                       auth=(client["client_id"], client["client_secret"])).json()
        used.append(cc["access_token"])
        http.post("/oauth/token", data={"grant_type": "client_credentials"},
                  auth=(client["client_id"], f"wrong-secret-{M}"))
        used.append(f"wrong-secret-{M}")

        refresh = [signed_in["refreshToken"]]
        for _ in range(3):
            _traffic(http, admin, refresh, key, used)
            assert set(_hostile(http, admin, key)) == {400}  # refused at the edge: never sent to the database

        # a request's statement: the link drops right after the INSERT binding the new user's name
        cut_pw = f"cut-pw-{M}-k4l5m6"
        used.append(cut_pw)
        proxy.cut_after(f"cutname-{M}".encode())
        # on one kept-alive connection: the outage is answered like any error, and the connection stays
        conn = http_client.HTTPConnection("127.0.0.1", server.port, timeout=15)
        conn.request("POST", "/users", body=json.dumps({"email": f"cut-{M}@example.com", "password": cut_pw,
                                                        "name": f"cutname-{M}"}),
                     headers={**admin, "Content-Type": "application/json"})
        cut_response = conn.getresponse()
        assert cut_response.status == 503, cut_response.read()
        cut_response.read()
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200  # the same socket: the server did not drop it
        conn.close()
        assert not proxy.up
        cut = _traffic(http, admin, refresh, key, used)  # the database stays away in the middle of the traffic
        assert 503 in cut
        proxy.restore()
        _wait_ready(http)

        # a background writer's batch: the link drops right after the exchange users' upsert was sent
        proxy.cut_after(f"cutfirst-{M}".encode())
        assert http.post("/api/v1/token/", json=_exchange_user(user_id=f"cut-uid-{M}", first_name=f"cutfirst-{M}"),
                         headers={"X-Api-Key": key}).status_code == 200
        _wait(lambda: not proxy.up, "the exchange users' writer never sent its batch")
        time.sleep(0.5)  # the round fails (an outage: the writer keeps its rows and says nothing more)
        proxy.restore()
        _wait_ready(http)
        for _ in range(3):
            _traffic(http, admin, refresh, key, used)
        time.sleep(2.5)  # the writers' next rounds (exchange users every 2 s) happen while the logs run
        # the batch that failed was kept and written once the database was back
        assert http.get(f"/exchange-users/cut-uid-{M}", headers=admin).status_code == 200
        assert server.stop() == 0

    logs = server.logs()
    assert "set aside" not in logs  # only the link failed: the writer kept its rows and wrote them afterwards
    keys = MasterKeys(TEST_MASTER_KEY)
    values: list[str] = [v for v in used if v]
    values += [keys.secret_hash(v) for v in list(values)]
    for value in values:
        assert value not in logs, f"a secret or hash reached the logs: {value[:8]}…"
    assert "$argon2" not in logs, "a password hash reached the logs"
    assert "[SQL" not in logs and "SQL parameters" not in logs
    assert "Exception in ASGI application" not in logs  # expected failures are answered, not crashes
    lines: list[dict[str, Any]] = server.json_lines()
    # the access log names the path (a user id in /exchange-users/{id} is the request's address, not a
    # value bound into SQL); nothing else may carry a value of the run
    rest = json.dumps([{k: v for k, v in line.items() if not (k == "path" and line["logger"] == "tokensmith.access")}
                       for line in lines])
    assert M not in rest, "a bound value of the run reached the logs"
    # the faults did happen and were logged (without their values): the cut request as a 503
    assert any(line.get("msg") == "request failed: temporarily_unavailable" for line in lines)
