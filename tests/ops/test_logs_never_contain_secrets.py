"""Security rule: "no secret is ever logged". A whole scenario runs against the real ``tokensmith serve``
at DEBUG level — clients created and rotated by the CLI, tokens (JWT and opaque), failed
authentications, introspection, revocation — and then no secret created in it may appear anywhere in
the logs of the server or the CLI. The logs are JSON lines with the request id."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import httpx

from tests.ops.helpers import ServeProcess

FORM = {"grant_type": "client_credentials"}


def test_no_secret_reaches_the_logs(tmp_path: Path) -> None:
    secrets: list[str] = []
    server = ServeProcess(tmp_path, env={"TOKENSMITH_LOG_LEVEL": "DEBUG"})
    server.cli("init")
    with server, httpx.Client(base_url=server.url, timeout=10) as http:
        jwt_client = server.cli("clients", "create", "--name", "jwt", "--scope", "api.read", "--json")
        opaque_client = server.cli("clients", "create", "--name", "opaque", "--scope", "api.read",
                                   "--token-format", "opaque", "--auth-method", "client_secret_post", "--json")
        a = json.loads(jwt_client.stdout)
        b = json.loads(opaque_client.stdout)
        secrets += [a["client_secret"], b["client_secret"]]

        # tokens: Basic for one client, client_secret_post for the other
        r1 = http.post("/oauth/token", data=FORM, auth=(a["client_id"], a["client_secret"]))
        r2 = http.post("/oauth/token", data={**FORM, "client_id": b["client_id"], "client_secret": b["client_secret"]})
        assert r1.status_code == 200 and r2.status_code == 200, (r1.text, r2.text)
        jwt_token, opaque_token = r1.json()["access_token"], r2.json()["access_token"]
        secrets += [jwt_token, opaque_token]

        # failed authentications with wrong secrets, both ways
        wrong_basic, wrong_post = "wrong-basic-secret-0f3a9c", "wrong-post-secret-7d21be"
        secrets += [wrong_basic, wrong_post]
        assert http.post("/oauth/token", data=FORM, auth=(a["client_id"], wrong_basic)).status_code == 401
        assert http.post("/oauth/token", data={**FORM, "client_id": b["client_id"],
                                               "client_secret": wrong_post}).status_code == 401
        # a malformed Basic header that carries the real secret
        broken = base64.b64encode(f"{a['client_id']}:{a['client_secret']}".encode()).decode() + "!!"
        assert http.post("/oauth/token", data=FORM, headers={"Authorization": f"Basic {broken}"}).status_code == 401

        # introspection and revocation
        for token in (jwt_token, opaque_token):
            info = http.post("/oauth/introspect", data={"token": token}, auth=(a["client_id"], a["client_secret"]))
            assert info.json()["active"] is True
        assert http.post("/oauth/revoke", data={"token": opaque_token, "client_id": b["client_id"],
                                                "client_secret": b["client_secret"]}).status_code == 200
        assert http.post("/oauth/revoke", data={"token": jwt_token, "token_type_hint": "access_token"},
                         auth=(a["client_id"], a["client_secret"])).status_code == 200

        # rotation (CLI) and a token with the new secret
        rotated = json.loads(server.cli("clients", "rotate-secret", a["client_id"], "--json").stdout)
        secrets.append(rotated["client_secret"])
        deadline = time.monotonic() + 10  # the server learns of the rotation through the revocation feed
        while (r3 := http.post("/oauth/token", data=FORM, auth=(a["client_id"], rotated["client_secret"]))
               ).status_code != 200:
            assert time.monotonic() < deadline, r3.text
            time.sleep(0.1)
        secrets.append(r3.json()["access_token"])

        # secrets in places where they do not belong: the query string, a bearer header on other paths
        http.post(f"/oauth/token?client_secret={rotated['client_secret']}", data=FORM)
        http.get("/readyz", headers={"Authorization": f"Bearer {r3.json()['access_token']}"})
        http.get("/no/such/path", params={"token": r3.json()["access_token"]})
        rid = http.get("/healthz", headers={"X-Request-ID": "trace-42.scenario"}).headers["X-Request-ID"]
        assert rid == "trace-42.scenario"
        assert server.stop() == 0

    logs = server.logs()
    assert "trace-42.scenario" in logs
    for secret in secrets:
        assert secret not in logs, f"a secret reached the logs: {secret[:6]}…"

    lines = server.json_lines()
    access = [line for line in lines if line.get("logger") == "tokensmith.access"]
    assert len(access) >= 15
    assert all(line["request_id"] and line["path"] and line["status"] for line in access)
    assert all("?" not in line["path"] for line in access)  # never the query string
    assert {"ts", "level", "logger", "msg"} <= set(lines[0])
    # DEBUG is for tokensmith's own loggers: libraries (which log SQL with its parameters) stay quieter
    assert not [line for line in lines if line["level"] == "debug" and not line["logger"].startswith("tokensmith")]
    assert any(line["request_id"] == "trace-42.scenario" and line["path"] == "/healthz" for line in access)
