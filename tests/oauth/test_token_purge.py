"""``tokensmith tokens purge``: expired opaque access tokens and revocation entries that can no longer
refuse anything are deleted once they are older than the margin; nothing still valid is touched."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from tests.oauth.helpers import get_token, introspect, revoke
from tests.support import LiveServer
from tokensmith.clock import ManualClock
from tokensmith.storage.models import Revocation, Token
from tokensmith.tokens.purge import purge_expired

DAY = 86400


async def _counts(rt: Any) -> tuple[int, int]:
    async with rt.db.session() as session:
        access = (await session.execute(select(func.count()).select_from(Token).where(Token.kind == "access"))
                  ).scalar_one()
        entries = (await session.execute(select(func.count()).select_from(Revocation)
                                         .where(Revocation.kind == "jti"))).scalar_one()
        return access, entries


def test_expired_tokens_and_spent_revocations_are_purged(clocked_server: LiveServer, clock: ManualClock) -> None:
    live = clocked_server
    opaque, opaque_secret = live.create_client(access_token_format="opaque", access_token_ttl=300)
    jwt_client, jwt_secret = live.create_client(access_token_format="jwt", access_token_ttl=300)
    with live.client() as http:
        old_opaque = get_token(http, opaque.client_id, opaque_secret or "")["access_token"]
        old_jwt = get_token(http, jwt_client.client_id, jwt_secret or "")["access_token"]
        assert revoke(http, old_jwt, jwt_client.client_id, jwt_secret or "").status_code == 200
        clock.advance(300 + 8 * DAY)  # both expired more than seven days ago
        fresh_opaque = get_token(http, opaque.client_id, opaque_secret or "")["access_token"]
        fresh_jwt = get_token(http, jwt_client.client_id, jwt_secret or "")["access_token"]
        assert revoke(http, fresh_jwt, jwt_client.client_id, jwt_secret or "").status_code == 200
        assert live.call(_counts) == (2, 2)

        result = live.call(lambda rt: purge_expired(rt, older_than_days=7))

        assert result["accessTokens"] == 1
        # the old JWT's deny-list entry (plus the clients' week-old cache-invalidation entries)
        assert result["revocationEntries"] >= 1
        assert live.call(_counts) == (1, 1)
        # the fresh opaque token still works; the fresh revoked JWT is still refused
        assert introspect(http, fresh_opaque, opaque.client_id, opaque_secret or "")["active"] is True
        assert introspect(http, fresh_jwt, jwt_client.client_id, jwt_secret or "") == {"active": False}
        assert introspect(http, old_opaque, opaque.client_id, opaque_secret or "") == {"active": False}


def test_nothing_within_the_margin_is_purged(clocked_server: LiveServer, clock: ManualClock) -> None:
    live = clocked_server
    opaque, opaque_secret = live.create_client(access_token_format="opaque", access_token_ttl=300)
    with live.client() as http:
        get_token(http, opaque.client_id, opaque_secret or "")
    clock.advance(300 + 6 * DAY)  # expired, but only six days ago
    assert live.call(lambda rt: purge_expired(rt, older_than_days=7)) == {"accessTokens": 0,
                                                                          "revocationEntries": 0}
    assert live.call(_counts)[0] == 1
