"""A plain-HTTP issuer is refused outside development (tokens would name an issuer anybody on the path
could impersonate); development allows it."""

from __future__ import annotations

import pytest

from tokensmith.config import load_settings
from tokensmith.errors import ConfigurationError

GOOD_KEY = "Zq3v9XkT0bLr7sW2yN5hJc8dF1gUeA4mPiRo6tQx"


@pytest.mark.parametrize("issuer", ["http://auth.example.com", "http://127.0.0.1:8000", "auth.example.com", ""])
def test_non_https_issuers_are_refused_in_production(monkeypatch: pytest.MonkeyPatch, issuer: str) -> None:
    monkeypatch.setenv("TOKENSMITH_MASTER_KEY", GOOD_KEY)
    monkeypatch.setenv("TOKENSMITH_ISSUER", issuer)
    with pytest.raises(ConfigurationError, match="TOKENSMITH_ISSUER must be an https:// URL"):
        load_settings()


def test_the_default_issuer_is_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENSMITH_MASTER_KEY", GOOD_KEY)
    with pytest.raises(ConfigurationError, match="https"):
        load_settings()


def test_https_issuer_is_accepted_and_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENSMITH_MASTER_KEY", GOOD_KEY)
    monkeypatch.setenv("TOKENSMITH_ISSUER", "https://auth.example.com/")
    assert load_settings().issuer == "https://auth.example.com"


def test_development_allows_plain_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENSMITH_ENV", "development")
    monkeypatch.setenv("TOKENSMITH_ISSUER", "http://127.0.0.1:8000")
    assert load_settings().issuer == "http://127.0.0.1:8000"
