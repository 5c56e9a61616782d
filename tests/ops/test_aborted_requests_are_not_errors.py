"""A client that hangs up in the middle of its request body (a closed tab, a killed process, a flaky
link) is not a server error: it is logged as an aborted request (a warning with the request id, and the
access line with status 499, the usual "client closed request"), never as an "unhandled error" with 500.
Checked over a raw socket against ``tokensmith serve``, on the fast-path endpoints and a FastAPI route."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx

from tests.ops.helpers import ServeProcess

PATHS = {"/auth/login": "application/json", "/oauth/token": "application/x-www-form-urlencoded",
         "/api-keys": "application/json"}


def _hang_up_mid_body(port: int, path: str, content_type: str, request_id: str) -> None:
    """Headers announce 1000 bytes; 10 arrive; then the client is gone."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
                     f"Content-Length: 1000\r\nX-Request-Id: {request_id}\r\n\r\n".encode() + b'{"email": ')
        time.sleep(0.2)  # the server has started reading the body


def test_a_client_hanging_up_mid_body_is_an_aborted_request_not_a_500(tmp_path: Path) -> None:
    server = ServeProcess(tmp_path)
    server.cli("init")
    with server, httpx.Client(base_url=server.url, timeout=10) as http:
        for n, (path, content_type) in enumerate(PATHS.items()):
            _hang_up_mid_body(server.port, path, content_type, f"aborted-{n}")
        time.sleep(0.5)
        assert http.get("/healthz").status_code == 200  # the server is unharmed
        metrics = http.get("/metrics").text
        assert server.stop() == 0
    lines = server.json_lines()
    ours = [line for line in lines if str(line.get("request_id", "")).startswith("aborted-")]
    assert not [line for line in lines if "unhandled" in str(line.get("msg", "")).lower()], server.logs()
    assert not [line for line in ours if line.get("status") == 500 or line.get("level") == "error"], ours
    for n, path in enumerate(PATHS):
        mine = [line for line in ours if line["request_id"] == f"aborted-{n}"]
        assert any(line.get("level") == "warning" and line.get("msg") == "request aborted by the client"
                   for line in mine), (path, mine)
        access = [line for line in mine if line.get("logger") == "tokensmith.access"]
        assert [line["status"] for line in access] == [499], (path, mine)
    assert 'status="500"' not in metrics
    assert 'status="499"' in metrics  # tokensmith_http_requests_total counts aborted requests
