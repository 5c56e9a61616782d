"""Helpers of the SDK tests: a live server whose issuer is its own loopback URL (so that discovery and
token audiences point at it), a transport that counts the SDK's token requests on their way to the real
server, a clock the test moves, and the server-side set-up (admin tokens, API keys, users) done over HTTP
or through the service layer."""

from __future__ import annotations

import socket
import threading
from collections import Counter
from typing import Any

import httpx

from tests.support import LiveServer, make_settings
from tokensmith.client import ClientCredentialsAuth, Options, PasswordAuth

PASSWORD = "correct horse battery staple"
USER = {"user_id": "doctor123", "first_name": "Ada", "last_name": "Lovelace", "organisation": "practice_name"}


def live_server(database_url: str, clock: Any = None, **overrides: Any) -> LiveServer:
    """A LiveServer (not started) whose ``issuer`` is the URL it listens on."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    overrides.setdefault("issuer", f"http://127.0.0.1:{port}")
    live = LiveServer(make_settings(database_url, **overrides), clock=clock)
    live.sock.close()
    live.sock, live.port, live.url = sock, port, f"http://127.0.0.1:{port}"
    return live


class FakeClock:
    """Wall-clock seconds that move only when the test says so."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CountingTransport(httpx.BaseTransport):
    """httpx's real transport, counting requests by path (thread-safe)."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.paths: Counter[str] = Counter()
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.paths[request.url.path] += 1
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


class AsyncCountingTransport(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.paths: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths[request.url.path] += 1
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def admin_client(server: LiveServer, scopes: list[str] | None = None, **kw: Any) -> tuple[str, str]:
    """(client_id, secret) of a confidential client allowed to manage API keys and users."""
    scopes = scopes if scopes is not None else ["ApiKey.*", "ExchangeUser.*", "Patient.*", "Observation.read"]
    record, secret = server.create_client(scopes=scopes, name=kw.pop("name", "admin"), **kw)
    assert secret is not None
    return record.client_id, secret


def admin_auth(server: LiveServer, options: Options | None = None) -> ClientCredentialsAuth:
    client_id, secret = admin_client(server)
    return ClientCredentialsAuth(issuer=server.url, client_id=client_id, client_secret=secret, options=options)


def make_user(server: LiveServer, email: str, *, role: str = "member", password: str = PASSWORD) -> Any:
    from tokensmith.people.users import create_user

    return server.call(lambda rt: create_user(rt, tenant_id=server.tenant_id, email=email, password=password,
                                              role=role, actor="test"))


def user_auth(server: LiveServer, email: str, role: str = "admin", options: Options | None = None) -> PasswordAuth:
    make_user(server, email, role=role)
    return PasswordAuth(issuer=server.url, email=email, password=PASSWORD, options=options)


def create_api_key(server: LiveServer, **body: Any) -> str:
    """``clientId:secret`` of a new API key (made over HTTP by an admin client)."""
    client_id, secret = admin_client(server)
    with server.client() as http:
        token = http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
        body.setdefault("name", "backend")
        body.setdefault("scopes", ["Patient.read"])
        resp = http.post("/api-keys", json=body, headers={"Authorization": f"Bearer {token.json()['access_token']}"})
        assert resp.status_code == 201, resp.text
        created = resp.json()
    return f"{created['clientId']}:{created['secret']}"


def introspect(server: LiveServer, token: str) -> dict[str, Any]:
    client_id, secret = getattr(server, "_sdk_introspector", None) or admin_client(server, ["api.read"],
                                                                                  name="introspector")
    server._sdk_introspector = (client_id, secret)  # type: ignore[attr-defined]
    with server.client() as http:
        resp = http.post("/oauth/introspect", data={"token": token}, auth=(client_id, secret))
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body
