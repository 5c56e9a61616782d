"""Every credential event emitted so far lands in the chained audit log, with who, what, from where and
the request id — and never a secret."""

from __future__ import annotations

import json

from tests.support import LiveServer
from tokensmith.audit.operations import export, verify
from tokensmith.clients import rotate_client_secret, set_client_status
from tokensmith.signing_keys import revoke_key, rotate_keys


def test_every_credential_event_is_in_the_audit_log(any_server: LiveServer) -> None:
    server = any_server
    record, secret = server.create_client(scopes=["api.read"], actor="admin@example.com")
    assert secret
    cid = record.client_id
    with server.client() as http:
        issued = http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(cid, secret))
        assert issued.status_code == 200
        token = issued.json()["access_token"]
        failed = http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(cid, "wrong-secret"))
        assert failed.status_code == 401
        revoked = http.post("/oauth/revoke", data={"token": token}, auth=(cid, secret))
        assert revoked.status_code == 200
    new_secret = server.call(lambda rt: rotate_client_secret(rt, cid, actor="admin@example.com"))
    server.call(lambda rt: set_client_status(rt, cid, False, actor="admin@example.com"))
    rotation = server.call(lambda rt: rotate_keys(rt, actor="admin@example.com"))
    server.call(lambda rt: revoke_key(rt, rotation["retired"], actor="admin@example.com"))

    server.call(lambda rt: rt.audit.flush())
    events = [json.loads(line) for line in server.call(lambda rt: export(rt))]
    by_type: dict[str, list[dict[str, object]]] = {}
    for event in events:
        by_type.setdefault(str(event["type"]), []).append(event)

    expected = {
        "client.created": ("admin@example.com", cid),
        "client.secret_rotated": ("admin@example.com", cid),
        "client.disabled": ("admin@example.com", cid),
        "token.issued": (cid, None),
        "client.auth_failed": (None, cid),
        "token.revoked": (cid, None),
        "signing_key.rotated": ("admin@example.com", rotation["active"]),
        "signing_key.revoked": ("admin@example.com", rotation["retired"]),
    }
    for event_type, (actor, subject) in expected.items():
        assert event_type in by_type, f"{event_type} missing; recorded: {sorted(by_type)}"
        event = by_type[event_type][-1]
        if actor is not None:
            assert event["actor"] == actor, event
        if subject is not None:
            assert event["subject"] == subject, event

    # events of HTTP requests carry the caller's address and the request id the response echoed
    assert by_type["token.issued"][-1]["request_id"] == issued.headers["X-Request-ID"]
    assert by_type["client.auth_failed"][-1]["request_id"] == failed.headers["X-Request-ID"]
    assert by_type["token.revoked"][-1]["request_id"] == revoked.headers["X-Request-ID"]
    assert by_type["client.auth_failed"][-1]["ip"] == "127.0.0.1"
    # the issued token and the revoked one are the same (jti)
    assert by_type["token.issued"][-1]["subject"] == by_type["token.revoked"][-1]["subject"]

    dump = json.dumps(events)
    for secret_value in (secret, new_secret, token, "wrong-secret"):
        assert secret_value not in dump

    count, problems = server.call(lambda rt: verify(rt))
    assert problems == [] and count == len(events)
