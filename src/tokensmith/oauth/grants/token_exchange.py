"""RFC 8693 — OAuth 2.0 Token Exchange, as the standard form of the session token exchange (spec A, G).

A backend holding an API key exchanges "a user of my system" for a session token:

    POST /oauth/token
    X-API-Key: <clientId>:<secret>              (or HTTP Basic / client_secret_post with clientId and secret)
    grant_type=urn:ietf:params:oauth:grant-type:token-exchange
    &subject_token=<user_id>
    &subject_token_type=urn:tokensmith:params:oauth:token-type:user-id
    &first_name=...&last_name=...&organisation=...      (required, as for POST /api/v1/token/)
    &email=...&healthcare_provider_identification_number=...&healthcare_provider_type=...   (optional)
    &scope=...                                  (optional: a subset of the key's scopes, put in the token)
    &requested_token_type=urn:ietf:params:oauth:token-type:access_token   (optional; or ...:jwt)

§2.2.1 response: ``{"access_token", "issued_token_type", "token_type": "Bearer", "expires_in"[, "scope"]}``.
The token is the same JWT as ``POST /api/v1/token/`` issues. Errors are RFC 6749 §5.2 ones: a bad key is
``invalid_client`` (401); per §2.2.2 a subject the server will not accept (blocked user, organisation not
allowed for the key, invalid user fields) is ``invalid_request``; a spent rate limit is 429 ``slow_down``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tokensmith.apikeys.records import ApiKeyRecord
from tokensmith.errors import InvalidRequest, InvalidScope, ValidationFailed
from tokensmith.exchange.request import SessionTokenRequest, validate_fields
from tokensmith.exchange.service import UserNotAllowed
from tokensmith.inputs import has_control
from tokensmith.oauth.client_auth import API_KEY, CallerPolicy
from tokensmith.oauth.grants.base import token_response
from tokensmith.oauth.request import OAuthRequest
from tokensmith.permissions import without_management
from tokensmith.scopes import ScopeLanguages, parse_scope

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
USER_ID_TOKEN_TYPE = "urn:tokensmith:params:oauth:token-type:user-id"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
USER_FIELDS = ("first_name", "last_name", "organisation", "email", "healthcare_provider_identification_number",
               "healthcare_provider_type")


@dataclass(frozen=True)
class _Validated:
    key: ApiKeyRecord
    user: SessionTokenRequest
    scopes: list[str]
    issued_token_type: str


def check_subject(req: OAuthRequest) -> SessionTokenRequest:
    """§2.1: ``subject_token`` and ``subject_token_type`` are required; the user's fields come along."""
    subject, subject_type = req.get("subject_token"), req.get("subject_token_type")
    if subject is None or subject_type is None:
        raise InvalidRequest("subject_token and subject_token_type are required")
    if subject_type != USER_ID_TOKEN_TYPE:
        raise InvalidRequest(f"subject_token_type must be {USER_ID_TOKEN_TYPE}")
    if req.get("actor_token") is not None or req.get("actor_token_type") is not None:
        raise InvalidRequest("actor tokens (delegation) are not supported")
    fields: dict[str, Any] = {"user_id": subject}
    for name in USER_FIELDS:
        if name in req.form:
            fields[name] = req.form[name]
    try:
        return validate_fields(fields)
    except ValidationFailed as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'request'}: {e['msg']}" for e in exc.errors)
        raise InvalidRequest(f"invalid user: {problems}"[:500]) from None


def check_requested_token_type(req: OAuthRequest) -> str:
    requested = req.get("requested_token_type") or ACCESS_TOKEN_TYPE
    if requested not in (ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE):
        raise InvalidRequest(f"requested_token_type must be {ACCESS_TOKEN_TYPE} or {JWT_TOKEN_TYPE}")
    return requested


def check_scope_within_key(key: ApiKeyRecord, req: OAuthRequest, languages: ScopeLanguages) -> list[str]:
    try:
        requested = parse_scope(req.form.get("scope"))
    except ValueError as exc:
        raise InvalidScope(str(exc)) from exc
    beyond = languages.not_covered(key.scopes, requested)
    if beyond:
        raise InvalidScope(f"scope beyond the API key's scopes: {' '.join(beyond)[:200]}")
    return requested


class TokenExchangeGrant:
    grant_type = GRANT_TYPE
    #: the caller is an API key (:mod:`tokensmith.apikeys.caller`: ``X-API-Key``, HTTP Basic or the form)
    callers = CallerPolicy(frozenset({API_KEY}))
    response_types: tuple[str, ...] = ()

    def __init__(self, scopes: ScopeLanguages) -> None:
        self._scopes = scopes

    async def validate(self, rt: Runtime, req: OAuthRequest, caller: ApiKeyRecord) -> _Validated:
        exchange = rt.exchange
        key = caller
        issued_token_type = check_requested_token_type(req)
        try:
            user = check_subject(req)
        except InvalidRequest:
            subject = (req.get("subject_token") or "")[:200]
            # A subject refused for its control characters is not written to the audit log either.
            exchange.refused(key, "invalid request", user_id=subject if subject and not has_control(subject) else None,
                             ip=req.client_ip, request_id=req.request_id, via="rfc8693")
            raise
        # RFC 6749 §3.3: the granted scope may be narrower; a session token never manages (docs/security.md)
        scopes = without_management(check_scope_within_key(key, req, self._scopes))
        return _Validated(key=key, user=user, scopes=scopes, issued_token_type=issued_token_type)

    async def create_response(self, rt: Runtime, req: OAuthRequest, caller: ApiKeyRecord,
                              validated: _Validated) -> dict[str, Any]:
        exchange = rt.exchange
        try:
            token = await exchange.issue(validated.key, validated.user, scopes=validated.scopes, ip=req.client_ip,
                                         request_id=req.request_id, via="rfc8693")
        except UserNotAllowed as exc:
            raise InvalidRequest(exc.description, debug=exc.reason) from None
        return token_response(token, validated.scopes, issued_token_type=validated.issued_token_type)
