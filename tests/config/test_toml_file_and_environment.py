"""Settings come from ``TOKENSMITH_*`` variables, then the TOML file named by ``TOKENSMITH_CONFIG_FILE``,
then the defaults; the environment wins over the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokensmith.config import load_settings
from tokensmith.errors import ConfigurationError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tokensmith.toml"
    path.write_text(text)
    return path


def test_settings_from_a_tokensmith_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, """
[tokensmith]
env = "development"
issuer = "http://toml.example:8080/"
port = 9123
client_token_ttl = 77
trusted_proxies = ["10.0.0.0/8"]
access_log = false

[unrelated]
whatever = 1
""")
    monkeypatch.setenv("TOKENSMITH_CONFIG_FILE", str(path))
    settings = load_settings()
    assert settings.env == "development"
    assert settings.issuer == "http://toml.example:8080"
    assert settings.port == 9123
    assert settings.client_token_ttl == 77
    assert settings.trusted_proxies == ["10.0.0.0/8"]
    assert settings.access_log is False


def test_settings_at_the_top_level(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENSMITH_CONFIG_FILE", str(_write(tmp_path, 'env = "development"\nworkers = 3\n')))
    assert load_settings().workers == 3


def test_the_environment_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, '[tokensmith]\nenv = "development"\nport = 9123\nlog_level = "DEBUG"\n')
    monkeypatch.setenv("TOKENSMITH_CONFIG_FILE", str(path))
    monkeypatch.setenv("TOKENSMITH_PORT", "9000")
    settings = load_settings()
    assert settings.port == 9000  # environment
    assert settings.log_level == "DEBUG"  # file


def test_the_production_checks_apply_to_the_file_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, '[tokensmith]\nissuer = "https://auth.example.com"\nmaster_key = "change-me"\n')
    monkeypatch.setenv("TOKENSMITH_CONFIG_FILE", str(path))
    with pytest.raises(ConfigurationError, match="TOKENSMITH_MASTER_KEY"):
        load_settings()
    # ... and a good key from the environment fixes it
    monkeypatch.setenv("TOKENSMITH_MASTER_KEY", "Zq3v9XkT0bLr7sW2yN5hJc8dF1gUeA4mPiRo6tQx")
    assert load_settings().issuer == "https://auth.example.com"


@pytest.mark.parametrize("text, message", [
    ('[tokensmith]\nenv = "development"\ndatabse_url = "sqlite+aiosqlite:///x.db"\n', "unknown setting(s)"),
    ("port = [", "cannot read configuration file"),
    ('env = "development"\nport = "eighty"\n', "TOKENSMITH_PORT"),
    ('env = "development"\nlog_level = "chatty"\n', "TOKENSMITH_LOG_LEVEL"),
])
def test_a_bad_file_is_refused_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str,
                                       message: str) -> None:
    monkeypatch.setenv("TOKENSMITH_CONFIG_FILE", str(_write(tmp_path, text)))
    with pytest.raises(ConfigurationError) as info:
        load_settings()
    assert message in str(info.value)


def test_a_missing_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENSMITH_CONFIG_FILE", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigurationError, match="cannot read configuration file"):
        load_settings()
