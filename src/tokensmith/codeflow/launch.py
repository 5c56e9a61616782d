"""The launch context of a SMART app (``patient``, ``encounter``, ``fhirUser``, ``need_patient_banner``)
as a typed hook, so that the SMART part can plug in without changing the code flow.

* :class:`LaunchContext` is carried on the authorization code and its refresh tokens and returned by the
  token endpoint next to the access token (and ``fhirUser`` in the ID token).
* :class:`LaunchResolver` is called at authorize time. With none registered (:class:`NoLaunchContext`,
  the default) the authorization endpoint refuses what would need one — a ``launch`` parameter and the
  ``launch``/``launch/…`` scopes — with a clear error instead of pretending.

Register one with ``runtime.launch_resolver = MyResolver(...)`` (see ``docs/smart.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class LaunchContext:
    patient: str | None = None
    encounter: str | None = None
    fhir_user: str | None = None  # "Practitioner/<id>" or "Patient/<id>"
    need_patient_banner: bool | None = None
    smart_style_url: str | None = None

    def claims(self) -> dict[str, Any]:
        """What is stored on the code (and its refresh tokens)."""
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_claims(cls, claims: dict[str, Any] | None) -> LaunchContext | None:
        if not claims:
            return None
        return cls(**{k: claims[k] for k in cls.__dataclass_fields__ if k in claims})

    def access_token_claims(self) -> dict[str, Any] | None:
        """What the access token carries, so that a resource server (the guard) and introspection know the
        context without a look-up: ``patient``, ``encounter``, ``fhirUser``."""
        claims = {"patient": self.patient, "encounter": self.encounter, "fhirUser": self.fhir_user}
        return {k: v for k, v in claims.items() if v is not None} or None

    def token_response_members(self) -> dict[str, Any]:
        """The token endpoint's members (SMART App Launch 2.2 §"Launch context arrives with your access_token")."""
        names = {"patient": "patient", "encounter": "encounter", "fhir_user": "fhirUser",
                 "need_patient_banner": "need_patient_banner", "smart_style_url": "smart_style_url"}
        return {names[k]: v for k, v in self.claims().items()}


@dataclass(frozen=True)
class LaunchRequest:
    """What the resolver is asked about: the signed-in user, the client, the ``launch`` value and scopes."""

    tenant_id: str
    user_id: str
    client_id: str
    launch: str | None
    scopes: tuple[str, ...]
    #: the patient the user picked on the consent page (standalone launch with ``launch/patient``)
    patient_choice: str | None = None


@dataclass(frozen=True)
class PatientChoice:
    """One line of the patient picker."""

    id: str
    label: str


class LaunchRefused(Exception):
    """The resolver cannot give a context for this request (unknown or expired ``launch``…): the
    authorization endpoint redirects ``invalid_request`` with this message."""


class LaunchResolver(Protocol):
    #: whether an EHR launch (``launch`` parameter) and the ``launch…`` scopes can be served at all
    available: bool

    def needs_context(self, scopes: tuple[str, ...]) -> bool:
        """True when these scopes need a launch context (e.g. ``launch/patient``)."""
        ...

    async def patient_choices(self, request: LaunchRequest, query: str) -> list[PatientChoice] | None:
        """The patients to pick from when this request needs the user to choose one (a standalone launch
        asking for ``launch/patient``), matching ``query``; ``None`` when no choice is needed."""
        ...

    async def resolve(self, request: LaunchRequest) -> LaunchContext | None:
        """The context for this authorization (``None``: none needed). Raise :class:`LaunchRefused`."""
        ...


class NoLaunchContext:
    """The default: no launch contexts. ``launch`` and the ``launch…`` scopes are refused."""

    available = False

    def needs_context(self, scopes: tuple[str, ...]) -> bool:
        return any(s == "launch" or s.startswith("launch/") for s in scopes)

    async def patient_choices(self, request: LaunchRequest, query: str) -> list[PatientChoice] | None:
        return None

    async def resolve(self, request: LaunchRequest) -> LaunchContext | None:
        return None
