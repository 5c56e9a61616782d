"""The SMART scope language (``tokensmith.smart.scopes``), checked two ways: a reference table of
(granted, requested, covered) rows written from SMART App Launch 2.2 §3, and hypothesis properties
against a model of what a resource scope stands for — the set of (context, resource, interaction,
restriction) it allows, over a small universe — where "covers" must be exactly set inclusion."""

from __future__ import annotations

from itertools import chain, combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokensmith.scopes import ScopeLanguages
from tokensmith.smart.scopes import (
    LAUNCH_SCOPES,
    SmartAccess,
    SmartScopes,
    covers,
    describe,
    is_valid_smart_scope,
    parse_smart_scope,
)

REFERENCE = [
    # v1 ↔ v2
    ("patient/*.read", "patient/Observation.rs", True),
    ("patient/*.read", "patient/Observation.r", True),
    ("patient/*.read", "patient/Observation.s", True),
    ("patient/*.read", "patient/Observation.c", False),
    ("patient/Observation.rs", "patient/Observation.read", True),
    ("patient/Observation.r", "patient/Observation.read", False),
    ("user/Observation.write", "user/Observation.cud", True),
    ("user/Observation.write", "user/Observation.u", True),
    ("user/Observation.write", "user/Observation.r", False),
    ("user/Observation.cud", "user/Observation.write", True),
    ("user/*.cruds", "user/Patient.*", True),
    ("user/Patient.*", "user/Patient.cruds", True),
    ("patient/*.*", "patient/Condition.write", True),
    ("system/*.read", "system/Patient.rs", True),
    ("system/*.c", "system/Observation.c", True),
    ("system/*.c", "system/Observation.r", False),
    # context is respected
    ("user/*.read", "patient/Observation.read", False),
    ("patient/*.read", "user/Observation.read", False),
    ("system/*.cruds", "patient/Observation.r", False),
    # resource
    ("patient/Observation.rs", "patient/Patient.rs", False),
    ("patient/Observation.rs", "patient/*.rs", False),
    ("patient/*.rs", "patient/*.r", True),
    # search restrictions: a restricted grant covers only equally or more restricted requests
    ("patient/Observation.rs", "patient/Observation.rs?category=laboratory", True),
    ("patient/Observation.rs?category=laboratory", "patient/Observation.rs?category=laboratory", True),
    ("patient/Observation.rs?category=laboratory", "patient/Observation.rs", False),
    ("patient/Observation.rs?category=laboratory", "patient/Observation.rs?category=vital-signs", False),
    ("patient/Observation.rs?category=laboratory", "patient/Observation.s?category=laboratory&code=x", True),
    ("patient/Observation.rs?category=laboratory&code=x", "patient/Observation.rs?category=laboratory", False),
    ("patient/*.read", "patient/Observation.rs?category=laboratory", True),
    # launch and identity scopes match only themselves
    ("openid", "openid", True),
    ("fhirUser", "fhirUser", True),
    ("launch", "launch/patient", False),
    ("launch/patient", "launch/patient", True),
    ("offline_access", "online_access", False),
    ("patient/*.cruds", "launch/patient", False),
    # tokensmith's own wildcards never stand for FHIR data
    ("*", "patient/Observation.read", False),
    ("*.*", "user/Patient.read", False),
    ("*", "openid", False),
    # malformed scopes are never covered, not even by themselves
    ("patient/Observation.sr", "patient/Observation.sr", False),
    ("patient/Observation.read?category=x", "patient/Observation.read?category=x", False),
    ("patient/observation.read", "patient/observation.read", False),
    ("launch/other", "launch/other", False),
]


@pytest.mark.parametrize(("granted", "requested", "expected"), REFERENCE)
def test_reference_table(granted: str, requested: str, expected: bool) -> None:
    assert covers(granted, requested) is expected


def test_registered_language_judges_smart_scopes_and_leaves_the_rest_to_resource_action() -> None:
    languages = ScopeLanguages()
    languages.register(SmartScopes())
    assert languages.not_covered(["patient/*.read", "Patient.read"],
                                 ["patient/Observation.rs", "Patient.read", "user/Observation.r"]) == [
        "user/Observation.r"]
    assert languages.language_of("openid").name == "smart"
    assert languages.language_of("Patient.read").name == "resource.action"


def test_validity() -> None:
    for good in ["patient/Patient.rs", "user/*.cruds", "system/*.c", "patient/Observation.rs?category=laboratory",
                 "patient/*.read", "user/Observation.write", "user/*.*", *LAUNCH_SCOPES]:
        assert is_valid_smart_scope(good), good
    for bad in ["patient/Patient.sr", "patient/Patient.rr", "patient/Patient.x", "patient/Patient.",
                "clinic/Patient.rs", "patient/patient.rs", "patient/Observation.rs?", "patient/Observation.rs?=x",
                "patient/Observation.read?category=x", "launch/other", "patient/Patient"]:
        assert not is_valid_smart_scope(bad), bad


