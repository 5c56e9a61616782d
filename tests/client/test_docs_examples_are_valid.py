"""``docs/client.md``'s examples are meant to be pasted: each Python block compiles (top-level ``await``
allowed, as in a notebook or ``asyncio`` REPL), and every name it imports from ``tokensmith.client``
exists; every public provider has its example."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import tokensmith.client as client

DOC = Path(__file__).resolve().parents[2] / "docs" / "client.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


def test_every_block_compiles_and_imports_only_what_exists() -> None:
    blocks = _blocks()
    assert len(blocks) >= 6
    for source in blocks:
        tree = compile(source, str(DOC), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT | ast.PyCF_ONLY_AST)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "tokensmith.client":
                for alias in node.names:
                    assert alias.name in client.__all__, alias.name


def test_every_provider_has_an_example() -> None:
    text = "\n".join(_blocks())
    for name in ("ClientCredentialsAuth(", "private_key=", "SessionExchangeAuth(", "UserTokenAuth(",
                 "PasswordAuth(", "TokensmithAdmin(", "for_requests()", "httpx.AsyncClient"):
        assert name in text, name
