"""``GET /revocations/feed``: who may read it, the first read (every live entry), the long poll (returns at
once when an entry is new, else waits), the cursor's validation, and rows of concurrent transactions that
commit out of id order are delivered, not skipped."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.guard.helpers import make_api_key, resource_server_client
from tests.support import LiveServer, make_settings
from tokensmith.storage.models import Revocation


def _read(server: LiveServer, auth: Any, **params: Any) -> httpx.Response:
    with httpx.Client(base_url=server.url, timeout=40) as http:
        kw: dict[str, Any] = {"auth": auth} if isinstance(auth, tuple) else {"headers": auth}
        return http.get("/revocations/feed", params=params, **kw)


def test_only_a_caller_holding_revocation_read_may_follow_it(service: LiveServer) -> None:
    assert _read(service, {}).status_code == 401
    plain, plain_secret = service.create_client(name="plain", scopes=["Patient.read"])
    everything, everything_secret = service.create_client(name="everything", scopes=["*"])
    for client, secret in ((plain, plain_secret), (everything, everything_secret)):
        resp = _read(service, (client.client_id, secret))
        assert resp.status_code == 403, resp.text
        assert resp.json()["error"] == "insufficient_scope"  # no wildcard stands for a cross-tenant feed
    cid, secret = resource_server_client(service)
    assert _read(service, (cid, "0" * 40)).status_code == 401
    assert _read(service, (cid, secret)).status_code == 200
    _, key = make_api_key(service, ["Revocation.read"])
    assert _read(service, {"X-API-Key": key}).status_code == 200


def test_the_first_read_holds_every_live_entry_and_a_cursor(service: LiveServer) -> None:
    auth = resource_server_client(service)
    service.call(lambda rt: rt.revocations.revoke(None, "sid", "session-1", expires_at=time.time() + 600))
    service.call(lambda rt: rt.revocations.revoke(None, "jti", "gone", expires_at=time.time() - 1))
    service.call(lambda rt: rt.revocations.changed(None, "client:abc"))
    body = _read(service, auth).json()
    kinds = {(e["kind"], e["value"]) for e in body["entries"]}
    assert ("sid", "session-1") in kinds
    assert ("jti", "gone") not in kinds and ("changed", "client:abc") not in kinds  # expired; not state
    entry = next(e for e in body["entries"] if e["value"] == "session-1")
    assert set(entry) == {"id", "kind", "value", "not_before_ms", "expires_at", "created_at"}
    assert isinstance(body["cursor"], str)


def test_a_long_poll_returns_at_once_on_a_new_entry_and_waits_otherwise(service: LiveServer) -> None:
    auth = resource_server_client(service)
    cursor = _read(service, auth).json()["cursor"]
    started = time.monotonic()
    quiet = _read(service, auth, after=cursor, wait=0.6).json()
    assert time.monotonic() - started >= 0.55
    assert quiet["entries"] == []
    result: dict[str, Any] = {}

    def poll() -> None:
        begun = time.monotonic()
        result["body"] = _read(service, auth, after=quiet["cursor"], wait=20).json()
        result["took"] = time.monotonic() - begun

    thread = threading.Thread(target=poll)
    thread.start()
    time.sleep(0.3)  # the poll is waiting on the server now
    revoked_at = time.monotonic()
    service.call(lambda rt: rt.revocations.revoke(None, "jti", "fresh", expires_at=time.time() + 600))
    thread.join(10)
    assert time.monotonic() - revoked_at < 1.0
    assert result["took"] < 5
    assert [e["value"] for e in result["body"]["entries"] if e["kind"] == "jti"] == ["fresh"]
    # the same cursor again: the entry is still in the window, delivered again (readers drop ids seen)
    again = _read(service, auth, after=quiet["cursor"], wait=0).json()
    assert "fresh" in [e["value"] for e in again["entries"]]
    # the new cursor: nothing new
    assert _read(service, auth, after=result["body"]["cursor"], wait=0).json()["entries"] == []


def test_a_bad_cursor_or_wait_is_a_400(service: LiveServer) -> None:
    auth = resource_server_client(service)
    for params in ({"after": "x"}, {"after": "1.zz"}, {"after": "1" * 20 + ".0123456789abcdef"},
                   {"wait": "31"}, {"wait": "-1"}, {"wait": "soon"}):
        resp = _read(service, auth, **params)
        assert resp.status_code == 400, (params, resp.text)


def test_rows_committed_out_of_id_order_are_not_lost(postgres_url: str) -> None:
    with LiveServer(make_settings(postgres_url)) as server:
        auth = resource_server_client(server)

        async def scenario(rt: Any) -> tuple[dict[str, Any], dict[str, Any], int, int]:
            now = datetime.fromtimestamp(time.time(), UTC)
            async with httpx.AsyncClient(base_url=server.url, timeout=10, auth=auth) as http:
                start = (await http.get("/revocations/feed")).json()["cursor"]
                async with rt.db.session() as slow:  # takes the lower id, commits last
                    early = Revocation(kind="jti", value="slow", created_at=now)
                    slow.add(early)
                    await slow.flush()
                    async with rt.db.session() as fast:
                        late = Revocation(kind="jti", value="fast", created_at=now)
                        fast.add(late)
                        await fast.commit()
                    first = (await http.get("/revocations/feed", params={"after": start})).json()
                    await slow.commit()
                second = (await http.get("/revocations/feed", params={"after": first["cursor"]})).json()
            return first, second, early.id, late.id

        first, second, early_id, late_id = server.call(scenario)
    assert early_id < late_id
    assert [e["value"] for e in first["entries"] if e["kind"] == "jti"] == ["fast"]  # "slow" is not visible yet
    assert "slow" in [e["value"] for e in second["entries"]]  # a smaller id than one already delivered
