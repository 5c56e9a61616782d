"""The session token exchange (spec A; RFC 8693 is its standard form): a backend holding an API key gets a
short-lived signed token for one of its users.

* :mod:`~tokensmith.exchange.request` — the request body and its validation (the 400 list)
* :mod:`~tokensmith.exchange.service` — issuing the token (claims, checks, audit)
* :mod:`~tokensmith.exchange.users` — users seen per tenant: batched recording, listing, blocking
"""

from tokensmith.exchange.request import PROVIDER_TYPES, SessionTokenRequest, parse_session_request
from tokensmith.exchange.service import INVALID_USER, SessionExchange, UserNotAllowed
from tokensmith.exchange.users import ExchangeUsers

__all__ = [
    "INVALID_USER",
    "PROVIDER_TYPES",
    "ExchangeUsers",
    "SessionExchange",
    "SessionTokenRequest",
    "UserNotAllowed",
    "parse_session_request",
]
