"""The audit log's name dictionary (:class:`~tokensmith.storage.models.AuditName`): event types, tenant
ids and actors as small integer codes, so that a row and its indexes carry 4 bytes instead of up to 60.

Codes are assigned by the database (get-or-create in a short transaction of their own, before the
chain transaction, idempotent under concurrent writers: an insert that loses a race is ignored and the
winner's code read back). A code never changes, so every process caches what it has seen; the
verifier and the archiver load the whole dictionary once (it holds thousands of names, not millions).
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson
from sqlalchemy import ColumnElement, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tokensmith.storage.db import Database
from tokensmith.storage.models import AuditName

#: The high-volume types and their fixed codes (revision 0007 creates them first); the partial type
#: index covers every other code (``type_code > BULK_MAX``).
BULK_TYPES = {"exchange.issued": 1, "token.issued": 2}
BULK_MAX = 2
_CHUNK = 500


def rare_type_predicate() -> ColumnElement[bool]:
    """``type_code > 2`` as a literal: the partial index's own condition, which SQLite needs to see
    verbatim in a query before it uses the index."""
    return text(f"audit_events.type_code > {BULK_MAX}")  # type: ignore[return-value]


class NameDictionary:
    """Cached name <-> code mapping of one database."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._codes: dict[str, int] = {}
        self._names: dict[int, str] = {}

    def forget(self) -> None:
        """Drop the cache (after the dictionary table was rebuilt: a downgrade and upgrade)."""
        self._codes.clear()
        self._names.clear()

    def cached(self, name: str) -> int | None:
        return self._codes.get(name)

    async def codes(self, names: Iterable[str | None]) -> dict[str, int]:
        """Codes for ``names`` (created where missing); the returned mapping holds at least those."""
        missing = {n for n in names if n is not None and n not in self._codes}
        if missing:
            await self._create(sorted(missing))
        return self._codes

    async def code_of(self, name: str) -> int | None:
        """The code of ``name`` if the dictionary has it (never creates one: for filters and lookups)."""
        if name not in self._codes:
            await self._read(select(AuditName.id, AuditName.name).where(AuditName.name == name))
        return self._codes.get(name)

    async def names(self, codes: Iterable[int | None]) -> dict[int, str]:
        missing = {c for c in codes if c is not None and c not in self._names}
        if missing:
            listed = sorted(missing)
            for start in range(0, len(listed), _CHUNK):
                await self._read(select(AuditName.id, AuditName.name)
                                 .where(AuditName.id.in_(listed[start:start + _CHUNK])))
        return self._names

    async def load_all(self) -> dict[int, str]:
        """Every code -> name (the verifier's and the archiver's view)."""
        await self._read(select(AuditName.id, AuditName.name))
        return dict(self._names)

    async def _read(self, query: object) -> None:
        async with self._db.sessions() as session:
            rows = (await session.execute(query)).all()  # type: ignore[call-overload]
        for code, name in rows:
            self._codes[name], self._names[int(code)] = int(code), name

    async def _create(self, names: list[str]) -> None:
        insert = pg_insert if self._db.dialect == "postgresql" else sqlite_insert
        for start in range(0, len(names), _CHUNK):
            chunk = names[start:start + _CHUNK]
            async with self._db.write_session() as session:
                await session.execute(insert(AuditName).on_conflict_do_nothing(index_elements=["name"]),
                                      [{"name": n} for n in chunk])
            await self._read(select(AuditName.id, AuditName.name).where(AuditName.name.in_(chunk)))


def json_names(names: dict[int, str]) -> dict[int | None, bytes]:
    """code -> the name's canonical JSON (``None`` -> ``null``): what the verifier splices in."""
    out: dict[int | None, bytes] = {code: orjson.dumps(name) for code, name in names.items()}
    out[None] = b"null"
    return out


__all__ = ["BULK_MAX", "BULK_TYPES", "NameDictionary", "json_names", "rare_type_predicate"]
