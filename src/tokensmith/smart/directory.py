"""The small patient and practitioner directory of the SMART launch context (spec F): per tenant, a FHIR
``id`` (``[A-Za-z0-9\\-.]{1,64}``, FHIR R4 §2.1.0 "id"), a ``HumanName`` (given names and a family name)
and a birth date. It is what a ``launch`` binds, what the patient picker searches, and what a user's
``fhirUser`` (``Practitioner/<id>`` or ``Patient/<id>``) must name."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tokensmith.clock import iso_z
from tokensmith.errors import Conflict, NotFound, ValidationFailed
from tokensmith.ids import new_id
from tokensmith.inputs import has_control
from tokensmith.storage.models import SmartPatient, SmartPractitioner, User

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
FHIR_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
MODELS: dict[str, type[SmartPatient] | type[SmartPractitioner]] = {
    "Patient": SmartPatient, "Practitioner": SmartPractitioner}
MAX_GIVEN = 10
MAX_PAGE = 200


def _problem(loc: list[str | int], msg: str) -> ValidationFailed:
    return ValidationFailed([{"loc": loc, "msg": msg, "type": "value_error"}])


@dataclass(frozen=True)
class Person:
    """A patient or practitioner of the directory, without the ORM."""

    resource_type: str
    id: str
    given: tuple[str, ...]
    family: str | None
    birth_date: str | None
    created_at: datetime | None = field(default=None, compare=False)
    updated_at: datetime | None = field(default=None, compare=False)

    @property
    def reference(self) -> str:
        return f"{self.resource_type}/{self.id}"

    @property
    def display(self) -> str:
        return " ".join([*self.given, self.family or ""]).strip()

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "resourceType": self.resource_type,
                "name": {"given": list(self.given), "family": self.family}, "birthDate": self.birth_date,
                "createdAt": iso_z(self.created_at), "updatedAt": iso_z(self.updated_at)}


def _person(kind: str, row: SmartPatient | SmartPractitioner) -> Person:
    return Person(kind, row.id, tuple(row.given or ()), row.family, row.birth_date, row.created_at, row.updated_at)


def check_id(value: str) -> str:
    if not FHIR_ID.match(value):
        raise _problem(["id"], "a FHIR id is 1 to 64 of A-Z a-z 0-9 - .")
    return value


def check_birth_date(value: str | None) -> str | None:
    """A FHIR ``date``: ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``, a real date, not in the future."""
    if value is None:
        return None
    if not FHIR_DATE.match(value):
        raise _problem(["birthDate"], "birthDate must be YYYY, YYYY-MM or YYYY-MM-DD")
    parts = [int(p) for p in value.split("-")]
    try:
        day = date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
    except ValueError:
        raise _problem(["birthDate"], "birthDate is not a calendar date") from None
    if day > date.today() or parts[0] < 1800:
        raise _problem(["birthDate"], "birthDate must be between 1800 and today")
    return value


def check_name(given: list[str], family: str | None) -> tuple[list[str], str | None]:
    given = [g.strip() for g in given if g.strip()]
    family = family.strip() if family and family.strip() else None
    if len(given) > MAX_GIVEN or any(len(g) > 100 for g in given) or (family and len(family) > 200):
        raise _problem(["name"], f"at most {MAX_GIVEN} given names of 100 characters and a family name of 200")
    if any(has_control(g) for g in given) or (family and has_control(family)):
        raise _problem(["name"], "names must not contain control characters")
    if not given and not family:
        raise _problem(["name"], "a name needs a given or a family name")
    return given, family


def _search_text(given: list[str], family: str | None) -> str:
    return " ".join([*given, family or ""]).strip().lower()[:1200]


def _model(kind: str) -> type[SmartPatient] | type[SmartPractitioner]:
    return MODELS[kind]


async def create_person(rt: Runtime, kind: str, *, tenant_id: str, given: list[str], family: str | None,
                        birth_date: str | None = None, person_id: str | None = None,
                        actor: str | None = None) -> Person:
    given, family = check_name(given, family)
    birth_date = check_birth_date(birth_date)
    pid = check_id(person_id) if person_id is not None else new_id()
    model = _model(kind)
    async with rt.db.session() as session:
        if await session.get(model, (tenant_id, pid)) is not None:
            raise Conflict(f"{kind}/{pid} exists")
        row = model(tenant_id=tenant_id, id=pid, given=given, family=family, birth_date=birth_date,
                    search_text=_search_text(given, family))
        session.add(row)
        await session.flush()
        person = _person(kind, row)
    rt.audit.record(f"smart.{kind.lower()}_created", tenant_id=tenant_id, actor=actor, subject=person.reference)
    return person


Row = SmartPatient | SmartPractitioner


async def _row(session: AsyncSession, kind: str, tenant_id: str, person_id: str) -> Row:
    row: Row | None = None
    if FHIR_ID.match(person_id):
        row = cast(Row | None, await session.get(_model(kind), (tenant_id, person_id)))
    if row is None:
        raise NotFound(f"{kind.lower()} not found")
    return row


async def get_person(rt: Runtime, kind: str, tenant_id: str, person_id: str) -> Person:
    async with rt.db.session() as session:
        return _person(kind, await _row(session, kind, tenant_id, person_id))


async def list_people(rt: Runtime, kind: str, tenant_id: str, *, query: str | None = None, limit: int = 100,
                      offset: int = 0) -> list[Person]:
    """The tenant's patients or practitioners, by family then given name; ``query``: every word must
    appear in the name (case-insensitive), or the query is the id."""
    model = _model(kind)
    stmt = select(model).where(model.tenant_id == tenant_id)
    words = (query or "").lower().split()[:5]
    if words:
        by_name = and_(*[model.search_text.contains(w, autoescape=True) for w in words])
        stmt = stmt.where(or_(model.id == (query or "").strip(), by_name))
    stmt = stmt.order_by(model.family, model.search_text, model.id).limit(min(limit, MAX_PAGE)).offset(offset)
    async with rt.db.session() as session:
        return [_person(kind, cast(Row, r)) for r in (await session.execute(stmt)).scalars()]


async def search_patients(rt: Runtime, tenant_id: str, query: str, *, limit: int = 20) -> list[Person]:
    """The patient picker's search (part A's authorize page calls it): name words or an exact id."""
    return await list_people(rt, "Patient", tenant_id, query=query, limit=limit)


async def update_person(rt: Runtime, kind: str, tenant_id: str, person_id: str, changes: dict[str, Any],
                        *, actor: str | None = None) -> Person:
    """``changes``: ``given``, ``family`` (the name as a whole when either is given), ``birth_date``."""
    async with rt.db.session() as session:
        row = await _row(session, kind, tenant_id, person_id)
        if "given" in changes or "family" in changes:
            given, family = check_name(changes.get("given", list(row.given or [])), changes.get("family", row.family))
            row.given, row.family, row.search_text = given, family, _search_text(given, family)
        if "birth_date" in changes:
            row.birth_date = check_birth_date(changes["birth_date"])
        await session.flush()
        person = _person(kind, row)
    rt.audit.record(f"smart.{kind.lower()}_updated", tenant_id=tenant_id, actor=actor, subject=person.reference)
    return person


async def delete_person(rt: Runtime, kind: str, tenant_id: str, person_id: str, *, actor: str | None = None) -> None:
    """Refused while a user is linked to the entry (``fhirUser``): unlink the user first."""
    async with rt.db.session() as session:
        row = await _row(session, kind, tenant_id, person_id)
        linked = (await session.execute(select(func.count()).select_from(User).where(
            User.tenant_id == tenant_id, User.fhir_user == f"{kind}/{person_id}"))).scalar()
        if linked:
            raise Conflict(f"{kind}/{person_id} is the fhirUser of {linked} user(s); unlink them first")
        await session.delete(row)
    rt.audit.record(f"smart.{kind.lower()}_deleted", tenant_id=tenant_id, actor=actor, subject=f"{kind}/{person_id}")


async def check_fhir_user(session: AsyncSession, tenant_id: str, reference: str) -> str:
    """``Practitioner/<id>`` or ``Patient/<id>`` naming an entry of the tenant's directory."""
    kind, _, pid = reference.partition("/")
    if kind not in MODELS or not FHIR_ID.match(pid):
        raise _problem(["fhirUser"], "fhirUser must be Practitioner/<id> or Patient/<id>")
    if await session.get(_model(kind), (tenant_id, pid)) is None:
        raise _problem(["fhirUser"], f"{reference} is not in this tenant's directory")
    return reference


