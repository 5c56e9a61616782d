"""Audience restriction (RFC 9068 §4, RFC 8707 §2): a resource server accepts an access token only when
its ``aud`` names that resource server. A token minted for ``https://fhir.example`` is a credential for
that API alone; if the service's own API accepted it too, any resource server that receives tokens could
replay them against the management API.

The rule is a pure function of the claims and the accepted identifiers, so the management API
(:mod:`tokensmith.http.auth`) and the resource-server guard apply the same one, each with its own
identifiers.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from tokensmith.config import Settings


def service_audiences(settings: Settings) -> frozenset[str]:
    """The identifiers of tokensmith's own API: the issuer, and the default audience (``aud`` of every
    token the service issues for itself: sign-in and user-token access tokens, session tokens, and
    ``client_credentials`` tokens that name no ``resource``). Both are the issuer unless configured."""
    return frozenset({settings.issuer, settings.audience})


def audiences_of(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """``aud`` as RFC 7519 §4.1.3 allows it (one string or a list of strings); anything else is none."""
    aud = claims.get("aud")
    if isinstance(aud, str):
        return (aud,)
    if isinstance(aud, list) and all(isinstance(value, str) for value in aud):
        return tuple(aud)
    return ()


def audience_accepted(claims: Mapping[str, Any], accepted: Collection[str]) -> bool:
    """True when the token's ``aud`` contains one of ``accepted`` (RFC 9068 §4: "contains a resource
    indicator value corresponding to an identifier the resource server expects for itself"). A token
    without ``aud`` is for nobody and is refused."""
    return any(value in accepted for value in audiences_of(claims))
