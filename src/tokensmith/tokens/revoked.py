"""The revocation checks every format shares: the in-memory view of the revocation feed (jti deny list,
session, client/user/API key/tenant cut-off from the jti's UUIDv7 timestamp)."""

from __future__ import annotations

from typing import Any

from tokensmith.ids import uuid7_ms


def revoked_reason(feed: Any, claims: dict[str, Any], tenants: Any) -> str | None:
    jti = claims.get("jti")
    if feed.is_jti_revoked(jti):
        return "jti revoked"
    if feed.is_sid_revoked(claims.get("sid")):
        return "session revoked"
    if tenants.is_disabled(claims.get("tenant")):
        return "tenant disabled"
    issued_ms = uuid7_ms(jti) if isinstance(jti, str) else None
    if issued_ms is None:
        iat = claims.get("iat")
        issued_ms = int(iat * 1000) if isinstance(iat, int | float) else None
    for kind, claim in (("client", "client_id"), ("user", "uid"), ("apikey", "api_key_id"),
                        ("tenant", "tenant")):
        if feed.issued_before_cutoff(kind, claims.get(claim), issued_ms):
            return f"{kind} cut off"
    return None