async def import_people(rt: Runtime, kind: str, tenant_id: str, entries: list[dict[str, Any]],
                        *, actor: str | None = None) -> dict[str, int]:
    """Add or update (by ``id``) every entry in one transaction: a bad entry imports nothing, and the
    error names its position (``loc`` ``[index, field]``)."""
    model = _model(kind)
    created = updated = 0
    async with rt.db.session() as session:
        for index, entry in enumerate(entries):
            try:
                raw_name = entry.get("name")
                name: dict[str, Any] = raw_name if isinstance(raw_name, dict) else {}
                given_raw, family = name.get("given") or [], name.get("family")
                if not isinstance(given_raw, list) or not all(isinstance(g, str) for g in given_raw) or not (
                        family is None or isinstance(family, str)):
                    raise _problem(["name"], "name is {given: [strings], family: string}")
                given, family = check_name(given_raw, family)
                birth = entry.get("birthDate")
                birth_date = check_birth_date(birth if isinstance(birth, str) or birth is None else str(birth))
                pid = check_id(str(entry["id"])) if entry.get("id") is not None else new_id()
            except ValidationFailed as exc:
                raise ValidationFailed([{**e, "loc": [index, *e["loc"]]} for e in exc.errors]) from None
            row = cast(Row | None, await session.get(model, (tenant_id, pid)))
            if row is None:
                session.add(model(tenant_id=tenant_id, id=pid, given=given, family=family, birth_date=birth_date,
                                  search_text=_search_text(given, family)))
                created += 1
            else:
                row.given, row.family, row.birth_date = given, family, birth_date
                row.search_text = _search_text(given, family)
                updated += 1
            await session.flush()
    rt.audit.record(f"smart.{kind.lower()}s_imported", tenant_id=tenant_id, actor=actor, created=created,
                    updated=updated)
    return {"created": created, "updated": updated}
