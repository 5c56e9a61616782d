"""Bad input is the client's problem: every malformed request gets a JSON error below 500 (never a 500,
never a stack trace)."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from tests.support import LiveServer

FORM = "application/x-www-form-urlencoded"


def _basic(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


# (name, method, path, headers, body, expected status)
CASES: list[tuple[str, str, str, dict[str, Any], bytes, int]] = [
    ("invalid UTF-8 form body", "POST", "/oauth/token", {"Content-Type": FORM}, b"grant_type=\xff\xfe", 400),
    ("invalid UTF-8 form key", "POST", "/oauth/token", {"Content-Type": FORM}, b"\xc3(=client_credentials", 400),
    ("invalid percent escape", "POST", "/oauth/token", {"Content-Type": FORM}, b"grant_type=%ZZ%ff", 400),
    ("NUL bytes", "POST", "/oauth/token", {"Content-Type": FORM}, b"grant_type=client_credentials\x00&x=\x00", 400),
    ("huge body", "POST", "/oauth/token", {"Content-Type": FORM}, b"a=" + b"x" * (5 * 1024 * 1024), 413),
    ("body just over the form limit", "POST", "/oauth/token", {"Content-Type": FORM}, b"a=" + b"x" * 70_000, 400),
    ("too many fields", "POST", "/oauth/token", {"Content-Type": FORM}, b"&".join(b"f%d=1" % i for i in range(500)),
     400),
    ("repeated parameter", "POST", "/oauth/token", {"Content-Type": FORM},
     b"grant_type=client_credentials&grant_type=client_credentials", 400),
    ("bad base64 in Basic", "POST", "/oauth/token", {"Content-Type": FORM, "Authorization": "Basic %%%not-base64"},
     b"grant_type=client_credentials", 401),
    ("Basic without a colon", "POST", "/oauth/token", {"Content-Type": FORM, "Authorization": _basic(b"nocolon")},
     b"grant_type=client_credentials", 401),
    ("Basic with non-UTF-8 credentials", "POST", "/oauth/token",
     {"Content-Type": FORM, "Authorization": _basic(b"\xff\xfe:\xfd")}, b"grant_type=client_credentials", 401),
    ("empty Basic", "POST", "/oauth/token", {"Content-Type": FORM, "Authorization": "Basic"},
     b"grant_type=client_credentials", 401),
    ("huge client id", "POST", "/oauth/token", {"Content-Type": FORM, "Authorization": _basic(b"c" * 5000 + b":s")},
     b"grant_type=client_credentials", 401),
    ("non-form content type", "POST", "/oauth/token", {"Content-Type": "text/plain"},
     b"grant_type=client_credentials", 400),
    ("no content type", "POST", "/oauth/token", {}, b"grant_type=client_credentials", 400),
    ("JSON body", "POST", "/oauth/token", {"Content-Type": "application/json"},
     b'{"grant_type": "client_credentials"}', 400),
    ("multipart body", "POST", "/oauth/token", {"Content-Type": "multipart/form-data; boundary=x"},
     b"--x\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nclient_credentials\r\n--x--\r\n", 400),
    ("empty body", "POST", "/oauth/token", {"Content-Type": FORM}, b"", 400),
    ("unsupported grant type", "POST", "/oauth/token", {"Content-Type": FORM}, b"grant_type=" + b"z" * 3000, 400),
    ("JSON body to introspection", "POST", "/oauth/introspect", {"Content-Type": "application/json"},
     b'{"token": "x"}', 400),
    ("invalid UTF-8 to revocation", "POST", "/oauth/revoke", {"Content-Type": FORM}, b"token=\xff", 400),
    ("introspection of garbage", "POST", "/oauth/introspect", {"Content-Type": FORM, "Authorization": _basic(b"a:b")},
     b"token=" + b"." * 3000, 401),
    ("unknown path", "GET", "/no/such/thing", {}, b"", 404),
    ("unknown path with a body", "POST", "/no/such/thing", {"Content-Type": "application/json"}, b"{", 404),
    ("wrong method on the token endpoint", "GET", "/oauth/token", {}, b"", 405),
    ("wrong method on introspection", "PUT", "/oauth/introspect", {}, b"", 405),
    ("wrong method on discovery", "POST", "/.well-known/openid-configuration", {}, b"", 405),
    ("odd path", "GET", "/%ff%00/../..", {}, b"", 404),
]


@pytest.mark.parametrize("name, method, path, headers, body, status", CASES, ids=[c[0] for c in CASES])
def test_malformed_request(server: LiveServer, name: str, method: str, path: str, headers: dict[str, Any],
                           body: bytes, status: int) -> None:
    with server.client() as http:
        resp = http.request(method, path, headers=headers, content=body)
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    error = resp.json()
    assert isinstance(error, dict) and isinstance(error.get("error"), str)
    text = resp.text
    assert "Traceback" not in text and 'File "' not in text
    if status == 405:
        assert resp.headers.get("Allow")
    if status == 401:
        assert error["error"] == "invalid_client"


def test_a_body_that_never_ends_is_cut_off(server: LiveServer) -> None:
    """A chunked upload without Content-Length is counted as it arrives and stopped at the limit."""

    def endless() -> Any:
        for _ in range(10_000):
            yield b"x" * 65536

    with httpx.Client(base_url=server.url, timeout=30) as http:
        resp = http.post("/oauth/token", headers={"Content-Type": FORM}, content=endless())
    assert resp.status_code == 413
    assert resp.json() == {"error": "invalid_request",
                           "error_description": f"the request body is larger than {1024 * 1024} bytes"}
