"""RFC 7009 — Token Revocation. Only the client a token was issued to may revoke it; invalid or
foreign tokens get the same 200 as revoked ones (§2.2), so the endpoint reveals nothing.

Revokers are registered per credential kind; each answers True when the token was of its kind (revoked,
or refused because it belongs to another client) and False to let the next one try."""

from __future__ import annotations

from typing import Protocol

from tokensmith.clients import ClientRecord
from tokensmith.oauth.request import OAuthRequest


class Revoker(Protocol):
    #: the ``token_type_hint`` it handles (RFC 7009 §2.1)
    hint: str

    async def revoke(self, token: str, client: ClientRecord, req: OAuthRequest) -> bool: ...


class RevocationRegistry:
    def __init__(self) -> None:
        self.by_hint: dict[str, Revoker] = {}

    def register(self, revoker: Revoker) -> None:
        self.by_hint[revoker.hint] = revoker

    @property
    def hints(self) -> list[str]:
        return list(self.by_hint)

    async def revoke(self, token: str, hint: str | None, client: ClientRecord, req: OAuthRequest) -> None:
        # §2.1: a wrong or unknown hint only changes the order of the search.
        first = self.by_hint.get(hint) if hint else None
        if first is not None and await first.revoke(token, client, req):
            return
        for revoker in self.by_hint.values():
            if revoker is not first and await revoker.revoke(token, client, req):
                return
