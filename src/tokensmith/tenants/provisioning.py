"""The tenants every deployment has and the roles every tenant starts with: the platform's own tenant
(created by ``init``, or on first use by the CLI) and the built-in roles, which ``init`` also tops up on
deployments from before a built-in role gained a permission."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from tokensmith.errors import NotFound
from tokensmith.ids import new_id
from tokensmith.storage.models import Role, Tenant
from tokensmith.tenants.states import PLATFORM_TENANT

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

#: the platform's own tenant: ``init`` creates it, and its owners run the platform
DEFAULT_TENANT = PLATFORM_TENANT
BUILTIN_ROLES: dict[str, list[str]] = {
    "owner": ["*"],
    "admin": ["*"],
    "developer": ["ApiKey.*", "Client.*", "App.*", "UserToken.*", "Session.*", "*.read"],
    "member": ["UserToken.*", "Session.*", "*.read"],
}
#: The platform's own tenant's owners also run the platform (``/tenants``); no wildcard stands for it.
PLATFORM_OWNER_PERMISSIONS = ["*", "Tenant.*"]


def builtin_roles(slug: str) -> dict[str, list[str]]:
    if slug != DEFAULT_TENANT:
        return BUILTIN_ROLES
    return {**BUILTIN_ROLES, "owner": PLATFORM_OWNER_PERMISSIONS}


async def ensure_tenant(rt: Runtime, slug: str = DEFAULT_TENANT, name: str | None = None) -> Tenant:
    async with rt.db.session() as session:
        tenant = (await session.execute(select(Tenant).where(Tenant.slug == slug))).scalar()
        if tenant is None:
            tenant = Tenant(id=new_id(), slug=slug, name=name or slug)
            session.add(tenant)
            await session.flush()
            rt.audit.record("tenant.created", tenant_id=tenant.id, subject=slug)
        existing = {r.name: r for r in (await session.execute(
            select(Role).where(Role.tenant_id == tenant.id))).scalars()}
        for role_name, permissions in builtin_roles(slug).items():
            role = existing.get(role_name)
            if role is None:
                session.add(Role(id=new_id(), tenant_id=tenant.id, name=role_name, permissions=permissions,
                                 builtin=True))
            elif role.builtin and not set(permissions) <= set(role.permissions or ()):
                # a deployment from before platform permissions: its platform owners gain Tenant.*
                role.permissions = list(dict.fromkeys([*(role.permissions or ()), *permissions]))
        return tenant


async def tenant_id_for(rt: Runtime, slug: str) -> str:
    """The id of tenant ``slug``; the default tenant is created on first use."""
    async with rt.db.session() as session:
        tenant = (await session.execute(select(Tenant).where(Tenant.slug == slug))).scalar()
    if tenant is not None:
        return tenant.id
    if slug == DEFAULT_TENANT:
        return (await ensure_tenant(rt, slug)).id
    raise NotFound(f"tenant {slug!r} does not exist")
