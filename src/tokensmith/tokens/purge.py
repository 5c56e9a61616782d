"""Housekeeping for issued tokens: what the token endpoints leave behind once it can no longer matter.

* expired opaque access tokens (client credentials, user tokens' access tokens): introspection reports an
  expired token inactive whether its row exists or not;
* revocation-feed entries whose tokens have all expired (a revoked jti, session, cut-off with an end):
  nothing they could refuse is still valid;
* ``changed`` entries (cache invalidations): other processes read them within seconds of the change.

Everything is kept for ``older_than_days`` after it stopped mattering, for investigations. Sign-in
sessions and refresh tokens have their own purge (``tokensmith sessions purge``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import and_, delete, or_

from tokensmith.clock import utc
from tokensmith.storage.db import rowcount
from tokensmith.storage.models import Revocation, Token

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

_T = Token.__table__
_V = Revocation.__table__


async def purge_expired(rt: Runtime, *, older_than_days: int = 7) -> dict[str, int]:
    cutoff = utc(rt.clock.now()) - timedelta(days=older_than_days)
    async with rt.db.session() as session:
        tokens = rowcount(await session.execute(delete(_T).where(
            _T.c.kind == "access", _T.c.expires_at.is_not(None), _T.c.expires_at < cutoff)))
        entries = rowcount(await session.execute(delete(_V).where(or_(
            and_(_V.c.expires_at.is_not(None), _V.c.expires_at < cutoff),
            and_(_V.c.kind == "changed", _V.c.created_at < cutoff)))))
    rt.audit.record("tokens.purged", actor="system", access_tokens=tokens, revocation_entries=entries,
                    older_than_days=older_than_days)
    return {"accessTokens": tokens, "revocationEntries": entries}
