"""The session token exchange (spec §A): a backend holds an API key and gets, per user of its own system,
a short-lived signed token for that user (``POST /api/v1/token/``), e.g. to hand to a browser frontend.

One token is cached per :class:`ExchangeUser` (the whole value is the key: a changed name or organisation
is a new token with the new claims), in a bounded table shared by every ``for_user`` view of one provider.
"""

from __future__ import annotations

import copy
import json
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass
from datetime import datetime

import httpx

from tokensmith.client.base import TokenAuth
from tokensmith.client.errors import ProtocolError, error_for
from tokensmith.client.flows import TokenFlow, json_object
from tokensmith.client.options import Options
from tokensmith.client.sensitive import Secret, secret
from tokensmith.client.tokens import AccessToken, TokenCache

PROVIDER_TYPES = frozenset("""anesthesiologist cardiologist dermatologist dietitian emergency_doctor
endocrinologist gastroenterologist general_practitioner geriatrician gynecologist hematologist home_nurse
hospital_nurse infectiologist nephrologist neurologist nursing_home_nurse oncologist ophthalmologist
orthopedic otorhinolaryngologist pediatrician physiotherapist practice_nurse psychiatrist psychologist
pulmonologist radiologist rheumatologist surgeon speech_language_pathologist stomatologist urologist""".split())
MAX_USERS = 10_000


@dataclass(frozen=True)
class ExchangeUser:
    """The user context of an exchange, with the spec's field names. Checked here for what can be
    checked without the server (required fields present, a known provider type); the server checks the
    rest and answers :class:`~tokensmith.client.errors.ValidationFailed`."""

    user_id: str
    first_name: str
    last_name: str
    organisation: str
    healthcare_provider_identification_number: str | None = None
    email: str | None = None
    healthcare_provider_type: str | None = None

    def __post_init__(self) -> None:
        for name in ("user_id", "first_name", "last_name", "organisation"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise ValueError(f"{name} is required")
        if self.healthcare_provider_type is not None and self.healthcare_provider_type not in PROVIDER_TYPES:
            raise ValueError(f"unknown healthcare_provider_type {self.healthcare_provider_type!r}")

    def body(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _timestamp(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


class _UserTokens:
    """One :class:`TokenCache` per user, least recently used dropped beyond ``limit``."""

    def __init__(self, options: Options, limit: int) -> None:
        self._options = options
        self._limit = limit
        self._caches: OrderedDict[ExchangeUser, TokenCache] = OrderedDict()
        self._lock = threading.Lock()

    def of(self, user: ExchangeUser) -> TokenCache:
        with self._lock:
            cache = self._caches.get(user)
            if cache is None:
                cache = self._caches[user] = TokenCache(self._options.clock)
                while len(self._caches) > self._limit:
                    self._caches.popitem(last=False)
            else:
                self._caches.move_to_end(user)
            return cache

    def __len__(self) -> int:
        return len(self._caches)


class SessionExchangeAuth(TokenAuth):
    """``X-Api-Key`` → a session token for ``user``. As an ``httpx.Auth`` it needs ``user``; for many
    users keep one provider and use :meth:`for_user` (a view sharing the key, cache and connections) or
    :meth:`token_for` (the token string, for a frontend)."""

    PATH = "/api/v1/token/"

    def __init__(self, *, issuer: str, api_key: str | Secret, user: ExchangeUser | None = None,
                 max_users: int = MAX_USERS, options: Options | None = None) -> None:
        super().__init__(issuer, options)
        self._api_key = secret(api_key)
        if ":" not in self._api_key.reveal():
            raise ValueError("api_key must be clientId:secret")
        if max_users < 1:
            raise ValueError("max_users must be at least 1")
        self.user = user
        self._users = _UserTokens(self.options, max_users)

    def for_user(self, user: ExchangeUser) -> SessionExchangeAuth:
        view = copy.copy(self)
        view.user = user
        return view

    def token_for(self, user: ExchangeUser) -> str:
        return self.for_user(user).token()

    async def atoken_for(self, user: ExchangeUser) -> str:
        return await self.for_user(user).atoken()

    def _bound_user(self) -> ExchangeUser:
        if self.user is None:
            raise ValueError("this SessionExchangeAuth has no user: use for_user(user) or token_for(user)")
        return self.user

    def _cache(self) -> TokenCache:
        return self._users.of(self._bound_user())

    def _flow(self) -> TokenFlow:
        user = self._bound_user()
        headers = {"X-Api-Key": self._api_key.reveal(), "Content-Type": "application/json",
                   "Accept": "application/json"}
        now = self.options.clock()
        response = yield httpx.Request("POST", self.issuer + self.PATH, headers=headers,
                                       content=json.dumps(user.body()).encode())
        if response.status_code != 200:
            raise error_for(response, "exchange")
        body = json_object(response)
        value, expires_at = body.get("token"), _timestamp(body.get("expires_at"))
        if not isinstance(value, str) or not value or expires_at is None:
            raise ProtocolError("the exchange response has no token or expires_at", status=200)
        return AccessToken.issued(value, now=now, lifetime=expires_at - now, options=self.options,
                                  extra={"expires_at": body["expires_at"]})

    def __repr__(self) -> str:
        who = self.user.user_id if self.user is not None else None
        return f"SessionExchangeAuth(issuer={self.issuer!r}, user_id={who!r})"