def test_access_says_what_a_token_may_do() -> None:
    access = SmartAccess(["patient/Observation.rs?category=laboratory", "patient/Patient.read", "openid",
                          "user/*.cud", "Patient.read"])
    assert access.may("read", "Patient", context="patient")
    assert access.may("s", "Patient", context="patient")
    assert not access.may("update", "Patient", context="patient")
    lab = access.permit("read", "Observation", context="patient")
    assert lab is not None and not lab.unrestricted
    assert lab.conditions == (frozenset({("category", "laboratory")}),)
    assert access.permit("read", "Observation", context="user") is None
    assert access.may("create", "Encounter", context="user")
    assert access.permit("read", "Observation", context="system") is None
    assert access.contexts == {"patient", "user"}
    assert access.resource_types("patient") == {"Observation": frozenset("rs"), "Patient": frozenset("rs")}


@pytest.mark.parametrize(("scope", "words"), [
    ("patient/Observation.rs?category=laboratory", "Read your lab Observations"),
    ("patient/*.read", "Read your health records"),
    ("user/Patient.cruds", "Read, add, change and delete the Patients you have access to"),
    ("system/Observation.c", "Add all Observations"),
    ("patient/AllergyIntolerance.s", "Search your AllergyIntolerances"),
    ("user/Observation.rs?code=1234-5", "Read the Observations you have access to where code is 1234-5"),
    ("openid", "Confirm who you are"),
    ("offline_access", "Keep access when you are not using the app, until you revoke it"),
])
def test_plain_words(scope: str, words: str) -> None:
    assert describe(scope) == words


# ---- properties against the model -------------------------------------------------------------------------

CONTEXTS = ["patient", "user", "system"]
RESOURCES = ["Patient", "Observation", "Condition"]
PAIRS = [("category", "laboratory"), ("category", "vital-signs"), ("code", "x")]
ALL_RESTRICTIONS = [frozenset(c) for c in chain.from_iterable(combinations(PAIRS, n) for n in range(4))]


def _v2(perms: frozenset[str]) -> str:
    return "".join(c for c in "cruds" if c in perms)


@st.composite
def resource_scopes(draw: st.DrawFn) -> str:
    context = draw(st.sampled_from(CONTEXTS))
    resource = draw(st.sampled_from([*RESOURCES, "*"]))
    if draw(st.booleans()):
        return f"{context}/{resource}.{draw(st.sampled_from(['read', 'write', '*']))}"
    perms = draw(st.frozensets(st.sampled_from("cruds"), min_size=1))
    pairs = draw(st.lists(st.sampled_from(PAIRS), max_size=2, unique=True))
    query = "?" + "&".join(f"{k}={v}" for k, v in pairs) if pairs else ""
    return f"{context}/{resource}.{_v2(perms)}{query}"


def denotation(scope: str) -> set[tuple[str, str, str, frozenset[tuple[str, str]]]]:
    """What the scope allows, by brute force: every (context, resource, interaction, restriction) with a
    restriction at least as narrow as the scope's."""
    parsed = parse_smart_scope(scope)
    assert parsed is not None
    resources = RESOURCES if parsed.resource == "*" else [parsed.resource]
    return {(parsed.context, r, i, rs) for r in resources for i in parsed.interactions
            for rs in ALL_RESTRICTIONS if parsed.restrictions <= rs}


@settings(max_examples=400, deadline=None)
@given(resource_scopes(), resource_scopes())
def test_covers_is_inclusion_of_what_the_scopes_allow(granted: str, requested: str) -> None:
    assert covers(granted, requested) is (denotation(requested) <= denotation(granted))


@settings(max_examples=200, deadline=None)
@given(resource_scopes())
def test_v1_and_its_v2_spelling_are_the_same_scope(scope: str) -> None:
    assert covers(scope, scope)
    parsed = parse_smart_scope(scope)
    assert parsed is not None
    query = "?" + "&".join(f"{k}={v}" for k, v in sorted(parsed.restrictions)) if parsed.restrictions else ""
    v2 = f"{parsed.context}/{parsed.resource}.{_v2(parsed.interactions)}{query}"
    assert covers(scope, v2) and covers(v2, scope)


@settings(max_examples=300, deadline=None)
@given(resource_scopes(), resource_scopes(), resource_scopes())
def test_covers_is_transitive(a: str, b: str, c: str) -> None:
    if covers(a, b) and covers(b, c):
        assert covers(a, c)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='"\\'),
               min_size=1, max_size=40), resource_scopes())
def test_arbitrary_strings_never_crash_and_cover_only_what_they_parse_to(raw: str, scope: str) -> None:
    parsed = parse_smart_scope(raw)
    assert covers(raw, scope) is (parsed is not None and parsed.covers(parse_smart_scope(scope)))  # type: ignore[arg-type]
    assert isinstance(describe(raw), str)
