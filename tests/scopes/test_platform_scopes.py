"""Platform permissions (``Tenant.*``) are held only when named: no wildcard of a tenant admin covers them."""

from __future__ import annotations

from tokensmith.scopes import covers, not_covered


def test_no_wildcard_covers_a_platform_permission() -> None:
    for granted in ("*", "*.*", "*.read", "*.write"):
        assert not covers(granted, "Tenant.read") and not covers(granted, "Tenant.write")
        assert not covers(granted, "Tenant.*")
    assert covers("Tenant.*", "Tenant.write") and covers("Tenant.read", "Tenant.read")
    assert not covers("Tenant.read", "Tenant.write")
    assert not_covered(["*"], ["Tenant.*", "Patient.read"]) == ["Tenant.*"]
    assert covers("*", "Patient.read") and covers("*.read", "Patient.read")
