"""Client authentication at the token, introspection and revocation endpoints (RFC 6749 §2.3.1):
``client_secret_basic`` (credentials form-urlencoded, then Base64), ``client_secret_post`` and ``none``
for public clients. A client uses exactly one method per request.

Failed attempts are throttled per client id and per client IP; a throttled caller gets 429 before the
secret is even compared.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote_plus

from tokensmith.errors import InvalidClient, InvalidRequest, RateLimited
from tokensmith.inputs import NUL_MESSAGE, has_nul
from tokensmith.oauth.request import OAuthRequest, check_identifier
from tokensmith.services.clients import ClientRecord


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """Credentials of an ``Authorization: Basic`` header, or None when the header is not Basic."""
    if not header:
        return None
    scheme, _, payload = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(payload.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidClient("malformed Basic credentials", basic=True) from exc
    user, sep, password = decoded.partition(":")
    if not sep:
        raise InvalidClient("malformed Basic credentials", basic=True)
    user, password = unquote_plus(user), unquote_plus(password)
    if has_nul(password):
        raise InvalidRequest("the Basic credentials " + NUL_MESSAGE)
    return check_identifier(user, "the Basic user name (client_id)"), password


async def authenticate_client(rt: Any, req: OAuthRequest, *, allow_public: bool = False) -> ClientRecord:
    basic = parse_basic(req.headers.get("authorization"))
    # RFC 6749 §3.1: "Parameters sent without a value MUST be treated as if they were omitted."
    form_id = req.get("client_id")
    form_secret = req.get("client_secret")
    if basic is not None and form_secret is not None:
        raise InvalidRequest("use exactly one client authentication method")
    if basic is not None:
        client_id, secret, method = basic[0], basic[1], "client_secret_basic"
        if form_id is not None and form_id != client_id:
            raise InvalidRequest("client_id does not match the authenticated client")
    elif form_secret is not None:
        if not form_id:
            raise InvalidClient("client_id is required")
        client_id, secret, method = form_id, form_secret, "client_secret_post"
    elif form_id and allow_public:
        client_id, secret, method = form_id, None, "none"
    else:
        raise InvalidClient("client authentication is required", basic=False)
    check_identifier(client_id, "client_id")
    used_basic = method == "client_secret_basic"

    limit = rt.settings.client_auth_failures_per_minute
    ip = req.client_ip or "-"
    retry = await rt.limiter.exceeded(limit, "client-auth-fail", client_id)
    if retry is None:
        retry = await rt.limiter.exceeded(limit * 5, "client-auth-fail-ip", ip)
    if retry is not None:
        rt.audit.record("client.auth_throttled", subject=client_id[:100], ip=req.client_ip,
                        request_id=req.request_id)
        raise RateLimited(retry, "too many failed client authentications; retry later", oauth=True)

    client = await rt.clients.get(client_id) if len(client_id) <= 100 else None
    reason = None
    if client is None:
        rt.master.verify_secret(secret or "", None)  # same work as for a known client
        reason = "unknown client"
    elif not client.active:
        reason = "client disabled"
    elif method == "none":
        if client.is_confidential:
            reason = "confidential client sent no secret"
    elif not client.is_confidential or client.secret_hash is None:
        reason = "public client sent a secret"
    elif not rt.master.verify_secret(secret or "", client.secret_hash) and not _previous_secret_ok(
        rt, client, secret or ""
    ):
        reason = "wrong secret"
    elif client.auth_method not in (method, "client_secret_basic", "client_secret_post"):
        reason = f"client may not use {method}"
    if reason is not None:
        await rt.limiter.hit(limit, "client-auth-fail", client_id, announce=True)
        await rt.limiter.hit(limit * 5, "client-auth-fail-ip", ip, announce=True)
        rt.audit.record("client.auth_failed", tenant_id=client.tenant_id if client else None,
                        subject=client_id[:100], ip=req.client_ip, request_id=req.request_id, reason=reason,
                        method=method)
        rt.metrics.auth_failures.labels("client").inc()
        raise InvalidClient(basic=used_basic, debug=reason)
    assert client is not None
    return client


def _previous_secret_ok(rt: Any, client: ClientRecord, secret: str) -> bool:
    if client.previous_secret_hash is None or client.previous_secret_expires_at is None:
        return False
    if client.previous_secret_expires_at <= rt.clock.now():
        return False
    return rt.master.verify_secret(secret, client.previous_secret_hash)
