"""Who is calling a guarded route: one typed, frozen value built from verified claims or an introspection
answer, whatever the credential."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

CredentialKind = Literal["jwt", "opaque", "api_key"]


def _text(claims: Mapping[str, object], name: str) -> str | None:
    value = claims.get(name)
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True, slots=True)
class Principal:
    """``subject``: ``sub``; ``client_id``: the client or API key that holds the credential; ``tenant``;
    ``scopes``; ``patient`` and ``fhir_user``: the SMART launch context (``patient`` limits what the caller may
    see to that patient); ``session_id``: ``sid``; ``credential``: how it was presented."""

    subject: str
    client_id: str | None
    tenant: str | None
    scopes: tuple[str, ...]
    credential: CredentialKind
    patient: str | None = None
    fhir_user: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    expires_at: float | None = None
    claims: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}), repr=False, compare=False)

    @classmethod
    def from_claims(cls, claims: Mapping[str, object], credential: CredentialKind) -> Principal:
        scope = claims.get("scope")
        exp = claims.get("exp")
        return cls(
            subject=_text(claims, "sub") or _text(claims, "client_id") or "",
            client_id=_text(claims, "client_id"),
            tenant=_text(claims, "tenant"),
            scopes=tuple(dict.fromkeys(scope.split())) if isinstance(scope, str) else (),
            credential=credential,
            patient=_text(claims, "patient"),
            fhir_user=_text(claims, "fhirUser"),
            session_id=_text(claims, "sid"),
            user_id=_text(claims, "uid"),
            api_key_id=_text(claims, "api_key_id"),
            expires_at=float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None,
            claims=MappingProxyType(dict(claims)),
        )
