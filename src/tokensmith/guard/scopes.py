"""The scope languages a guard judges routes with: the core's :class:`tokensmith.scopes.ScopeLanguages`, so a
route's ``requires(...)`` is decided exactly as the service decides what a client may be granted."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterable

from tokensmith.scopes import ScopeLanguage, ScopeLanguages

#: the module of the SMART v1/v2 scope language, when this installation has it
SMART_MODULE = "tokensmith.smart.scopes"


def smart_language() -> ScopeLanguage | None:
    """The SMART language if :data:`SMART_MODULE` is installed: its ``SMART_LANGUAGE`` (an instance), its
    ``language()`` (a factory), or else the one class it defines that implements
    :class:`~tokensmith.scopes.ScopeLanguage` and needs no arguments; None otherwise (``Resource.action`` only)."""
    try:
        module = importlib.import_module(SMART_MODULE)
    except ModuleNotFoundError:
        return None
    language = getattr(module, "SMART_LANGUAGE", None)
    factory = getattr(module, "language", None)
    if language is None and callable(factory):
        language = factory()
    if language is None:
        classes = [value for value in vars(module).values() if isinstance(value, type)
                   and value.__module__ == module.__name__ and _is_language(value)]
        if len(classes) == 1:
            with contextlib.suppress(TypeError):
                language = classes[0]()
    return language if _is_language(language) else None


def _is_language(candidate: object) -> bool:
    return all(callable(getattr(candidate, name, None)) for name in ("recognises", "covers")) and isinstance(
        getattr(candidate, "name", None), str) and candidate is not ScopeLanguage


def guard_scope_languages(extra: Iterable[ScopeLanguage] = ()) -> ScopeLanguages:
    languages = ScopeLanguages()
    for language in extra:
        languages.register(language)
    smart = smart_language()
    if smart is not None:
        languages.register(smart)
    return languages
