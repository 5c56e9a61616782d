"""The library's contract: importable without the server runtime or its database layer, settings checked
where they enter, no secret in a repr, and the caches keyed by a keyed hash, never by the credential."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.guard.helpers import ExampleApi, bearer, cc_token, make_api_key
from tests.support import LiveServer
from tokensmith.guard import GuardSettings, Principal


def test_importing_the_guard_loads_no_server_runtime_or_database_layer() -> None:
    code = ("import sys, tokensmith.guard, tokensmith.example_api.app; "
            "bad = [m for m in ('tokensmith.runtime', 'tokensmith.storage.db', 'tokensmith.revocation.feed', "
            "'sqlalchemy.ext.asyncio', 'redis') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("kw", [
    {"issuer": "ftp://x"}, {"issuer": "https://a", "client_id": "only-id"},
    {"issuer": "https://a", "staleness": 5, "feed_wait": 20}, {"issuer": "https://a", "leeway": -1},
    {"issuer": "https://a", "feed_wait": 31}, {"issuer": "https://a", "token_cache_size": 0},
    {"issuer": "https://a", "service_url": "file:///etc"},
])
def test_settings_out_of_range_are_refused(kw: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        GuardSettings(**kw)  # type: ignore[arg-type]


def test_settings_and_principal_reprs_hold_no_secret() -> None:
    settings = GuardSettings(issuer="https://a/", client_id="rs", client_secret="s3cr3t-value",
                             redis_url="redis://:hunter2@localhost")
    assert settings.issuer == "https://a" and settings.audiences == ("https://a",)
    assert "s3cr3t-value" not in repr(settings) and "hunter2" not in repr(settings)
    principal = Principal.from_claims({"sub": "u", "scope": "a b a", "secret_claim": "zzz"}, "jwt")
    assert principal.scopes == ("a", "b") and "zzz" not in repr(principal)
    with pytest.raises(AttributeError):
        principal.subject = "other"  # type: ignore[misc]


def test_the_caches_hold_no_credential(service: LiveServer, api: ExampleApi) -> None:
    token = cc_token(service, ["Patient.read"])
    opaque = cc_token(service, ["Patient.read"], fmt="opaque")
    _, key = make_api_key(service, ["Patient.read"])
    with api.client() as http:
        for headers in (bearer(token), bearer(opaque), {"X-API-Key": key}):
            assert http.get("/fhir/Patient", headers=headers).status_code == 200
    guard = api.guard
    assert guard.introspection is not None
    stored = [*guard._tokens, *guard.introspection.cache]
    # (the API key's creation reaches the guard on the feed and may clear the introspection answers)
    assert len(guard._tokens) == 1 and len(stored) >= 2
    for digest in stored:
        assert isinstance(digest, bytes) and len(digest) == 16
        for secret in (token, opaque, key, key.split(":")[1]):
            assert secret.encode() not in digest
