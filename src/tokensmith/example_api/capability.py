"""``GET /fhir/metadata``: the example API's CapabilityStatement (FHIR R4 ``CapabilityStatement``,
``kind: instance``), public like every FHIR server's.

It states only what :mod:`tokensmith.example_api.app` serves: ``Patient`` (read, search, create) and
``Observation`` (search by ``patient``, create), as JSON. ``rest.security`` names the SMART-on-FHIR
service and carries the SMART ``oauth-uris`` extension (SMART App Launch 1.0 §"Conformance",
still read by SMART client libraries such as Python's ``fhirclient``, which find the authorization
server through the FHIR base they are given). Its URLs are the token service's own, from the issuer
metadata the guard reads (``authorize`` and ``token``; ``revoke`` and ``introspect`` when the issuer
lists them). While the issuer cannot be reached there is nothing true to say about security: 503.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tokensmith import __version__

FHIR_VERSION = "4.0.1"
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
SECURITY_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"
#: the issuer metadata member behind each ``oauth-uris`` sub-extension (the first two are required)
_URIS = (("authorize", "authorization_endpoint"), ("token", "token_endpoint"),
         ("revoke", "revocation_endpoint"), ("introspect", "introspection_endpoint"))
_RESOURCES: tuple[dict[str, Any], ...] = (
    {"type": "Patient", "interaction": [{"code": "read"}, {"code": "search-type"}, {"code": "create"}]},
    {"type": "Observation", "interaction": [{"code": "search-type"}, {"code": "create"}],
     "searchParam": [{"name": "patient", "type": "reference",
                      "documentation": "the Observation's subject (Patient/<id>); a patient-context token "
                                       "sees its own patient's only"}]},
)


def _security(issuer_metadata: dict[str, Any]) -> dict[str, Any]:
    """SMART-on-FHIR with its ``oauth-uris`` when the issuer has an authorization and a token endpoint;
    otherwise only "OAuth" (Bearer tokens are still required, but no SMART app can launch)."""
    uris = [{"url": name, "valueUri": issuer_metadata[member]} for name, member in _URIS
            if isinstance(issuer_metadata.get(member), str)]
    if not {"authorize", "token"} <= {u["url"] for u in uris}:
        return {"service": [{"coding": [{"system": SECURITY_SERVICE, "code": "OAuth"}],
                             "text": "OAuth 2.0 Bearer tokens of the tokensmith service"}]}
    return {"service": [{"coding": [{"system": SECURITY_SERVICE, "code": "SMART-on-FHIR"}],
                         "text": "OAuth 2.0 with the SMART App Launch profile"}],
            "extension": [{"url": OAUTH_URIS, "extension": uris}]}


def capability_statement(issuer_metadata: dict[str, Any], published: datetime) -> dict[str, Any]:
    """The document; ``published``: when this instance started (the statement's ``date``)."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": published.astimezone(UTC).isoformat(timespec="seconds"),
        "kind": "instance",
        "software": {"name": "tokensmith example FHIR API", "version": __version__},
        "implementation": {"description": "A small FHIR R4 subset (Patient, Observation) behind the tokensmith "
                                          "guard"},
        "fhirVersion": FHIR_VERSION,
        "format": ["json"],
        "rest": [{"mode": "server", "security": _security(issuer_metadata), "resource": [dict(r) for r in _RESOURCES]}],
    }
