"""The providers as a ``requests`` auth (``pip install 'tokensmith[client-requests]'``): the same
credential and cache as the ``httpx.Auth``, the same single retry with a fresh token on a 401.

    session.auth = ClientCredentialsAuth(issuer=..., client_id=..., client_secret=...).for_requests()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import requests
import requests.auth

from tokensmith.client.tokens import AccessToken

if TYPE_CHECKING:
    from tokensmith.client.base import TokenAuth

_RETRIED = "_tokensmith_retried"
_TOKEN = "_tokensmith_token"


class RequestsAuth(requests.auth.AuthBase):
    def __init__(self, provider: TokenAuth) -> None:
        self.provider = provider

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        token = self.provider.get_token()
        self._authorise(request, token)
        request.register_hook("response", self._on_response)  # type: ignore[no-untyped-call]
        return request

    def _authorise(self, request: requests.PreparedRequest, token: AccessToken) -> None:
        request.headers["Authorization"] = f"Bearer {token.value.reveal()}"
        setattr(request, _TOKEN, token)  # which token this request carried, for the 401 retry

    def _on_response(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        sent = response.request
        token = getattr(sent, _TOKEN, None)
        if (response.status_code != 401 or not self.provider.options.retry_on_401
                or not isinstance(token, AccessToken)
                or getattr(sent, _RETRIED, False)):
            return response
        response.content  # noqa: B018 - read the body so that the connection can be reused
        response.close()
        retry = sent.copy()
        setattr(retry, _RETRIED, True)
        self._authorise(retry, self.provider.get_token(avoid=token))
        adapter = response.connection
        second: requests.Response = adapter.send(retry, **kwargs)
        second.history.append(response)
        second.request = retry
        return second

    def __repr__(self) -> str:
        return f"RequestsAuth({self.provider!r})"
