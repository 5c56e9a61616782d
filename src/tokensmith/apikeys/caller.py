""""An API key is the caller": the client-authentication method (in the registry of
:mod:`tokensmith.oauth.client_auth`) for a backend holding an API key, at the token endpoint (the RFC 8693
token exchange grant) and the introspection endpoint (a resource server holding a key).

The key comes in ``X-API-Key: <clientId>:<secret>`` (spec E). Where an API key is the only caller an
endpoint accepts (the token exchange grant), it may also come in the standard client-credential slots —
HTTP Basic or ``client_id``/``client_secret`` in the form — as RFC 8693 §2.1 asks for client
authentication "as described in Section 2.3 of RFC 6749".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tokensmith.apikeys.records import ApiKeyRecord
from tokensmith.apikeys.verifier import InvalidApiKey
from tokensmith.errors import InvalidClient, UnauthorizedClient
from tokensmith.oauth.client_auth import API_KEY, Presented, parse_basic
from tokensmith.oauth.request import OAuthRequest, check_identifier

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime


class ApiKeyAsCaller:
    name = "api_key"
    caller_kind = API_KEY
    public = False

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    def presented(self, req: OAuthRequest, *, exclusive: bool) -> Presented | None:
        header = req.headers.get("x-api-key")
        if header is not None:
            return Presented(self, "", check_identifier(header, "X-API-Key"))
        if not exclusive:
            return None
        basic = parse_basic(req.headers.get("authorization"))
        if basic is not None:
            return Presented(self, basic[0], f"{basic[0]}:{basic[1]}", basic=True)
        client_id, secret = req.get("client_id"), req.get("client_secret")
        if client_id and secret:
            return Presented(self, client_id, f"{client_id}:{secret}")
        return None

    async def authenticate(self, presented: Presented, req: OAuthRequest) -> ApiKeyRecord:
        """A usable key, not sent by a browser, within its rate limit (one use is counted here)."""
        keys = self._rt.apikeys
        try:
            record = await keys.authenticate(presented.secret, ip=req.client_ip, request_id=req.request_id)
        except InvalidApiKey as exc:
            raise InvalidClient("invalid API key", basic=presented.basic, debug=exc.reason) from None
        if keys.refuse_browser(record, req.headers, ip=req.client_ip, request_id=req.request_id,
                               endpoint=req.path or ""):
            raise UnauthorizedClient("API keys are for servers only: this request carries browser markers")
        await keys.consume(record, ip=req.client_ip, request_id=req.request_id, oauth=True)
        return record
