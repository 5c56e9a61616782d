"""The SDK's public surface is explicit (``__all__``) and importable, and the SDK imports nothing of the
server (an integrator installs the package but never runs the service)."""

from __future__ import annotations

import subprocess
import sys

import tokensmith.client as client


def test_every_exported_name_exists_and_nothing_public_is_missing() -> None:
    assert sorted(client.__all__) == sorted(set(client.__all__))
    for name in client.__all__:
        assert hasattr(client, name), name
    public = {n for n in dir(client) if not n.startswith("_") and n[0].isupper()}
    assert public <= set(client.__all__)


def test_the_sdk_does_not_import_the_server() -> None:
    code = ("import sys, tokensmith.client, tokensmith.client.requests_auth; "
            "print(sorted(m for m in sys.modules if m.startswith('tokensmith') and not m.startswith("
            "'tokensmith.client')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['tokensmith']"
    heavy = subprocess.run([sys.executable, "-c", "import sys, tokensmith.client; "
                            "print([m for m in ('fastapi', 'sqlalchemy', 'starlette') if m in sys.modules])"],
                           capture_output=True, text=True, check=True).stdout
    assert heavy.strip() == "[]"
