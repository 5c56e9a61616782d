"""``/healthz`` (the process answers), ``/readyz`` (database reachable, signing keys and revocations
loaded) and the request id every response carries (``X-Request-ID``, echoed when the caller sent a sane
one)."""

from __future__ import annotations

import re
import time

import pytest

from tests.support import LiveServer, make_settings
from tokensmith.bootstrap import initialise
from tokensmith.storage.migrate import upgrade

GENERATED = re.compile(r"^[0-9a-f]{32}$")


def test_healthz_and_readyz(server: LiveServer) -> None:
    with server.client() as http:
        health = http.get("/healthz")
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        ready = http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready",
                                "checks": {"database": "ok", "signing_key": "ok", "revocations": "ok",
                                           "writers": "ok"}}


def test_not_ready_without_a_signing_key_until_init(sqlite_url: str) -> None:
    with LiveServer(make_settings(sqlite_url), init=False) as server, server.client() as http:
        server.call(lambda rt: upgrade(rt.db))
        resp = http.get("/readyz")
        assert resp.status_code == 503
        assert resp.headers["Retry-After"]
        assert resp.json()["checks"]["signing_key"] == "missing"
        assert resp.json()["checks"]["database"] == "ok"

        server.call(lambda rt: initialise(rt))  # e.g. `tokensmith init` run by the operator
        deadline = time.monotonic() + 10
        while http.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)


@pytest.mark.parametrize("sent, echoed", [
    ("abc-123", True),
    ("3f2b8c1e.9a7d_4c2b-8e1f", True),
    ("x" * 64, True),
    ("x" * 65, False),  # too long
    ("has space", False),
    ("semi;colon", False),
    ("ünïcode", False),
    ("", False),
])
def test_request_id_is_echoed_only_when_sane(server: LiveServer, sent: str, echoed: bool) -> None:
    with server.client() as http:
        rid = http.get("/healthz", headers={"X-Request-ID": sent.encode("utf-8")}).headers["X-Request-ID"]
    if echoed:
        assert rid == sent
    else:
        assert GENERATED.match(rid), rid


def test_every_response_has_its_own_request_id(server: LiveServer) -> None:
    with server.client() as http:
        responses = [http.get("/healthz"), http.get("/nope"), http.post("/oauth/token", data={}),
                     http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("x", "y"))]
    ids = [r.headers["X-Request-ID"] for r in responses]
    assert all(GENERATED.match(rid) for rid in ids)
    assert len(set(ids)) == len(ids)
    assert [r.status_code for r in responses] == [200, 404, 400, 401]
