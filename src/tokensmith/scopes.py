"""Scope strings and the one function that decides whether a granted scope covers a requested one.

Scopes are ``Resource.action`` (``Patient.read``), with ``*`` as a wildcard for either part
(``Patient.*``, ``*.read``) and ``*`` alone for everything (every scope string, ``openid`` included).
Anything else (``openid``, ``api``) matches only itself. The resource is what precedes the first dot.
Platform resources (``Tenant``: managing tenants is for the platform's operators) are the exception: no
wildcard resource stands for them (not ``*``, not ``*.read``), so a tenant admin holding ``*`` never holds
``Tenant.write``; only a scope naming the resource (``Tenant.*``, ``Tenant.read``) does.
RFC 6749 §3.3 defines the scope string: space-delimited, case-sensitive tokens of ``%x21 / %x23-5B /
%x5D-7E``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol

_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]+$")
#: Resources no wildcard covers (see the module docstring).
PLATFORM_RESOURCES = frozenset({"Tenant"})


def is_valid_scope_token(token: str) -> bool:
    return bool(_SCOPE_TOKEN.match(token))


def parse_scope(value: str | None) -> list[str]:
    """Split an RFC 6749 scope parameter; raises ValueError for characters outside §3.3."""
    if not value:
        return []
    tokens = [t for t in value.split(" ") if t]
    for token in tokens:
        if not is_valid_scope_token(token):
            raise ValueError(f"invalid scope token {token!r}")
    # Keep the order, drop duplicates.
    return list(dict.fromkeys(tokens))


def _split(scope: str) -> tuple[str, str] | None:
    """``Resource.action`` split at the first dot; None for anything else (``openid``, ``*``)."""
    resource, dot, action = scope.partition(".")
    if not dot or not resource or not action:
        return None
    return resource, action


def covers(granted: str, requested: str) -> bool:
    """True when every concrete scope ``requested`` stands for is also one ``granted`` stands for.

    ``*`` alone is full access within a tenant: it covers every scope but the platform ones, and only ``*``
    covers it (``*.*`` stands for every
    ``Resource.action`` but not for ``openid``). A wildcard is a whole part, never a glob (``Pat*.read`` is
    a literal resource name).
    """
    if granted == requested:
        return True
    if requested == "*":
        return False
    r = _split(requested)
    platform = r is not None and r[0] in PLATFORM_RESOURCES
    if granted == "*":
        return not platform
    g = _split(granted)
    if g is None or r is None:
        return False
    resource_ok = g[0] == r[0] or (g[0] == "*" and not platform)
    action_ok = g[1] == "*" or g[1] == r[1]
    return resource_ok and action_ok


def covered_by_any(granted: Iterable[str], requested: str) -> bool:
    return any(covers(g, requested) for g in granted)


def not_covered(granted: Iterable[str], requested: Iterable[str]) -> list[str]:
    """The requested scopes that the granted set does not cover (empty when all are allowed)."""
    granted = list(granted)
    return [r for r in requested if not covered_by_any(granted, r)]


# ---- scope languages ----------------------------------------------------------------------------------

class ScopeLanguage(Protocol):
    """One scope syntax and its matching rule (``Resource.action`` here; SMART v1/v2 can be added)."""

    name: str

    def recognises(self, scope: str) -> bool:
        """True for scope strings written in this language."""
        ...

    def covers(self, granted: str, requested: str) -> bool:
        """True when ``granted`` stands for everything ``requested`` (a scope of this language) does."""
        ...


class ResourceAction:
    """``Resource.action`` with whole-part wildcards: the default language, recognising every scope."""

    name = "resource.action"

    def recognises(self, scope: str) -> bool:
        return True

    def covers(self, granted: str, requested: str) -> bool:
        return covers(granted, requested)


class ScopeLanguages:
    """The scope languages the authorization server understands. A requested scope is judged by the
    first registered language that recognises it, the default language last."""

    def __init__(self, default: ScopeLanguage | None = None) -> None:
        self.default: ScopeLanguage = default or ResourceAction()
        self._specific: list[ScopeLanguage] = []

    def register(self, language: ScopeLanguage) -> None:
        self._specific.append(language)

    @property
    def names(self) -> list[str]:
        return [lang.name for lang in self._specific] + [self.default.name]

    def language_of(self, scope: str) -> ScopeLanguage:
        for language in self._specific:
            if language.recognises(scope):
                return language
        return self.default

    def not_covered(self, granted: Iterable[str], requested: Iterable[str]) -> list[str]:
        if not self._specific and isinstance(self.default, ResourceAction):
            return not_covered(granted, requested)  # the common case, without a dispatch per scope
        granted = list(granted)
        missing = []
        for scope in requested:
            language = self.language_of(scope)
            if not any(language.covers(g, scope) for g in granted):
                missing.append(scope)
        return missing
