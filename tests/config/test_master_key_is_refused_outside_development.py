"""Outside development the service refuses to run on a missing, short or placeholder master key — with a
clear message, exit status 2 from the CLI and no traceback."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tokensmith.config import load_settings
from tokensmith.errors import ConfigurationError

GOOD_KEY = "Zq3v9XkT0bLr7sW2yN5hJc8dF1gUeA4mPiRo6tQx"
HTTPS = "https://auth.example.com"
TOKENSMITH = str(Path(sys.executable).parent / "tokensmith")


@pytest.mark.parametrize("key", [
    None, "", "change-me", "CHANGEME", "placeholder", "secret", "too-short-1234",
    "change-me-change-me-change-me-change-me", "x" * 64, "abababababababababababababababababab",
    "your-master-key-goes-here-0123456789",
])
def test_weak_master_keys_are_refused(monkeypatch: pytest.MonkeyPatch, key: str | None) -> None:
    monkeypatch.setenv("TOKENSMITH_ISSUER", HTTPS)
    if key is not None:
        monkeypatch.setenv("TOKENSMITH_MASTER_KEY", key)
    with pytest.raises(ConfigurationError, match="TOKENSMITH_MASTER_KEY"):
        load_settings()


def test_a_strong_master_key_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENSMITH_ISSUER", HTTPS)
    monkeypatch.setenv("TOKENSMITH_MASTER_KEY", GOOD_KEY)
    settings = load_settings()
    assert settings.env == "production"  # the default: safe unless told otherwise
    assert settings.resolved_master_key() == GOOD_KEY


def test_development_generates_a_private_key_file_and_reuses_it(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENSMITH_ENV", "development")
    monkeypatch.setenv("TOKENSMITH_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/data/t.db")
    first = load_settings().resolved_master_key()
    key_file = tmp_path / "data" / "tokensmith.master-key"
    assert key_file.read_text() == first and len(first) >= 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_settings().resolved_master_key() == first


@pytest.mark.parametrize("command", [["clients", "list"], ["init"], ["serve", "--port", "1"], ["audit", "verify"]])
def test_the_cli_refuses_with_exit_status_2_and_no_traceback(tmp_path: Path, command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENSMITH_")}
    env.update(TOKENSMITH_MASTER_KEY="change-me", TOKENSMITH_ISSUER=HTTPS,
               TOKENSMITH_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/t.db")
    proc = subprocess.run([TOKENSMITH, *command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("error: TOKENSMITH_MASTER_KEY")
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "t.db").exists()  # refused before touching anything
