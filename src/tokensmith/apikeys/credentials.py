"""API key credentials (spec E): ``clientId`` is 32 random hex characters, ``secret`` 48, no prefixes; a
caller sends them as ``X-API-Key: <clientId>:<secret>``. Only the secret's keyed hash is stored."""

from __future__ import annotations

import re
import secrets

CLIENT_ID_BYTES = 16  # 32 hex characters
SECRET_BYTES = 24  # 48 hex characters: 192 bits, far beyond guessing, so a keyed hash (not argon2) suffices
_CREDENTIAL = re.compile(r"([0-9A-Fa-f]{32}):([0-9A-Fa-f]{48})")
_CLIENT_ID = re.compile(r"[0-9a-f]{32}")


def new_client_id() -> str:
    return secrets.token_hex(CLIENT_ID_BYTES)


def new_secret() -> str:
    return secrets.token_hex(SECRET_BYTES)


def parse_api_key(value: str | None) -> tuple[str, str] | None:
    """``(clientId, secret)`` of an ``X-API-Key`` value, or None when it is not shaped like one (such a
    value is refused without any lookup)."""
    if not value:
        return None
    value = value.strip()
    if len(value) != 81:
        return None
    match = _CREDENTIAL.fullmatch(value)
    if match is None:
        return None
    return match.group(1).lower(), match.group(2).lower()


def looks_like_client_id(value: str) -> bool:
    return bool(_CLIENT_ID.fullmatch(value))
