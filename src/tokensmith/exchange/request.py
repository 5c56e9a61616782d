"""The body of ``POST /api/v1/token/`` (spec A) and its validation.

Errors are pydantic's, reported as the wire contract shows them: a JSON list of ``{"loc", "msg", "type"}``
with ``loc`` naming the field (no ``body`` prefix). Malformed JSON (``json_invalid``) and a body that is
not an object (``model_type``) have an empty ``loc``.

Rules beyond "present and a string":

* No string may hold a control character other than tab and newline (:mod:`tokensmith.inputs`; error type
  ``control_character``).

* ``user_id``, ``first_name``, ``last_name``, ``organisation``: surrounding white space is removed; what is
  left must not be empty (``user_id``, names: at most 200 characters; ``organisation``: 300).
* ``healthcare_provider_identification_number``: letters and digits, with separators (space, ``.``,
  ``-``, ``/``) allowed *between* characters; the separators are removed (``1-23456-78-901`` →
  ``12345678901``).
* ``email``: a syntactically valid address (no DNS lookup); the domain is normalised.
* ``healthcare_provider_type``: one of :data:`PROVIDER_TYPES`.
* Optional fields may be absent, ``null`` or ``""`` (all three mean "not given").
* Unknown fields are ignored.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, StringConstraints, ValidationError
from pydantic_core import PydanticCustomError

from tokensmith.emails import InvalidEmail, normalise_email
from tokensmith.errors import ValidationFailed
from tokensmith.inputs import NoControl

ProviderType = Literal[
    "anesthesiologist", "cardiologist", "dermatologist", "dietitian", "emergency_doctor", "endocrinologist",
    "gastroenterologist", "general_practitioner", "geriatrician", "gynecologist", "hematologist", "home_nurse",
    "hospital_nurse", "infectiologist", "nephrologist", "neurologist", "nursing_home_nurse", "oncologist",
    "ophthalmologist", "orthopedic", "otorhinolaryngologist", "pediatrician", "physiotherapist",
    "practice_nurse", "psychiatrist", "psychologist", "pulmonologist", "radiologist", "rheumatologist",
    "surgeon", "speech_language_pathologist", "stomatologist", "urologist",
]
PROVIDER_TYPES: tuple[str, ...] = get_args(ProviderType)

_PROVIDER_NUMBER = re.compile(r"[A-Za-z0-9]+(?:[ ./-]+[A-Za-z0-9]+)*")
_SEPARATORS = re.compile(r"[ ./-]+")
PROVIDER_NUMBER_MAX = 100


def _blank_is_absent(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def normalise_provider_number(value: str) -> str:
    value = value.strip()
    if not _PROVIDER_NUMBER.fullmatch(value):
        raise ValueError("must be letters and digits, optionally separated by spaces, '.', '-' or '/'")
    digits = _SEPARATORS.sub("", value)
    if len(digits) > PROVIDER_NUMBER_MAX:
        raise ValueError(f"must have at most {PROVIDER_NUMBER_MAX} letters and digits")
    return digits


def _email_field(value: str) -> str:
    """The exchange's ``email`` field: the one validator (tokensmith.emails), as a pydantic error."""
    try:
        return normalise_email(value)
    except InvalidEmail as exc:
        raise PydanticCustomError("value_error", "value is not a valid email address: {reason}",
                                  {"reason": str(exc)}) from None


UserId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NoControl]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NoControl]
Organisation = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300), NoControl]
ProviderNumber = Annotated[
    Annotated[str, StringConstraints(max_length=200), NoControl, AfterValidator(normalise_provider_number)] | None,
    BeforeValidator(_blank_is_absent),
]
Email = Annotated[
    Annotated[str, StringConstraints(max_length=320), NoControl, AfterValidator(_email_field)] | None,
    BeforeValidator(_blank_is_absent),
]
OptionalProviderType = Annotated[ProviderType | None, BeforeValidator(_blank_is_absent)]


class SessionTokenRequest(BaseModel):
    """A user of the caller's system, for whom a session token is requested."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    user_id: UserId
    first_name: Name
    last_name: Name
    organisation: Organisation
    healthcare_provider_identification_number: ProviderNumber = None
    email: Email = None
    healthcare_provider_type: OptionalProviderType = None


def validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """pydantic's errors as the wire contract shows them."""
    return [{"loc": list(err["loc"]), "msg": err["msg"], "type": err["type"]}
            for err in exc.errors(include_url=False, include_context=False, include_input=False)]


def parse_session_request(body: bytes) -> SessionTokenRequest:
    """Validate a JSON body; :class:`ValidationFailed` (400 list) on any problem."""
    try:
        return SessionTokenRequest.model_validate_json(body)
    except ValidationError as exc:
        raise ValidationFailed(validation_errors(exc)) from None


def validate_fields(fields: dict[str, Any]) -> SessionTokenRequest:
    """The same validation for fields that did not come as JSON (the RFC 8693 form)."""
    try:
        return SessionTokenRequest.model_validate(fields)
    except ValidationError as exc:
        raise ValidationFailed(validation_errors(exc)) from None
