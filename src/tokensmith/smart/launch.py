"""EHR launch (SMART App Launch 2.2 §2.0.1 "EHR Launch"): ``POST /smart/launch`` mints an opaque
``launch`` value binding a patient of the directory (and optionally an encounter and one app); the app
passes it to the authorization endpoint, which calls :func:`consume_launch` once. The value is random and
URL-safe, stored only as a keyed hash, single-use and short-lived (``smart_launch_ttl``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import or_, select, update

from tokensmith.clients import ClientRecord
from tokensmith.errors import InvalidRequest, ValidationFailed
from tokensmith.ids import new_id, random_token
from tokensmith.smart.directory import FHIR_ID, get_person
from tokensmith.storage.db import rowcount
from tokensmith.storage.models import SmartLaunch

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

_L = SmartLaunch.__table__


@dataclass(frozen=True, slots=True)
class LaunchContext:
    """What a consumed launch value stands for (becomes the token response's ``patient``/``encounter``)."""

    tenant_id: str
    patient: str
    encounter: str | None
    client_id: str | None


@dataclass(frozen=True, slots=True)
class MintedLaunch:
    value: str
    expires_in: int

    def view(self) -> dict[str, object]:
        return {"launch": self.value, "expiresIn": self.expires_in}


async def create_launch(rt: Runtime, *, tenant_id: str, patient: str, encounter: str | None = None,
                        client_id: str | None = None, actor: str | None = None) -> MintedLaunch:
    await get_person(rt, "Patient", tenant_id, patient)  # 404 unless the patient is in the directory
    if encounter is not None and not FHIR_ID.match(encounter):
        raise ValidationFailed([{"loc": ["encounter"], "msg": "a FHIR id is 1 to 64 of A-Z a-z 0-9 - .",
                                 "type": "value_error"}])
    if client_id is not None:
        app: ClientRecord | None = await rt.clients.get(client_id) if len(client_id) <= 100 else None
        if app is None or app.tenant_id != tenant_id or app.kind != "smart":
            raise ValidationFailed([{"loc": ["clientId"], "msg": "no SMART app with this clientId",
                                     "type": "value_error"}])
    ttl = rt.settings.smart_launch_ttl
    value = random_token(32)
    now = datetime.fromtimestamp(rt.clock.now(), UTC)
    async with rt.db.session() as session:
        session.add(SmartLaunch(id=new_id(), value_hash=rt.master.secret_hash(value), tenant_id=tenant_id,
                                patient_id=patient, encounter_id=encounter, client_id=client_id,
                                created_by=actor, created_at=now, expires_at=now + timedelta(seconds=ttl)))
    rt.audit.record("smart.launch_created", tenant_id=tenant_id, actor=actor, subject=f"Patient/{patient}",
                    client=client_id, encounter=encounter)
    return MintedLaunch(value, ttl)


async def consume_launch(rt: Runtime, value: str, client_id: str) -> LaunchContext:
    """The context of a launch value, used up by this call. Unknown, used, expired and other apps'
    values all raise the same :class:`InvalidRequest` (the authorize page shows it, never redirects)."""
    refused = InvalidRequest("the launch value is unknown, used, expired or meant for another app")
    app = await rt.clients.get(client_id) if value and len(value) <= 200 and len(client_id) <= 100 else None
    if app is None:
        raise refused
    digest = rt.master.secret_hash(value)
    now = datetime.fromtimestamp(rt.clock.now(), UTC)
    async with rt.db.session() as session:
        # One statement: of two concurrent uses (on any instance) exactly one updates the row.
        result = await session.execute(
            update(_L).where(_L.c.value_hash == digest, _L.c.tenant_id == app.tenant_id, _L.c.used_at.is_(None),
                             _L.c.expires_at > now,
                             or_(_L.c.client_id.is_(None), _L.c.client_id == client_id)).values(used_at=now))
        if rowcount(result) != 1:
            raise refused
        row = (await session.execute(select(SmartLaunch).where(SmartLaunch.value_hash == digest))).scalar_one()
        context = LaunchContext(row.tenant_id, row.patient_id, row.encounter_id, row.client_id or client_id)
    rt.audit.record("smart.launch_used", tenant_id=context.tenant_id, actor=client_id,
                    subject=f"Patient/{context.patient}")
    return context
