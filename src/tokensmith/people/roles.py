"""Roles: a named set of permissions (scope strings in the ``Resource.action`` language, matched by
:mod:`tokensmith.scopes`). Each tenant has the built-in roles ``owner``, ``admin``, ``developer`` and
``member`` (created by ``init``) plus any custom roles. Nobody can hand out more than they hold: a
role's permissions must be covered by the permissions of whoever creates or assigns it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tokensmith.clock import iso_z
from tokensmith.errors import Conflict, Forbidden, InvalidRequest, NotFound
from tokensmith.ids import new_id
from tokensmith.scopes import PLATFORM_RESOURCES, is_valid_scope_token, not_covered
from tokensmith.storage.models import Role, Tenant

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

ROLE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")


@dataclass(frozen=True)
class RoleRecord:
    id: str
    tenant_id: str
    name: str
    permissions: tuple[str, ...]
    builtin: bool
    created_at: Any = None

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "permissions": list(self.permissions),
                "builtin": self.builtin, "createdAt": iso_z(self.created_at)}


def role_record(row: Role) -> RoleRecord:
    return RoleRecord(id=row.id, tenant_id=row.tenant_id, name=row.name, permissions=tuple(row.permissions or ()),
                      builtin=bool(row.builtin), created_at=row.created_at)


def validate_permissions(permissions: list[str]) -> list[str]:
    cleaned = list(dict.fromkeys(p.strip() for p in permissions if p and p.strip()))
    for permission in cleaned:
        if not is_valid_scope_token(permission):
            raise InvalidRequest(f"invalid permission {permission!r}")
    return cleaned


def check_grantable(granted: tuple[str, ...] | list[str] | None, permissions: list[str] | tuple[str, ...]) -> None:
    """Refuse permissions the granting principal does not hold itself (``None``: the operator, via CLI)."""
    if granted is None:
        return
    missing = not_covered(granted, permissions)
    if missing:
        raise Forbidden(f"you cannot grant permissions you do not hold: {' '.join(missing)}")


async def find_role(session: AsyncSession, tenant_id: str, name: str) -> Role:
    row = (await session.execute(select(Role).where(Role.tenant_id == tenant_id, Role.name == name))).scalar()
    if row is None:
        raise NotFound(f"role {name!r} does not exist in this tenant")
    return row


async def _check_platform_permissions(session: Any, tenant_id: str, permissions: list[str]) -> None:
    """Platform permissions (``Tenant.*``) mean something only in the platform's own tenant; elsewhere a
    role never carries them, whoever creates it (the CLI operator included)."""
    from tokensmith.tenants import PLATFORM_TENANT

    platform = [p for p in permissions if p.partition(".")[0] in PLATFORM_RESOURCES]
    if not platform:
        return
    slug = (await session.execute(select(Tenant.slug).where(Tenant.id == tenant_id))).scalar()
    if slug != PLATFORM_TENANT:
        raise Forbidden(f"platform permissions exist only in the platform's own tenant: {' '.join(platform)}")


async def create_role(rt: Runtime, *, tenant_id: str, name: str, permissions: list[str],
                      granted: tuple[str, ...] | None = None, actor: str | None = None) -> RoleRecord:
    if not ROLE_NAME.match(name):
        raise InvalidRequest("a role name is 1-100 characters: lower-case letters, digits, '_', '.', '-'")
    permissions = validate_permissions(permissions)
    check_grantable(granted, permissions)
    try:
        async with rt.db.session() as session:
            await _check_platform_permissions(session, tenant_id, permissions)
            exists = (await session.execute(
                select(Role.id).where(Role.tenant_id == tenant_id, Role.name == name))).first()
            if exists:
                raise Conflict(f"role {name!r} already exists")
            row = Role(id=new_id(), tenant_id=tenant_id, name=name, permissions=permissions, builtin=False)
            session.add(row)
            await session.flush()
            record = role_record(row)
    except IntegrityError as exc:
        raise Conflict(f"role {name!r} already exists") from exc
    rt.audit.record("role.created", tenant_id=tenant_id, actor=actor, subject=name, permissions=permissions)
    return record


async def list_roles(rt: Runtime, tenant_id: str) -> list[RoleRecord]:
    async with rt.db.session() as session:
        rows = (await session.execute(
            select(Role).where(Role.tenant_id == tenant_id).order_by(Role.builtin.desc(), Role.name))).scalars()
        return [role_record(r) for r in rows]
