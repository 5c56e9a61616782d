"""In development mode without ``TOKENSMITH_ISSUER``, ``serve`` names the address it actually serves
as the issuer (a local trial on another port gets consistent discovery URLs and ``iss``); an explicit
issuer always wins."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.ops.helpers import ServeProcess


def test_development_serve_without_issuer_uses_its_own_address(tmp_path: Path) -> None:
    server = ServeProcess(tmp_path)
    server.env.pop("TOKENSMITH_ISSUER")
    with server:
        meta = httpx.get(f"{server.url}/.well-known/openid-configuration", timeout=5).json()
        assert server.stop() == 0
    assert meta["issuer"] == server.url
    assert meta["token_endpoint"] == f"{server.url}/oauth/token"


def test_explicit_issuer_wins_over_the_served_address(tmp_path: Path) -> None:
    server = ServeProcess(tmp_path, env={"TOKENSMITH_ISSUER": "http://tokens.example.test"})
    with server:
        meta = httpx.get(f"{server.url}/.well-known/openid-configuration", timeout=5).json()
        assert server.stop() == 0
    assert meta["issuer"] == "http://tokens.example.test"
