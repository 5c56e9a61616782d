"""SMART scopes at the guard: when the installation has ``tokensmith.smart.scopes`` (the SMART issue), the
guard's scope languages include it, so ``patient/*.read`` covers the example API's ``patient/Patient.read``.
Without that module these tests are not collected (nothing to judge yet); once it exists they run, and fail
if the guard cannot find its language (``tokensmith.guard.scopes.smart_language``)."""

from __future__ import annotations

import pytest

pytest.importorskip("tokensmith.smart.scopes")

from tokensmith.guard.scopes import guard_scope_languages, smart_language


def test_the_guard_finds_the_smart_language() -> None:
    assert smart_language() is not None


def test_smart_v1_wildcards_cover_the_example_apis_scopes() -> None:
    languages = guard_scope_languages()
    assert languages.not_covered(["patient/*.read"], ["patient/Patient.read"]) == []
    assert languages.not_covered(["patient/*.read"], ["patient/Observation.write"]) == ["patient/Observation.write"]
