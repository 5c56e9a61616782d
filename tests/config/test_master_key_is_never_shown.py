"""The master key is a secret value (pydantic ``SecretStr``): ``repr``, ``str``, every dump of the settings
and every CLI message show ``**********`` instead; only ``resolved_master_key()`` reads it out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tokensmith.config import load_settings

KEY = "Zq3v9XkT0bLr7sW2yN5hJc8dF1gUeA4mPiRo6tQx-never-shown"
TOKENSMITH = str(Path(sys.executable).parent / "tokensmith")


def test_the_settings_never_show_the_master_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENSMITH_ISSUER", "https://auth.example.com")
    monkeypatch.setenv("TOKENSMITH_MASTER_KEY", KEY)
    settings = load_settings()
    shown = [repr(settings), str(settings), repr(settings.model_dump()), str(settings.model_dump()),
             json.dumps(settings.model_dump(mode="json")), settings.model_dump_json(), repr(settings.master_key)]
    for text in shown:
        assert KEY not in text and KEY[:12] not in text
    assert settings.model_dump(mode="json")["master_key"] == "**********"
    assert settings.resolved_master_key() == KEY


def test_a_master_key_from_the_toml_file_is_a_secret_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "tokensmith.toml"
    path.write_text(f'issuer = "https://auth.example.com"\nmaster_key = "{KEY}"\n')
    monkeypatch.setenv("TOKENSMITH_CONFIG_FILE", str(path))
    settings = load_settings()
    assert KEY not in repr(settings) and KEY not in settings.model_dump_json()
    assert settings.resolved_master_key() == KEY


@pytest.mark.parametrize("command", [["init", "--json"], ["clients", "list", "--port-typo"], ["keys", "list"]])
def test_cli_output_never_contains_the_master_key(tmp_path: Path, command: list[str]) -> None:
    """Successful output, usage errors and a configuration error (an invalid port next to the key)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENSMITH_")}
    env.update(TOKENSMITH_MASTER_KEY=KEY, TOKENSMITH_ISSUER="https://auth.example.com",
               TOKENSMITH_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/t.db")
    for extra in ({}, {"TOKENSMITH_PORT": "eighty"}):
        proc = subprocess.run([TOKENSMITH, *command], cwd=tmp_path, env={**env, **extra}, capture_output=True,
                              text=True, timeout=60)
        assert KEY not in proc.stdout + proc.stderr
