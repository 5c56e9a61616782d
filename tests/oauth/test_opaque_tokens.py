"""Opaque reference access tokens: random, not a JWT, only a keyed hash at rest, checked by
introspection (SPEC C, Security rules: "opaque tokens are stored only as keyed hashes")."""

from __future__ import annotations

import hashlib
from typing import Any

import jwt
import pytest
from sqlalchemy import select

from tests.oauth.helpers import get_token, introspect
from tests.support import LiveServer
from tokensmith.storage.models import Base, Token


async def _all_rows(rt: Any) -> list[str]:
    """Every row of every table, as text."""
    dumped = []
    async with rt.db.session() as session:
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).all():
                dumped.append(f"{table.name}: {tuple(row)!r}")
    return dumped


def test_opaque_token_is_not_a_jwt_and_is_introspected_active(any_server: LiveServer) -> None:
    record, secret = any_server.create_client(scopes=["Patient.read"], access_token_format="opaque",
                                              access_token_ttl=300)
    with any_server.client() as http:
        body = get_token(http, record.client_id, secret or "")
        info = introspect(http, body["access_token"], record.client_id, secret or "")
    token = body["access_token"]
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300 and body["scope"] == "Patient.read"
    assert token.count(".") != 2
    with pytest.raises(jwt.DecodeError):
        jwt.get_unverified_header(token)
    assert len(token) >= 43  # 256 bits, base64url
    assert info["active"] is True
    assert info["client_id"] == record.client_id
    assert info["sub"] == record.client_id
    assert info["scope"] == "Patient.read"
    assert info["token_type"] == "Bearer"
    assert info["exp"] - info["iat"] == 300
    assert info["iss"] == any_server.settings.issuer


def test_opaque_token_is_stored_only_as_a_keyed_hash(any_server: LiveServer) -> None:
    record, secret = any_server.create_client(scopes=["api.read"], access_token_format="opaque")
    with any_server.client() as http:
        token = get_token(http, record.client_id, secret or "")["access_token"]
    any_server.call(lambda rt: rt.audit.flush())
    rows = any_server.call(_all_rows)
    assert any(r.startswith("tokens:") for r in rows)
    leaking = [r for r in rows if token in r]
    assert leaking == [], leaking

    async def stored(rt: Any) -> list[Token]:
        async with rt.db.session() as session:
            return list((await session.execute(select(Token))).scalars())

    [row] = any_server.call(stored)
    assert row.kind == "access" and row.client_id == record.client_id
    # A keyed hash (HMAC under a key derived from the master key), not a plain digest anyone can compute.
    assert row.token_hash == any_server.runtime.master.secret_hash(token)
    assert row.token_hash != hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(row.claims)


def test_opaque_tokens_are_unique(server: LiveServer) -> None:
    record, secret = server.create_client(access_token_format="opaque")
    with server.client() as http:
        tokens = {get_token(http, record.client_id, secret or "")["access_token"] for _ in range(5)}
    assert len(tokens) == 5


def test_an_unknown_opaque_token_is_inactive(server: LiveServer) -> None:
    record, secret = server.create_client(access_token_format="opaque")
    with server.client() as http:
        token = get_token(http, record.client_id, secret or "")["access_token"]
        assert introspect(http, token[:-1] + ("A" if token[-1] != "A" else "B"), record.client_id,
                          secret or "") == {"active": False}
