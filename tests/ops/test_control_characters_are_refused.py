"""Control characters are refused at the edge, in each endpoint family's own 400 shape: U+0000 anywhere, and
the C0 range other than tab and newline in names and identifiers. Nothing of such a request is stored, and
the background writers (audit log, exchange users) keep writing what comes after it.

One server per database serves every case (the cases are independent: each carries its own marker, and the
check is that the marker reached no table and no row was added anywhere but the audit log).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.apikeys.helpers import USER, api_key, create_key, exchange
from tests.people.helpers import bearer, make_user, tokens
from tests.support import (
    POSTGRES_URL,
    LiveServer,
    asyncpg_url,
    create_postgres_database,
    drop_postgres_database,
    make_settings,
)

MARK = "h0stile"
NUL = "\x00"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
USER_ID_TYPE = "urn:tokensmith:params:oauth:token-type:user-id"


@dataclass
class Edge:
    server: LiveServer
    http: httpx.Client
    admin: dict[str, str]  # a signed-in owner's Bearer header
    client_id: str
    client_secret: str
    key: str  # an API key, clientId:secret


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def edge(request: Any, tmp_path_factory: Any) -> Iterator[Edge]:
    import asyncio

    if request.param == "sqlite":
        url, pg = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('edge')}/t.db", None
    else:
        template = request.getfixturevalue("postgres_template")
        pg = asyncio.run(create_postgres_database(POSTGRES_URL, template=template))
        url = asyncpg_url(pg)
    try:
        with LiveServer(make_settings(url)) as server, server.client() as http:
            make_user(server, "owner@example.com", role="owner")
            admin = bearer(tokens(http, "owner@example.com")["accessToken"])
            record, secret = server.create_client(scopes=["api.read"], name="edge-client")
            key = api_key(create_key(http, admin, scopes=["Patient.read"]))
            assert exchange(http, key).status_code == 200  # doctor123 becomes an exchange user
            yield Edge(server, http, admin, record.client_id, secret or "", key)
    finally:
        if pg is not None:
            asyncio.run(drop_postgres_database(POSTGRES_URL, pg))


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _form(edge: Edge, path: str, data: dict[str, str], headers: dict[str, str] | None = None) -> httpx.Response:
    return edge.http.post(path, data=data, headers=headers or {})


Send = Callable[[Edge], httpx.Response]
LIST, OAUTH = "list", "oauth"

# (id, request, expected shape, the loc a 400 list must name)
CASES: list[tuple[str, Send, str, list[str] | None]] = [
    ("login email", lambda e: e.http.post("/auth/login", json={"email": f"a{NUL}{MARK}@example.com",
                                                               "password": "x"}), LIST, ["email"]),
    ("login password", lambda e: e.http.post("/auth/login", json={"email": "owner@example.com",
                                                                  "password": f"p{NUL}{MARK}"}), LIST, ["password"]),
    ("token client_id (Basic)", lambda e: _form(e, "/oauth/token", {"grant_type": "client_credentials"},
                                                _basic(f"c{NUL}{MARK}", "s")), OAUTH, None),
    ("token client_secret (Basic)", lambda e: _form(e, "/oauth/token", {"grant_type": "client_credentials"},
                                                    _basic(e.client_id, f"s{NUL}{MARK}")), OAUTH, None),
    ("token client_id (form)", lambda e: _form(e, "/oauth/token", {
        "grant_type": "client_credentials", "client_id": f"c{NUL}{MARK}", "client_secret": "s"}), OAUTH, None),
    ("token client_id with C0 (form)", lambda e: _form(e, "/oauth/token", {
        "grant_type": "client_credentials", "client_id": f"c\x01{MARK}", "client_secret": "s"}), OAUTH, None),
    ("token client_id with ESC (Basic)", lambda e: _form(e, "/oauth/token", {"grant_type": "client_credentials"},
                                                         _basic(f"c\x1b{MARK}", "s")), OAUTH, None),
    ("introspection client_id (Basic)", lambda e: _form(e, "/oauth/introspect", {"token": "t"},
                                                        _basic(f"c{NUL}{MARK}", "s")), OAUTH, None),
    ("introspection client_id (form)", lambda e: _form(e, "/oauth/introspect", {
        "token": "t", "client_id": f"c{NUL}{MARK}", "client_secret": "s"}), OAUTH, None),
    ("introspection token", lambda e: _form(e, "/oauth/introspect", {"token": f"t{NUL}{MARK}"},
                                            _basic(e.client_id, e.client_secret)), OAUTH, None),
    ("revocation client_id (Basic)", lambda e: _form(e, "/oauth/revoke", {"token": "t"},
                                                     _basic(f"c{NUL}{MARK}", "s")), OAUTH, None),
    ("revocation client_id (form)", lambda e: _form(e, "/oauth/revoke", {
        "token": "t", "client_id": f"c{NUL}{MARK}"}), OAUTH, None),
    ("user token exchange refresh_token", lambda e: _form(e, "/api/user/oauth2/token", {
        "grant_type": "refresh_token", "refresh_token": f"r{NUL}{MARK}"}), OAUTH, None),
    ("RFC 8693 subject_token", lambda e: _form(e, "/oauth/token", {
        "grant_type": TOKEN_EXCHANGE, "subject_token": f"u{NUL}{MARK}", "subject_token_type": USER_ID_TYPE,
        "first_name": "a", "last_name": "b", "organisation": "c"}, {"X-API-Key": e.key}), OAUTH, None),
    ("RFC 8693 organisation", lambda e: _form(e, "/oauth/token", {
        "grant_type": TOKEN_EXCHANGE, "subject_token": "u1", "subject_token_type": USER_ID_TYPE,
        "first_name": "a", "last_name": "b", "organisation": f"c{NUL}{MARK}"}, {"X-API-Key": e.key}), OAUTH, None),
    ("RFC 8693 subject_token with C0", lambda e: _form(e, "/oauth/token", {
        "grant_type": TOKEN_EXCHANGE, "subject_token": f"u\x07{MARK}", "subject_token_type": USER_ID_TYPE,
        "first_name": "a", "last_name": "b", "organisation": "c"}, {"X-API-Key": e.key}), OAUTH, None),
    ("exchange user_id", lambda e: exchange(e.http, e.key, {**USER, "user_id": f"u{NUL}{MARK}"}), LIST, ["user_id"]),
    ("exchange first_name", lambda e: exchange(e.http, e.key, {**USER, "first_name": f"f{NUL}{MARK}"}), LIST,
     ["first_name"]),
    ("exchange organisation", lambda e: exchange(e.http, e.key, {**USER, "organisation": f"o{NUL}{MARK}"}), LIST,
     ["organisation"]),
    ("exchange user_id with C0", lambda e: exchange(e.http, e.key, {**USER, "user_id": f"u\x1f{MARK}"}), LIST,
     ["user_id"]),
    ("exchange email", lambda e: exchange(e.http, e.key, {**USER, "email": f"a{NUL}{MARK}@example.com"}), LIST,
     ["email"]),
    ("POST /api-keys name", lambda e: e.http.post("/api-keys", json={"name": f"k{NUL}{MARK}", "scopes": []},
                                                  headers=e.admin), LIST, ["name"]),
    ("POST /api-keys name with C0", lambda e: e.http.post("/api-keys", json={"name": f"k\x08{MARK}", "scopes": []},
                                                          headers=e.admin), LIST, ["name"]),
    ("POST /api-keys organisation", lambda e: e.http.post("/api-keys", json={
        "name": "k", "scopes": [], "allowedOrganisations": [f"o{NUL}{MARK}"]}, headers=e.admin), LIST,
     ["allowedOrganisations", 0]),
    ("POST /user-tokens name", lambda e: e.http.post("/user-tokens", json={"name": f"t{NUL}{MARK}"},
                                                     headers=e.admin), LIST, ["name"]),
    ("POST /users email", lambda e: e.http.post("/users", json={"email": f"a{NUL}{MARK}@example.com"},
                                                headers=e.admin), LIST, ["email"]),
    ("POST /users name", lambda e: e.http.post("/users", json={"email": f"{MARK}@example.com",
                                                               "name": f"n{NUL}{MARK}"}, headers=e.admin), LIST,
     ["name"]),
    ("POST /users password", lambda e: e.http.post("/users", json={"email": f"{MARK}2@example.com",
                                                                   "password": f"p{NUL}{MARK}xxxxxxxxxxxx"},
                                                   headers=e.admin), LIST, ["password"]),
    ("PATCH /exchange-users notes", lambda e: e.http.patch("/exchange-users/doctor123", json={
        "blocked": False, "notes": f"n{NUL}{MARK}"}, headers=e.admin), LIST, ["notes"]),
    ("PATCH /exchange-users notes with C0", lambda e: e.http.patch("/exchange-users/doctor123", json={
        "blocked": False, "notes": f"n\x0b{MARK}"}, headers=e.admin), LIST, ["notes"]),
    ("GET /api-keys/{id}", lambda e: e.http.get(f"/api-keys/%00{MARK}", headers=e.admin), LIST, ["path", "key_id"]),
    ("PATCH /api-keys/{id}", lambda e: e.http.patch(f"/api-keys/%00{MARK}", json={"name": "x"}, headers=e.admin),
     LIST, ["path", "key_id"]),
    ("DELETE /api-keys/{id}", lambda e: e.http.delete(f"/api-keys/%00{MARK}", headers=e.admin), LIST,
     ["path", "key_id"]),
    ("POST /api-keys/{id}/rotate", lambda e: e.http.post(f"/api-keys/%01{MARK}/rotate", headers=e.admin), LIST,
     ["path", "key_id"]),
    ("DELETE /sessions/{id}", lambda e: e.http.delete(f"/sessions/%00{MARK}", headers=e.admin), LIST,
     ["path", "session_id"]),
    ("DELETE /user-tokens/{id}", lambda e: e.http.delete(f"/user-tokens/%00{MARK}", headers=e.admin), LIST,
     ["path", "token_id"]),
    ("GET /users/{id}", lambda e: e.http.get(f"/users/%00{MARK}", headers=e.admin), LIST, ["path", "user_id"]),
    ("GET /exchange-users/{id}", lambda e: e.http.get(f"/exchange-users/org/%00{MARK}", headers=e.admin), LIST,
     ["path", "user_id"]),
    ("PATCH /exchange-users/{id}", lambda e: e.http.patch(f"/exchange-users/org/%00{MARK}", json={"blocked": True},
                                                          headers=e.admin), LIST, ["path", "user_id"]),
    ("GET /exchange-users?organisation", lambda e: e.http.get(f"/exchange-users?organisation=%00{MARK}",
                                                              headers=e.admin), LIST, ["query", "organisation"]),
    ("GET /sessions?user_id", lambda e: e.http.get(f"/sessions?user_id=%1b{MARK}", headers=e.admin), LIST,
     ["query", "user_id"]),
    ("GET /user-tokens?user_id", lambda e: e.http.get(f"/user-tokens?user_id=%00{MARK}", headers=e.admin), LIST,
     ["query", "user_id"]),
]


def _stored(server: LiveServer) -> tuple[dict[str, int], list[str]]:
    """Row counts of every table but the audit log, and every stored value that carries the marker (the
    writers are flushed first: a row still queued counts as stored)."""
    from sqlalchemy import select

    from tokensmith.storage.models import Base

    async def read(rt: Any) -> tuple[dict[str, int], list[str]]:
        await rt.audit.flush()
        await rt.exchange_users.flush()
        counts, marked = {}, []
        async with rt.db.session() as session:
            for table in Base.metadata.sorted_tables:
                rows = (await session.execute(select(table))).all()
                if table.name not in ("audit_events", "audit_names"):  # the refusal is audited
                    counts[table.name] = len(rows)
                for row in rows:
                    text = json.dumps([str(v) if not isinstance(v, dict | list) else v for v in row],
                                      ensure_ascii=False, default=str)
                    if MARK in text:
                        marked.append(f"{table.name}: {text[:200]}")
        return counts, marked

    return server.call(read)


def _assert_shape(resp: httpx.Response, shape: str, loc: list[str] | None) -> None:
    assert resp.status_code == 400, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    if shape == OAUTH:
        assert body["error"] == "invalid_request", body
        assert isinstance(body["error_description"], str) and "control character" in body["error_description"]
        return
    assert isinstance(body, list) and body, body
    assert all(set(err) == {"loc", "msg", "type"} for err in body), body
    problem = next((err for err in body if err["loc"] == loc), None)
    assert problem is not None, body
    assert problem["type"] == "control_character", problem


@pytest.mark.parametrize("name, send, shape, loc", CASES, ids=[c[0] for c in CASES])
def test_control_characters_are_refused_with_the_endpoints_400(edge: Edge, name: str, send: Send, shape: str,
                                                               loc: list[str] | None) -> None:
    counts_before, marked_before = _stored(edge.server)
    resp = send(edge)
    _assert_shape(resp, shape, loc)
    counts_after, marked_after = _stored(edge.server)
    assert [m for m in marked_after if m not in marked_before] == []
    assert counts_after == counts_before


def test_tab_and_newline_are_kept_in_free_text(edge: Edge) -> None:
    resp = edge.http.patch("/exchange-users/doctor123", json={"blocked": False, "notes": "line 1\n\tline 2"},
                           headers=edge.admin)
    assert resp.status_code == 200, resp.text
    assert resp.json()["notes"] == "line 1\n\tline 2"


async def _asgi(server: LiveServer, method: str, path: str, headers: list[tuple[bytes, bytes]],
                body: bytes = b"") -> tuple[int, Any]:
    """One request straight into the ASGI app, for header values no HTTP parser would let through (a
    different server in front, or a proxy that decodes)."""
    messages: list[dict[str, Any]] = []
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1"), *headers], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await server.app(scope, receive, send)
    status = next(m["status"] for m in messages if m["type"] == "http.response.start")
    payload = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return status, json.loads(payload)


FORM = (b"content-type", b"application/x-www-form-urlencoded")


@pytest.mark.parametrize("value", ["a\x00b", "a\x01b", "a\x1bb"], ids=["NUL", "SOH", "ESC"])
def test_control_characters_in_credential_headers_are_refused(edge: Edge, value: str) -> None:
    raw = value.encode()
    status, body = edge.server.call(_asgi(edge.server, "GET", "/api-keys", [(b"authorization", b"Bearer " + raw)]))
    assert (status, body["error"]) == (400, "invalid_request")
    status, body = edge.server.call(_asgi(edge.server, "POST", "/api/v1/token/", [(b"x-api-key", raw)],
                                          json.dumps(USER).encode()))
    assert status == 400 and body[0]["loc"] == ["header", "x-api-key"] and body[0]["type"] == "control_character"
    form = f"grant_type={TOKEN_EXCHANGE}&subject_token=u&subject_token_type={USER_ID_TYPE}".encode()
    status, body = edge.server.call(_asgi(edge.server, "POST", "/oauth/token", [FORM, (b"x-api-key", raw)], form))
    assert (status, body["error"]) == (400, "invalid_request")
    status, body = edge.server.call(_asgi(edge.server, "POST", "/oauth/introspect", [FORM, (b"x-api-key", raw)],
                                          b"token=t"))
    assert (status, body["error"]) == (400, "invalid_request")
