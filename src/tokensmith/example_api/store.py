"""The example API's data: FHIR-style ``Patient`` and ``Observation`` resources in a SQLite file of its
own (it is a resource server, not part of the token service), each stored as its JSON document."""

from __future__ import annotations

import json
import uuid
from typing import Any

import aiosqlite

_SCHEMA = """
CREATE TABLE IF NOT EXISTS patients (id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS observations (id TEXT PRIMARY KEY, patient_id TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ix_observations_patient ON observations (patient_id);
"""

Resource = dict[str, Any]


class FhirStore:
    def __init__(self, path: str) -> None:
        self._path = path
        self._db: aiosqlite.Connection | None = None

    async def open(self) -> None:
        self._db = await aiosqlite.connect(self._path)
        await self._db.executescript(_SCHEMA)
        await self._db.commit()

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("the store is not open")
        return self._db

    async def add_patient(self, body: Resource) -> Resource:
        resource = {**body, "resourceType": "Patient", "id": uuid.uuid4().hex}
        await self.db.execute("INSERT INTO patients (id, body) VALUES (?, ?)", (resource["id"], json.dumps(resource)))
        await self.db.commit()
        return resource

    async def patient(self, patient_id: str) -> Resource | None:
        async with self.db.execute("SELECT body FROM patients WHERE id = ?", (patient_id,)) as cursor:
            row = await cursor.fetchone()
        return json.loads(row[0]) if row else None

    async def patients(self, only: str | None = None, limit: int = 100) -> list[Resource]:
        args: tuple[object, ...]
        query, args = "SELECT body FROM patients ORDER BY id LIMIT ?", (limit,)
        if only is not None:
            query, args = "SELECT body FROM patients WHERE id = ? LIMIT ?", (only, limit)
        async with self.db.execute(query, args) as cursor:
            return [json.loads(row[0]) for row in await cursor.fetchall()]

    async def add_observation(self, body: Resource, patient_id: str) -> Resource:
        resource = {**body, "resourceType": "Observation", "id": uuid.uuid4().hex}
        await self.db.execute("INSERT INTO observations (id, patient_id, body) VALUES (?, ?, ?)",
                              (resource["id"], patient_id, json.dumps(resource)))
        await self.db.commit()
        return resource

    async def observations(self, patient_id: str | None, limit: int = 100) -> list[Resource]:
        args: tuple[object, ...]
        query, args = "SELECT body FROM observations ORDER BY id LIMIT ?", (limit,)
        if patient_id is not None:
            query, args = "SELECT body FROM observations WHERE patient_id = ? ORDER BY id LIMIT ?", (patient_id, limit)
        async with self.db.execute(query, args) as cursor:
            return [json.loads(row[0]) for row in await cursor.fetchall()]
