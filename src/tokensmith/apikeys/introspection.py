"""RFC 7662 introspection of API keys: ``token=<clientId>:<secret>&token_type_hint=api_key`` (also tried
for any token shaped like ``clientId:secret``). Registered in the authorization server's introspection
registry (:mod:`tokensmith.authorization`), so the guard can reuse it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tokensmith.apikeys.credentials import parse_api_key
from tokensmith.oauth.client_auth import Caller
from tokensmith.oauth.introspection import INACTIVE

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime


class ApiKeyIntrospector:
    hint = "api_key"

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    async def introspect(self, token: str, caller: Caller) -> dict[str, Any] | None:
        """An active answer counts as one use of the key (rate limit, ``lastUsedAt``): a resource server
        introspects a key when it is presented to it. Over the limit the key is still active, with
        ``rate_limited: true`` and ``retry_after`` (the resource server answers 429)."""
        if parse_api_key(token) is None:
            return None
        keys = self._rt.apikeys
        record, reason = await keys.check(token)
        if record is None or reason != "ok":
            if record is not None:
                keys.audit_refusal(record, reason, None, None)
            return INACTIVE
        if caller.tenant_id != record.tenant_id:
            return INACTIVE
        body: dict[str, Any] = {
            "active": True,
            "token_type": "api_key",
            "client_id": record.client_id,
            "sub": record.client_id,
            "api_key_id": record.id,
            "tenant": record.tenant_id,
            "iat": int(record.created_at),
        }
        if record.scopes:
            body["scope"] = " ".join(record.scopes)
        if record.expires_at is not None:
            body["exp"] = int(record.expires_at)
        keys.usage.touch(record.id, self._rt.clock.now())
        if record.effective_rate_limit is not None:
            body["rate_limit"] = record.effective_rate_limit
            retry = await keys.over_limit(record)
            if retry is not None:
                body["rate_limited"] = True
                body["retry_after"] = retry
        return body
