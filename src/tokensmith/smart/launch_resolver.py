"""The SMART launch context for the authorization endpoint (the code flow's :class:`LaunchResolver` hook).

* EHR launch: the ``launch`` value minted by ``POST /smart/launch`` is used up here and becomes the
  token response's ``patient`` (and ``encounter``), with ``need_patient_banner``.
* ``fhirUser``: the signed-in user's link to the directory (``PATCH /users/{id}``), when the app asks for
  ``fhirUser``, ``openid`` or ``launch``.
* Standalone launch with ``launch/patient`` (no ``launch`` value): a user linked to a ``Patient`` gets
  that patient; anyone else picks one from the directory on the consent page (:meth:`patient_choices`).
  ``launch/encounter`` without an EHR launch is refused (there is no encounter picker).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from tokensmith.codeflow.launch import LaunchContext, LaunchRefused, LaunchRequest, PatientChoice
from tokensmith.errors import ServiceError
from tokensmith.smart.directory import Person, get_person, search_patients
from tokensmith.smart.launch import consume_launch
from tokensmith.storage.models import User

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

_WANTS_FHIR_USER = frozenset({"fhirUser", "openid", "launch"})
_CHOICES = 20  # patients shown by the picker for one search


def _label(person: Person) -> str:
    name = " ".join([*person.given, person.family or ""]).strip() or person.id
    return f"{name} (born {person.birth_date})" if person.birth_date else name


class SmartLaunchResolver:
    available = True

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    def needs_context(self, scopes: tuple[str, ...]) -> bool:
        return any(s == "launch" or s.startswith("launch/") for s in scopes)

    async def resolve(self, request: LaunchRequest) -> LaunchContext | None:
        fhir_user = await self._fhir_user(request) if _WANTS_FHIR_USER & set(request.scopes) else None
        if request.launch is not None:
            if "launch" not in request.scopes:
                raise LaunchRefused("an EHR launch needs the launch scope")
            try:
                found = await consume_launch(self._rt, request.launch, request.client_id)
            except ServiceError as exc:
                raise LaunchRefused(exc.description or "the launch value is not usable") from exc
            if found.tenant_id != request.tenant_id:
                raise LaunchRefused("the launch value is unknown, used, expired or meant for another app")
            return LaunchContext(patient=found.patient, encounter=found.encounter, fhir_user=fhir_user,
                                 need_patient_banner=True)
        if "launch" in request.scopes:
            raise LaunchRefused("the launch scope needs the launch value of an EHR launch")
        if "launch/encounter" in request.scopes:
            raise LaunchRefused("choosing an encounter at sign-in (standalone launch/encounter) is not available; "
                                "use an EHR launch (POST /smart/launch)")
        if "launch/patient" in request.scopes:
            return LaunchContext(patient=await self._standalone_patient(request, fhir_user), fhir_user=fhir_user,
                                 need_patient_banner=True)
        return LaunchContext(fhir_user=fhir_user) if fhir_user else None

    async def patient_choices(self, request: LaunchRequest, query: str) -> list[PatientChoice] | None:
        if request.launch is not None or "launch/patient" not in request.scopes or request.patient_choice:
            return None
        own = await self._fhir_user(request)
        if own is not None and own.startswith("Patient/"):
            return None  # a patient's own app: the context is the patient
        found = await search_patients(self._rt, request.tenant_id, query, limit=_CHOICES)
        return [PatientChoice(p.id, _label(p)) for p in found]

    async def _standalone_patient(self, request: LaunchRequest, fhir_user: str | None) -> str:
        own = fhir_user or await self._fhir_user(request)
        if own is not None and own.startswith("Patient/"):
            return own.split("/", 1)[1]
        if not request.patient_choice:
            raise LaunchRefused("launch/patient needs a patient: none was chosen")
        try:
            person = await get_person(self._rt, "Patient", request.tenant_id, request.patient_choice)
        except ServiceError as exc:
            raise LaunchRefused("the chosen patient is not in the directory") from exc
        return person.id

    async def _fhir_user(self, request: LaunchRequest) -> str | None:
        async with self._rt.db.sessions() as session:
            value = (await session.execute(select(User.fhir_user).where(
                User.id == request.user_id, User.tenant_id == request.tenant_id))).scalar_one_or_none()
        return value or None
