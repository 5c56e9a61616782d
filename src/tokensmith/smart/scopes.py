"""SMART App Launch 2.2 scopes (§3 "Scopes and Launch Context"), one scope language of the core's
:class:`tokensmith.scopes.ScopeLanguages`.

* v2 resource scopes ``<context>/<resource>.<permissions>[?<search restriction>]``: context ``patient``,
  ``user`` or ``system``; resource a FHIR resource type or ``*``; permissions a non-empty subsequence of
  ``cruds`` in that order (§3.1.1: "permissions … SHALL be listed in the order c, r, u, d, s");
  restrictions FHIR search parameters (``patient/Observation.rs?category=laboratory``).
* v1 resource scopes ``<context>/<resource>.(read|write|*)``, mapped onto v2 for matching (§3.1.3:
  ``read`` = ``rs``, ``write`` = ``cud``, ``*`` = ``cruds``).
* The launch and identity scopes (``openid``, ``fhirUser``, ``profile``, ``launch``, ``launch/patient``,
  ``launch/encounter``, ``offline_access``, ``online_access``) match only themselves.

A granted scope covers a requested one when the context is the same, the resource is the same (or the
grant's is ``*``), the requested permissions are a subset, and the request is restricted at least as much
as the grant (every ``name=value`` of the grant's restriction is in the request's). SMART scopes are
covered only by SMART scopes: the ``Resource.action`` wildcard ``*`` is about tokensmith's own API and
never stands for FHIR data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl

CONTEXTS = ("patient", "user", "system")
INTERACTIONS = "cruds"
V1_PERMISSIONS = {"read": "rs", "write": "cud", "*": "cruds"}
LAUNCH_SCOPES = frozenset({"openid", "fhirUser", "profile", "launch", "launch/patient", "launch/encounter",
                           "offline_access", "online_access"})
INTERACTION_NAMES = {"create": "c", "read": "r", "update": "u", "delete": "d", "search": "s"}

_RESOURCE_SCOPE = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]{0,63})\.([a-z*]{1,5})(?:\?(.{1,500}))?$")
_PREFIXES = ("patient/", "user/", "system/", "launch/")

Restriction = frozenset[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class SmartScope:
    """A parsed resource scope, in v2 terms whatever syntax it was written in."""

    context: str
    resource: str
    interactions: frozenset[str]
    restrictions: Restriction
    version: int

    def covers(self, other: SmartScope) -> bool:
        return (self.context == other.context
                and self.resource in ("*", other.resource)
                and other.interactions <= self.interactions
                and self.restrictions <= other.restrictions)


def _v2_permissions(text: str) -> frozenset[str] | None:
    ordered = "".join(c for c in INTERACTIONS if c in text)
    return frozenset(text) if ordered == text else None


def parse_smart_scope(scope: str) -> SmartScope | None:
    """The resource scope ``scope`` stands for, or None when it is not a well-formed v1 or v2 resource scope."""
    match = _RESOURCE_SCOPE.match(scope)
    if match is None:
        return None
    context, resource, permission, query = match.groups()
    if permission in V1_PERMISSIONS:
        if query is not None:  # v1 has no search restrictions
            return None
        return SmartScope(context, resource, frozenset(V1_PERMISSIONS[permission]), frozenset(), 1)
    interactions = _v2_permissions(permission)
    if interactions is None:
        return None
    restrictions: Restriction = frozenset()
    if query is not None:
        try:
            pairs = parse_qsl(query, keep_blank_values=False, strict_parsing=True)
        except ValueError:
            return None
        if not pairs or any(not name for name, _ in pairs):
            return None
        restrictions = frozenset(pairs)
    return SmartScope(context, resource, interactions, restrictions, 2)


def is_smart_scope(scope: str) -> bool:
    """True for the scopes this language judges (resource scopes of any context, launch scopes)."""
    return scope in LAUNCH_SCOPES or scope.startswith(_PREFIXES)


def is_valid_smart_scope(scope: str) -> bool:
    """True for a well-formed SMART scope (what app registration accepts)."""
    return scope in LAUNCH_SCOPES or parse_smart_scope(scope) is not None


def covers(granted: str, requested: str) -> bool:
    """True when the granted scope stands for everything the requested SMART scope does."""
    if requested in LAUNCH_SCOPES or requested.startswith("launch/"):
        return granted == requested and requested in LAUNCH_SCOPES
    want = parse_smart_scope(requested)
    if want is None:
        return False
    have = parse_smart_scope(granted)
    return have is not None and have.covers(want)


class SmartScopes:
    """The scope language registered with the authorization server (``server.scopes``)."""

    name = "smart"

    def recognises(self, scope: str) -> bool:
        return is_smart_scope(scope)

    def covers(self, granted: str, requested: str) -> bool:
        return covers(granted, requested)


# ---- what a granted set allows (the guard and the example FHIR API) -------------------------------------

@dataclass(frozen=True, slots=True)
class Permit:
    """The answer to "may this token do X on resource type R in context C": ``conditions`` are the
    alternative search restrictions under which it may (any one suffices); an empty restriction among them
    means without condition."""

    conditions: tuple[Restriction, ...]

    @property
    def unrestricted(self) -> bool:
        return any(not c for c in self.conditions)


class SmartAccess:
    """The FHIR access a granted scope set gives, parsed once (build it per token, ask it per request)."""

    def __init__(self, granted: Iterable[str]) -> None:
        self.scopes = tuple(s for s in (parse_smart_scope(g) for g in granted) if s is not None)

    def permit(self, interaction: str, resource: str, *, context: str) -> Permit | None:
        """None when no granted scope allows ``interaction`` (``c r u d s`` or ``create`` … ``search``) on
        ``resource`` in ``context``; otherwise the restrictions it is allowed under."""
        letter = INTERACTION_NAMES.get(interaction, interaction)
        found = tuple(s.restrictions for s in self.scopes
                      if s.context == context and s.resource in ("*", resource) and letter in s.interactions)
        return Permit(found) if found else None

    def may(self, interaction: str, resource: str, *, context: str) -> bool:
        """Allowed without any search restriction."""
        permit = self.permit(interaction, resource, context=context)
        return permit is not None and permit.unrestricted

    def resource_types(self, context: str) -> dict[str, frozenset[str]]:
        """Resource type (or ``*``) → the interactions some granted scope allows in ``context``."""
        found: dict[str, set[str]] = {}
        for s in self.scopes:
            if s.context == context:
                found.setdefault(s.resource, set()).update(s.interactions)
        return {r: frozenset(i) for r, i in found.items()}

    @property
    def contexts(self) -> frozenset[str]:
        return frozenset(s.context for s in self.scopes)


# ---- plain words (the consent page) ----------------------------------------------------------------------

_LAUNCH_WORDS = {
    "openid": "Confirm who you are",
    "fhirUser": "Know which person you are in the health record",
    "profile": "See your name and profile",
    "launch": "Start from your EHR and use what is open there",
    "launch/patient": "Know which patient you choose",
    "launch/encounter": "Know which visit (encounter) is open",
    "offline_access": "Keep access when you are not using the app, until you revoke it",
    "online_access": "Keep access while you are signed in",
}
_CATEGORY_WORDS = {"laboratory": "lab", "vital-signs": "vital-sign", "social-history": "social-history",
                   "imaging": "imaging", "survey": "survey", "exam": "exam", "therapy": "therapy",
                   "procedure": "procedure", "activity": "activity"}
_VERBS = (("r", "read"), ("s", "search"), ("c", "add"), ("u", "change"), ("d", "delete"))


def _plural(resource: str) -> str:
    if resource.endswith("y") and not resource.endswith(("ay", "ey", "oy")):
        return resource[:-1] + "ies"
    return resource + ("es" if resource.endswith("s") else "s")


def _verbs(interactions: frozenset[str]) -> str:
    words = [w for letter, w in _VERBS if letter in interactions]
    if {"r", "s"} <= interactions:
        words.remove("search")  # reading includes finding
    text = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    return text[0].upper() + text[1:]


def describe(scope: str) -> str:
    """The scope in plain words for the person asked to consent ("Read your lab Observations")."""
    if scope in _LAUNCH_WORDS:
        return _LAUNCH_WORDS[scope]
    parsed = parse_smart_scope(scope)
    if parsed is None:
        return f"Use the permission {scope!r}"
    rest = sorted(parsed.restrictions)
    category = next((v for k, v in rest if k == "category"), None)
    rest = [(k, v) for k, v in rest if (k, v) != ("category", category)]
    qualifier = f"{_CATEGORY_WORDS.get(category, category)} " if category else ""
    things = "health records" if parsed.resource == "*" else _plural(parsed.resource)
    whose = {"patient": f"your {qualifier}{things}",
             "user": f"the {qualifier}{things} you have access to",
             "system": f"all {qualifier}{things}"}[parsed.context]
    where = "".join(f" where {k} is {v}" for k, v in rest)
    return f"{_verbs(parsed.interactions)} {whose}{where}"
