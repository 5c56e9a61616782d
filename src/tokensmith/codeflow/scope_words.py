"""Scopes in plain words for the consent page. A describer per scope language; the first that knows a
scope describes it. Register more with :meth:`ScopeWords.register` (the SMART language adds its own)."""

from __future__ import annotations

from collections.abc import Callable

#: OpenID Connect and OAuth scopes that are about the sign-in itself rather than a resource
IDENTITY_SCOPES = {
    "openid": "Confirm who you are (your user id)",
    "profile": "See your name",
    "email": "See your e-mail address",
    "offline_access": "Keep access when you are not using it (until you revoke it)",
    "online_access": "Keep access while you are signed in here",
    "fhirUser": "Know which practitioner or patient record is yours",
}
_ACTIONS = {"read": "read", "write": "change", "*": "read and change", "create": "create", "delete": "delete"}

Describer = Callable[[str], str | None]


def describe_resource_action(scope: str) -> str | None:
    """``Resource.action`` (tokensmith's own language, with wildcards)."""
    resource, dot, action = scope.partition(".")
    if not dot or not resource or not action:
        return None
    what = "all resources" if resource == "*" else resource
    verb = _ACTIONS.get(action, f"use ({action})")
    return f"{verb.capitalize()} {what} on your behalf"


class ScopeWords:
    def __init__(self) -> None:
        self._describers: list[Describer] = [IDENTITY_SCOPES.get, describe_resource_action]

    def register(self, describer: Describer) -> None:
        """A describer consulted before the built-in ``Resource.action`` one."""
        self._describers.insert(1, describer)

    def describe(self, scope: str) -> str:
        for describer in self._describers:
            words = describer(scope)
            if words:
                return words
        return f"Use the permission “{scope}”"
