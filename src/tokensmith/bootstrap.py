"""``tokensmith init``: database, first signing keys, default tenant with built-in roles, first admin.
Idempotent: running it again changes nothing that exists."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, text

from tokensmith.emails import InvalidEmail, account_email
from tokensmith.errors import InvalidRequest
from tokensmith.ids import new_id
from tokensmith.people.passwords import hash_password
from tokensmith.signing_keys.lifecycle import ensure_keys
from tokensmith.storage.migrate import upgrade
from tokensmith.storage.models import Role, User
from tokensmith.tenants.provisioning import ensure_tenant

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]  # typeshed: the module exists; off POSIX it does not

_INIT_LOCK_ID = 0x746F6B696E6974  # "tokinit"
#: the roles whose members can manage a tenant (``serve`` suggests creating one while there is none)
ADMIN_ROLES = ("owner", "admin")


@asynccontextmanager
async def _init_lock(rt: Runtime) -> AsyncIterator[None]:
    """Serialise ``initialise`` across instances that start at the same time: on PostgreSQL a session
    advisory lock, on a SQLite file an exclusive ``flock`` on a lock file next to it. Whoever comes second
    finds everything in place."""
    if rt.db.dialect == "postgresql":
        async with rt.db.engine.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _INIT_LOCK_ID})
            await conn.commit()
            try:
                yield
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _INIT_LOCK_ID})
                await conn.commit()
        return
    path = rt.settings.sqlite_path()
    if path is None or fcntl is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = await asyncio.to_thread(os.open, f"{path}.init-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _admin_email(value: str) -> str:
    try:
        return account_email(value)
    except InvalidEmail as exc:
        raise InvalidRequest(f"the admin e-mail is not valid: {exc}") from None


async def initialise(rt: Runtime, *, admin_email: str | None = None,
                     admin_password: str | None = None) -> dict[str, Any]:
    email = _admin_email(admin_email) if admin_email else None
    async with _init_lock(rt):
        await upgrade(rt.db)
        created_keys = await ensure_keys(rt)
        tenant = await ensure_tenant(rt)
        admin_created = False
        if email:
            async with rt.db.session() as session:
                user = (await session.execute(select(User).where(User.email == email))).scalar()
                if user is None:
                    if not admin_password:
                        raise InvalidRequest("a password is needed to create the first admin "
                                             "(--admin-password or TOKENSMITH_ADMIN_PASSWORD)")
                    if len(admin_password) < rt.settings.password_min_length:
                        raise InvalidRequest(f"the admin password must be at least "
                                             f"{rt.settings.password_min_length} characters long")
                    owner = (await session.execute(
                        select(Role).where(Role.tenant_id == tenant.id, Role.name == "owner"))).scalar_one()
                    user = User(id=new_id(), tenant_id=tenant.id, email=email,
                                password_hash=hash_password(admin_password),
                                role_id=owner.id, project_permissions=[], status="active")
                    session.add(user)
                    admin_created = True
            if admin_created:
                rt.audit.record("user.created", tenant_id=tenant.id, subject=email, role="owner")
        admin_exists = await _has_admin(rt, tenant.id)
    await rt.audit.flush()
    return {"tenant": tenant.slug, "tenant_id": tenant.id, "signing_key_created": created_keys,
            "admin_email": email, "admin_created": admin_created, "admin_exists": admin_exists}


async def _has_admin(rt: Runtime, tenant_id: str) -> bool:
    """Whether someone can sign in to manage the tenant (an active owner or admin): ``serve`` only suggests
    creating the first admin when there is none."""
    async with rt.db.session() as session:
        found = (await session.execute(
            select(User.id).join(Role, Role.id == User.role_id)
            .where(User.tenant_id == tenant_id, User.status == "active", Role.name.in_(ADMIN_ROLES)).limit(1)
        )).first()
    return found is not None
