"""API keys (spec E): server-to-server credentials ``clientId:secret`` with scopes, optional expiry,
optional per-key rate limit, an active flag and a batched ``lastUsedAt``.

* :mod:`~tokensmith.apikeys.credentials` — generating and parsing ``clientId:secret``
* :mod:`~tokensmith.apikeys.records` — the immutable snapshot used on the hot path, and the JSON views
* :mod:`~tokensmith.apikeys.directory` — the cached lookup (memory, Redis, database)
* :mod:`~tokensmith.apikeys.verifier` — verifying a key on every use, rate limits, browser markers
* :mod:`~tokensmith.apikeys.usage` — batched ``lastUsedAt``
* :mod:`~tokensmith.apikeys.management` — create, list, update, revoke, rotate (API, CLI, console)
"""

from tokensmith.apikeys.credentials import new_client_id, new_secret, parse_api_key
from tokensmith.apikeys.records import ApiKeyRecord, created_view, view
from tokensmith.apikeys.verifier import (
    INVALID_API_KEY,
    ApiKeys,
    BrowserRefused,
    InvalidApiKey,
    has_browser_markers,
)

__all__ = [
    "INVALID_API_KEY",
    "ApiKeyRecord",
    "ApiKeys",
    "BrowserRefused",
    "InvalidApiKey",
    "created_view",
    "has_browser_markers",
    "new_client_id",
    "new_secret",
    "parse_api_key",
    "view",
]
