"""``tokensmith init``: database, first signing keys, default tenant with built-in roles, first admin.
Idempotent: running it again changes nothing that exists."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tokensmith.ids import new_id
from tokensmith.people.passwords import hash_password
from tokensmith.services.signing_keys import ensure_keys
from tokensmith.storage.migrate import upgrade
from tokensmith.storage.models import Role, Tenant, User

DEFAULT_TENANT = "default"
BUILTIN_ROLES: dict[str, list[str]] = {
    "owner": ["*"],
    "admin": ["*"],
    "developer": ["ApiKey.*", "Client.*", "App.*", "UserToken.*", "Session.*", "*.read"],
    "member": ["UserToken.*", "Session.*", "*.read"],
}


async def ensure_tenant(rt: Any, slug: str = DEFAULT_TENANT, name: str | None = None) -> Tenant:
    async with rt.db.session() as session:
        tenant = (await session.execute(select(Tenant).where(Tenant.slug == slug))).scalar()
        if tenant is None:
            tenant = Tenant(id=new_id(), slug=slug, name=name or slug)
            session.add(tenant)
            await session.flush()
            rt.audit.record("tenant.created", tenant_id=tenant.id, subject=slug)
        existing = set((await session.execute(select(Role.name).where(Role.tenant_id == tenant.id))).scalars())
        for role_name, permissions in BUILTIN_ROLES.items():
            if role_name not in existing:
                session.add(Role(id=new_id(), tenant_id=tenant.id, name=role_name, permissions=permissions,
                                 builtin=True))
        return tenant


async def initialise(rt: Any, *, admin_email: str | None = None, admin_password: str | None = None) -> dict[str, Any]:
    await upgrade(rt.db)
    created_keys = await ensure_keys(rt)
    tenant = await ensure_tenant(rt)
    admin_created = False
    if admin_email:
        async with rt.db.session() as session:
            user = (await session.execute(select(User).where(User.email == admin_email.lower()))).scalar()
            if user is None:
                owner = (await session.execute(
                    select(Role).where(Role.tenant_id == tenant.id, Role.name == "owner"))).scalar_one()
                user = User(id=new_id(), tenant_id=tenant.id, email=admin_email.lower(),
                            password_hash=hash_password(admin_password) if admin_password else None,
                            role_id=owner.id, project_permissions=[], status="active")
                session.add(user)
                admin_created = True
        if admin_created:
            rt.audit.record("user.created", tenant_id=tenant.id, subject=admin_email.lower(), role="owner")
    await rt.audit.flush()
    return {"tenant": tenant.slug, "tenant_id": tenant.id, "signing_key_created": created_keys,
            "admin_email": admin_email.lower() if admin_email else None, "admin_created": admin_created}


async def tenant_id_for(rt: Any, slug: str) -> str:
    """The id of tenant ``slug``; the default tenant is created on first use."""
    from tokensmith.errors import NotFound

    async with rt.db.session() as session:
        tenant = (await session.execute(select(Tenant).where(Tenant.slug == slug))).scalar()
    if tenant is not None:
        return tenant.id
    if slug == DEFAULT_TENANT:
        return (await ensure_tenant(rt, slug)).id
    raise NotFound(f"tenant {slug!r} does not exist")
