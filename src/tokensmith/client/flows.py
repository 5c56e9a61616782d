"""Token requests written once for sync and async: a provider describes how it gets a token as a
generator that yields the HTTP requests to send and receives their responses (the shape of
``httpx.Auth`` flows), and returns the :class:`~tokensmith.client.tokens.AccessToken`. The two drivers
below send those requests — one with ``httpx.Client``, one with ``httpx.AsyncClient`` — and handle what
every token endpoint has in common: a 429 is waited out (its ``retry_after`` / ``Retry-After``, within
:attr:`Options.max_rate_limit_wait`) and the whole flow restarts, so that a signed client assertion is
made anew (its ``jti`` must not repeat)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Generator

import httpx

from tokensmith.client.errors import RateLimited, error_for, retry_after
from tokensmith.client.options import Options
from tokensmith.client.tokens import AccessToken

log = logging.getLogger("tokensmith.client")

TokenFlow = Generator[httpx.Request, httpx.Response, AccessToken]


def _wait_for(response: httpx.Response, attempt: int, options: Options) -> float:
    """Seconds to wait before retrying after a 429, or raise :class:`RateLimited` when the retries are
    spent or the server asks for longer than allowed."""
    wait = retry_after(response)
    error = error_for(response, "api")
    assert isinstance(error, RateLimited)
    if attempt >= options.rate_limit_retries:
        raise error
    seconds = 1.0 if wait is None else wait
    if seconds > options.max_rate_limit_wait:
        raise error
    log.info("token endpoint rate limited; retrying in %.1f s", seconds)
    return seconds


#: a kept-alive connection closed by the server as the request went out, a refused connection: worth
#: one more try (a token request may be repeated: at worst one token more is issued)
RETRYABLE = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError, httpx.ConnectError)


def run(make_flow: Callable[[], TokenFlow], send: Callable[[httpx.Request], httpx.Response],
        options: Options) -> AccessToken:
    attempt, glitches = 0, 0
    while True:
        flow = make_flow()
        response: httpx.Response | None = None
        try:
            request = next(flow)
            while True:
                try:
                    response = send(request)
                except RETRYABLE:
                    response = None
                    if glitches >= options.transport_retries:
                        raise
                    glitches += 1
                    log.info("token request failed on the network; retrying once")
                    break
                if response.status_code == 429:
                    break
                request = flow.send(response)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        finally:
            flow.close()
        if response is None:
            continue  # a network glitch: try again at once
        options.sleep(_wait_for(response, attempt, options))
        attempt += 1


async def arun(make_flow: Callable[[], TokenFlow], send: Callable[[httpx.Request], Awaitable[httpx.Response]],
               options: Options) -> AccessToken:
    attempt, glitches = 0, 0
    while True:
        flow = make_flow()
        response: httpx.Response | None = None
        try:
            request = next(flow)
            while True:
                try:
                    response = await send(request)
                except RETRYABLE:
                    response = None
                    if glitches >= options.transport_retries:
                        raise
                    glitches += 1
                    log.info("token request failed on the network; retrying once")
                    break
                if response.status_code == 429:
                    break
                request = flow.send(response)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        finally:
            flow.close()
        if response is None:
            continue
        await options.async_sleep(_wait_for(response, attempt, options))
        attempt += 1


def json_object(response: httpx.Response) -> dict[str, object]:
    """The body of a successful token response, which must be a JSON object."""
    from tokensmith.client.errors import ProtocolError

    try:
        body = response.json()
    except ValueError:
        raise ProtocolError(f"{response.status_code} response is not JSON", status=response.status_code) from None
    if not isinstance(body, dict):
        raise ProtocolError("the response is not a JSON object", status=response.status_code)
    return body


def discover_token_endpoint(issuer: str) -> Generator[httpx.Request, httpx.Response, str]:
    """RFC 8414 §3: the ``token_endpoint`` of ``issuer``'s metadata."""
    from tokensmith.client.errors import ProtocolError

    response = yield httpx.Request("GET", f"{issuer}/.well-known/oauth-authorization-server",
                                   headers={"Accept": "application/json"})
    if response.status_code != 200:
        raise error_for(response, "api")
    endpoint = json_object(response).get("token_endpoint")
    if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
        raise ProtocolError("the issuer's metadata has no token_endpoint")
    return endpoint
