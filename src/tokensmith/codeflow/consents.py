"""Consents remembered per user and client: the scopes a user allowed an app. A request within them skips
the consent page (unless ``prompt=consent``); the user lists and revokes them through
``/users/me/consents``. Revoking a consent also ends the app's sessions for that user, so its refresh
tokens stop working."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from tokensmith.clock import iso_z, utc
from tokensmith.ids import new_id
from tokensmith.people.sessions import revoke_session
from tokensmith.storage.db import rowcount
from tokensmith.storage.models import Consent, Session

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

_C = Consent.__table__
_S = Session.__table__


@dataclass(frozen=True)
class ConsentRecord:
    client_id: str
    scopes: tuple[str, ...]
    created_at: datetime
    updated_at: datetime

    def view(self) -> dict[str, object]:
        return {"clientId": self.client_id, "scopes": list(self.scopes), "createdAt": iso_z(self.created_at),
                "updatedAt": iso_z(self.updated_at)}


async def granted_scopes(rt: Runtime, user_id: str, client_id: str) -> frozenset[str]:
    async with rt.db.session() as session:
        scopes = (await session.execute(select(_C.c.scopes).where(
            _C.c.user_id == user_id, _C.c.client_id == client_id))).scalar()
    return frozenset(scopes or ())


async def remember(rt: Runtime, *, tenant_id: str, user_id: str, client_id: str, scopes: tuple[str, ...]) -> None:
    """Add ``scopes`` to the user's consent for the client (one row per user and client).

    Two first consents can be answered at once (two tabs, a double submit), so the row is never created
    by a plain INSERT after a read that found nothing: the INSERT gives way to a row another transaction
    wrote (waiting for it on PostgreSQL; on SQLite, as the first write, it takes the write lock before the
    read), and the merge then runs on the locked row."""
    now = utc(rt.clock.now())
    insert = postgresql.insert if rt.db.dialect == "postgresql" else sqlite.insert
    async with rt.db.session() as session:
        created = rowcount(await session.execute(insert(_C).values(
            id=new_id(), tenant_id=tenant_id, user_id=user_id, client_id=client_id, scopes=list(scopes),
            created_at=now, updated_at=now).on_conflict_do_nothing(index_elements=[_C.c.user_id, _C.c.client_id])))
        if not created:
            row = (await session.execute(select(_C.c.id, _C.c.scopes).where(
                _C.c.user_id == user_id, _C.c.client_id == client_id).with_for_update())).one()
            merged = list(dict.fromkeys([*row.scopes, *scopes]))
            if merged != list(row.scopes):
                await session.execute(update(_C).where(_C.c.id == row.id).values(scopes=merged, updated_at=now))
    rt.audit.record("consent.granted", tenant_id=tenant_id, actor=f"user:{user_id}", subject=client_id,
                    scope=list(scopes))


async def list_consents(rt: Runtime, user_id: str) -> list[ConsentRecord]:
    async with rt.db.session() as session:
        found = (await session.execute(select(_C).where(_C.c.user_id == user_id)
                                       .order_by(_C.c.created_at))).all()
    return [ConsentRecord(r.client_id, tuple(r.scopes or ()), r.created_at, r.updated_at) for r in found]


async def revoke(rt: Runtime, *, tenant_id: str, user_id: str, client_id: str) -> bool:
    """Forget the consent and end the app's code-flow sessions of this user; False when there was none."""
    async with rt.db.session() as session:
        gone = rowcount(await session.execute(delete(_C).where(_C.c.user_id == user_id,
                                                               _C.c.client_id == client_id)))
        sessions = list((await session.execute(select(_S.c.id).where(
            _S.c.user_id == user_id, _S.c.client_id == client_id, _S.c.kind == "oauth",
            _S.c.revoked_at.is_(None)))).scalars())
    for sid in sessions:
        await revoke_session(rt, sid, reason="consent revoked", actor=f"user:{user_id}")
    if gone:
        rt.audit.record("consent.revoked", tenant_id=tenant_id, actor=f"user:{user_id}", subject=client_id,
                        sessions=len(sessions))
    return bool(gone)
