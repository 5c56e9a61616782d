"""The one scope matcher (``tokensmith.scopes.covers``), property-tested against a model of what a scope
stands for: ``*`` is every scope; ``R.A`` with ``*`` for either part is every concrete ``Resource.action``
that agrees on the other part; anything else is itself."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tokensmith.scopes import covered_by_any, covers, is_valid_scope_token, not_covered

RESOURCES = ["Patient", "Observation", "Encounter", "patient/Observation", "A", "b"]
ACTIONS = ["read", "write", "delete", "rs"]

names = st.text(alphabet="ABCXYZabcxyz/_-0", min_size=1, max_size=6)
resources = st.one_of(st.sampled_from(RESOURCES), names)
actions = st.one_of(st.sampled_from(ACTIONS), names)
concrete_scopes = st.builds(lambda r, a: f"{r}.{a}", resources, actions)
plain_scopes = st.sampled_from(["openid", "offline_access", "fhirUser", "api", "launch"])
wild_scopes = st.one_of(
    st.just("*"),
    st.builds(lambda r: f"{r}.*", resources),
    st.builds(lambda a: f"*.{a}", actions),
    st.just("*.*"),
)
any_scope = st.one_of(concrete_scopes, plain_scopes, wild_scopes)
# Anything RFC 6749 §3.3 allows, including odd shapes ("a.", ".b", "a.b.c", "**").
raw_scopes = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='"\\'),
                     min_size=1, max_size=12)


def _split(scope: str) -> tuple[str, str] | None:
    resource, dot, action = scope.partition(".")
    return (resource, action) if dot and resource and action else None


def denotes(scope: str, concrete: str) -> bool:
    """The model: does ``scope`` stand for the concrete scope ``concrete``?"""
    if scope == "*":
        return True
    s = _split(scope)
    if s is None or "*" not in s:
        return scope == concrete
    c = _split(concrete)
    if c is None:
        return False
    return (s[0] == "*" or s[0] == c[0]) and (s[1] == "*" or s[1] == c[1])


def instances(scope: str, resource: str, action: str, plain: str) -> list[str]:
    """Concrete scopes ``scope`` stands for, built from the drawn parts (a sample, not all of them)."""
    if scope == "*":
        return [f"{resource}.{action}", plain]
    s = _split(scope)
    if s is None or "*" not in s:
        return [scope]
    r = resource if s[0] == "*" else s[0]
    a = action if s[1] == "*" else s[1]
    return [f"{r}.{a}"]


@settings(max_examples=600, deadline=None)
@given(granted=st.lists(any_scope, max_size=5), requested=any_scope, resource=resources, action=actions,
       plain=plain_scopes)
def test_no_granted_set_matches_a_request_outside_it(granted: list[str], requested: str, resource: str,
                                                     action: str, plain: str) -> None:
    if covered_by_any(granted, requested):
        for concrete in instances(requested, resource, action, plain):
            assert any(denotes(g, concrete) for g in granted), (granted, requested, concrete)


@settings(max_examples=300, deadline=None)
@given(granted=st.lists(raw_scopes, max_size=4), requested=raw_scopes)
def test_arbitrary_scope_strings_match_only_what_they_stand_for(granted: list[str], requested: str) -> None:
    if covered_by_any(granted, requested) and requested != "*" and "*" not in (_split(requested) or ()):
        assert any(denotes(g, requested) for g in granted), (granted, requested)


@settings(max_examples=300, deadline=None)
@given(scope=st.one_of(any_scope, raw_scopes))
def test_star_matches_everything(scope: str) -> None:
    assert covers("*", scope)
    assert covered_by_any(["Patient.read", "*"], scope)


@settings(max_examples=300, deadline=None)
@given(x=resources, y=resources, action=actions)
def test_resource_wildcard_never_matches_another_resource(x: str, y: str, action: str) -> None:
    if x != y and x != "*":
        assert not covers(f"{x}.*", f"{y}.read")
        assert not covers(f"{x}.*", f"{y}.{action}")
    assert covers(f"{y}.*", f"{y}.{action}")


@settings(max_examples=300, deadline=None)
@given(granted=st.lists(any_scope, max_size=5), resource=resources, action=actions, plain=plain_scopes)
def test_a_concrete_request_inside_the_granted_set_is_covered(granted: list[str], resource: str, action: str,
                                                              plain: str) -> None:
    for concrete in (f"{resource}.{action}", plain):
        if any(denotes(g, concrete) for g in granted):
            assert covered_by_any(granted, concrete)


@settings(max_examples=300, deadline=None)
@given(a=any_scope, b=any_scope, c=any_scope)
def test_covers_is_reflexive_and_transitive(a: str, b: str, c: str) -> None:
    assert covers(a, a)
    if covers(a, b) and covers(b, c):
        assert covers(a, c), (a, b, c)


@settings(max_examples=200, deadline=None)
@given(granted=st.lists(any_scope, max_size=5), requested=st.lists(any_scope, max_size=5))
def test_not_covered_lists_exactly_the_uncovered(granted: list[str], requested: list[str]) -> None:
    assert not_covered(granted, requested) == [r for r in requested if not covered_by_any(granted, r)]


def test_documented_table() -> None:
    # The table of the upstream documentation: Patient.read, Patient.write, Patient.*, *.read, *.
    assert covers("Patient.read", "Patient.read")
    assert not covers("Patient.read", "Patient.write")
    assert covers("Patient.*", "Patient.read") and covers("Patient.*", "Patient.write")
    assert not covers("Patient.*", "Observation.read")
    assert covers("*.read", "Observation.read") and not covers("*.read", "Observation.write")
    assert covers("*", "Observation.write") and covers("*", "openid") and covers("*", "*")


def test_wildcards_are_whole_parts_and_never_widen() -> None:
    assert not covers("Pat*.read", "Patient.read")
    assert not covers("*.read", "*")
    assert not covers("*.*", "*")  # "*" also stands for scopes that are not Resource.action
    assert covers("*.*", "Patient.read")
    assert not covers("*.*", "openid")
    assert not covers("Patient.read", "Patient.*")
    assert not covers("Patient.read", "*.read")
    assert not covers("*.read", "Patient.*")
    assert not covers("openid", "openid.read")
    assert not covers("Patient.", "Patient.read")
    assert is_valid_scope_token("Patient.*") and not is_valid_scope_token("Patient read")
