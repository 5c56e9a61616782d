"""The SMART launch context for the authorization endpoint (the code flow's :class:`LaunchResolver` hook).

* EHR launch: the ``launch`` value minted by ``POST /smart/launch`` is used up here and becomes the
  token response's ``patient`` (and ``encounter``), with ``need_patient_banner``.
* ``fhirUser``: the signed-in user's link to the directory (``PATCH /users/{id}``), when the app asks for
  ``fhirUser``, ``openid`` or ``launch``.
* A standalone launch that asks the server to choose a patient (``launch/patient`` without a ``launch``
  value) needs the patient picker page, which is not built: it is refused with a clear message rather than
  issuing a token without the context the app asked for (and discovery does not list
  ``context-standalone-patient``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from tokensmith.codeflow.launch import LaunchContext, LaunchRefused, LaunchRequest
from tokensmith.errors import ServiceError
from tokensmith.smart.launch import consume_launch
from tokensmith.storage.models import User

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

_WANTS_FHIR_USER = frozenset({"fhirUser", "openid", "launch"})


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
        if any(s.startswith("launch/") for s in request.scopes):
            raise LaunchRefused("choosing a patient or encounter at sign-in (standalone launch/patient) is not "
                                "available on this server yet; use an EHR launch (POST /smart/launch)")
        return LaunchContext(fhir_user=fhir_user) if fhir_user else None

    async def _fhir_user(self, request: LaunchRequest) -> str | None:
        async with self._rt.db.sessions() as session:
            value = (await session.execute(select(User.fhir_user).where(
                User.id == request.user_id, User.tenant_id == request.tenant_id))).scalar_one_or_none()
        return value or None
