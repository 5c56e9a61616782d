"""Helpers of the guard tests: the example FHIR API served on loopback (its own thread and event loop, as
a separate resource-server process would be), resource-server clients, and the credentials of every kind."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn

from tests.support import LiveServer, loopback_socket
from tokensmith.clock import Clock
from tokensmith.example_api.app import create_example_app
from tokensmith.example_api.store import FhirStore
from tokensmith.guard import Guard, GuardSettings

T = TypeVar("T")
FEED_SCOPES = ["Revocation.read"]
ALL_FHIR = ["Patient.read", "Patient.write", "Observation.read", "Observation.write"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def resource_server_client(server: LiveServer) -> tuple[str, str]:
    """A client allowed to introspect and to read the revocation feed (``Revocation.read``)."""
    record, secret = server.create_client(name="fhir-api", scopes=FEED_SCOPES)
    assert secret is not None
    return record.client_id, secret


def cc_token(server: LiveServer, scopes: list[str], *, fmt: str = "jwt", **form: str) -> str:
    record, secret = server.create_client(name=f"app-{fmt}", scopes=scopes, access_token_format=fmt)
    with server.client() as http:
        resp = http.post("/oauth/token", data={"grant_type": "client_credentials", **form},
                         auth=(record.client_id, secret or ""))
    assert resp.status_code == 200, resp.text
    token: str = resp.json()["access_token"]
    return token


def cc_client(server: LiveServer, scopes: list[str], *, fmt: str = "jwt") -> tuple[Any, str]:
    record, secret = server.create_client(name=f"app-{fmt}", scopes=scopes, access_token_format=fmt)
    assert secret is not None
    return record, secret


def token_of(server: LiveServer, client_id: str, secret: str) -> str:
    with server.client() as http:
        resp = http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    assert resp.status_code == 200, resp.text
    token: str = resp.json()["access_token"]
    return token


class ExampleApi:
    """The example API under uvicorn on 127.0.0.1 in a thread of its own, guarded by a :class:`Guard`."""

    def __init__(self, settings: GuardSettings, db_path: Path, clock: Clock | None = None, *,
                 sock: socket.socket | None = None) -> None:
        self.guard = Guard(settings, clock=clock)
        self.app = create_example_app(self.guard, FhirStore(str(db_path)))
        self._loop = asyncio.new_event_loop()
        self.sock = sock if sock is not None else loopback_socket()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="example-api")
        self._server: uvicorn.Server | None = None

    def call(self, fn: Callable[[], Awaitable[T]], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(fn(), self._loop).result(timeout)  # type: ignore[arg-type]

    def __enter__(self) -> ExampleApi:
        self._thread.start()
        config = uvicorn.Config(self.app, lifespan="on", log_config=None, access_log=False, loop="none")
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._serving = asyncio.run_coroutine_threadsafe(self._server.serve(sockets=[self.sock]), self._loop)
        deadline = time.time() + 20
        while not self._server.started:
            if self._serving.done():
                self._serving.result()
            if time.time() > deadline:
                raise RuntimeError("example API did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._server is not None:
            self._server.should_exit = True
            try:
                self._serving.result(timeout=15)
            except Exception:
                pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
        self.sock.close()

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, **kw)


def guard_settings(server: LiveServer, client: tuple[str, str] | None, **kw: Any) -> GuardSettings:
    """A guard for ``server`` (its issuer is the settings' one; it is reached at its loopback URL)."""
    kw.setdefault("service_url", server.url)
    if client is not None:
        kw.setdefault("client_id", client[0])
        kw.setdefault("client_secret", client[1])
    kw.setdefault("feed_wait", 2.0)
    kw.setdefault("staleness", 10.0)
    return GuardSettings(issuer=server.settings.issuer, **kw)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.01) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
    return time.monotonic() - started


PASSWORD = "correct horse battery staple"


def make_clinician(server: LiveServer, email: str = "clinician@example.com",
                   permissions: tuple[str, ...] = ("Patient.read", "Observation.read")) -> Any:
    """A user whose role holds ``permissions`` (a custom role, made through the service layer)."""
    from tokensmith.people.roles import create_role
    from tokensmith.people.users import create_user

    role = f"r{abs(hash(permissions)) % 10**8}"
    server.call(lambda rt: create_role(rt, tenant_id=server.tenant_id, name=role, permissions=list(permissions)))
    return server.call(lambda rt: create_user(rt, tenant_id=server.tenant_id, email=email, password=PASSWORD,
                                              role=role, actor="test"))


def sign_in_token(server: LiveServer, email: str = "clinician@example.com") -> str:
    with server.client() as http:
        resp = http.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    token: str = resp.json()["accessToken"]
    return token


def user_token_access_token(server: LiveServer, user: Any) -> tuple[str, dict[str, Any]]:
    """(the opaque access token, the whole response) for a personal user token of ``user``."""
    from tokensmith.people.user_tokens import create_user_token

    _, value = server.call(lambda rt: create_user_token(rt, user_id=user.id, tenant_id=server.tenant_id, name="ci"))
    with server.client() as http:
        resp = http.post("/api/user/oauth2/token", data={"grant_type": "refresh_token", "refresh_token": value})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body["access_token"], body


def make_api_key(server: LiveServer, scopes: list[str], **kw: Any) -> tuple[Any, str]:
    """(record, ``clientId:secret``)."""
    from tokensmith.apikeys.management import create_api_key

    record, secret = server.call(lambda rt: create_api_key(rt, tenant_id=server.tenant_id, name="backend",
                                                           scopes=scopes, **kw))
    return record, f"{record.client_id}:{secret}"


USER = {"user_id": "doctor123", "first_name": "doctor", "last_name": "123", "organisation": "practice_name"}
TOKEN_EXCHANGE = {"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "subject_token": "doctor123",
                  "subject_token_type": "urn:tokensmith:params:oauth:token-type:user-id",
                  "first_name": "doctor", "last_name": "123", "organisation": "practice_name"}


def session_token(server: LiveServer, key: str) -> str:
    """A session token of the spec's exchange (``POST /api/v1/token/``): it carries no scope."""
    with server.client() as http:
        resp = http.post("/api/v1/token/", json=USER, headers={"X-Api-Key": key})
    assert resp.status_code == 200, resp.text
    token: str = resp.json()["token"]
    return token


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.01) -> float:
    """:func:`wait_until` for async tests: the guard under test runs on the test's own event loop."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not predicate():
        if loop.time() - started > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)
    return loop.time() - started
