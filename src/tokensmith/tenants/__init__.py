"""Tenants: the platform's integrators. Their lifecycle (:mod:`tokensmith.tenants.service`) is for the
platform's operators; which tenants are disabled is known to every process in memory
(:mod:`tokensmith.tenants.states`), so that no request pays a database round trip to ask."""

from tokensmith.tenants.states import PLATFORM_TENANT, TenantStates

__all__ = ["PLATFORM_TENANT", "TenantStates"]
