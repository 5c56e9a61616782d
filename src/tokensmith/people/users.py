"""Users of a tenant: people who sign in. Each has one role (its permissions become the ``scope`` of
the user's access tokens) and optional per-project permissions (``"<project>:<permission>"``).

Changing what a user may do takes effect at once: a role change, a new password or disabling the user
cuts off every access token the user holds (a ``user`` cut-off in the revocation feed); sign-in
sessions then refresh into tokens with the new permissions, or, for a disabled user or a new password,
are revoked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tokensmith.clock import iso_z
from tokensmith.emails import InvalidEmail, account_email, email_lookup_key
from tokensmith.errors import Conflict, InvalidRequest, NotFound
from tokensmith.ids import new_id
from tokensmith.people.passwords import check_password_policy, hash_password_async, verify_password_async
from tokensmith.people.roles import check_grantable, find_role
from tokensmith.scopes import is_valid_scope_token
from tokensmith.storage.models import Role, Tenant, User

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

STATUSES = ("active", "disabled")
_PROJECT_PERMISSION = re.compile(r"^[A-Za-z0-9_.-]{1,100}:[\x21\x23-\x5B\x5D-\x7E]+$")


@dataclass(frozen=True)
class UserRecord:
    """A user with the role it holds: everything a token needs, without the ORM."""

    id: str
    tenant_id: str
    email: str
    name: str | None
    role: str
    permissions: tuple[str, ...]
    project_permissions: tuple[str, ...]
    status: str
    totp_enabled: bool
    created_at: datetime | None = None
    last_login_at: datetime | None = None
    #: SMART ``fhirUser`` (``Practitioner/<id>`` or ``Patient/<id>`` of the tenant's directory)
    fhir_user: str | None = None

    @property
    def active(self) -> bool:
        return self.status == "active"

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "role": self.role,
            "permissions": list(self.permissions),
            "projectPermissions": list(self.project_permissions),
            "status": self.status,
            "totpEnabled": self.totp_enabled,
            "tenant": self.tenant_id,
            "createdAt": iso_z(self.created_at),
            "lastLoginAt": iso_z(self.last_login_at),
            "fhirUser": self.fhir_user,
        }


def user_record(user: User, role: Role) -> UserRecord:
    return UserRecord(
        id=user.id, tenant_id=user.tenant_id, email=user.email, name=user.name, role=role.name,
        permissions=tuple(role.permissions or ()), project_permissions=tuple(user.project_permissions or ()),
        status=user.status, totp_enabled=bool(user.totp_enabled), created_at=user.created_at,
        last_login_at=user.last_login_at, fhir_user=user.fhir_user,
    )


def validate_email(email: str) -> str:
    """The sign-in identity of a new user; 400 with the reason when the address is not valid."""
    try:
        return account_email(email)
    except InvalidEmail as exc:
        raise InvalidRequest(f"a valid e-mail address is required: {exc}") from None


def validate_project_permissions(values: list[str]) -> list[str]:
    cleaned = list(dict.fromkeys(v.strip() for v in values if v and v.strip()))
    for value in cleaned:
        if not _PROJECT_PERMISSION.match(value):
            raise InvalidRequest(f"invalid project permission {value!r} (expected '<project>:<permission>')")
    return cleaned


def _project_scopes(values: list[str] | tuple[str, ...]) -> list[str]:
    """The permission part of each ``project:permission`` (what the grantor must hold)."""
    return [v.split(":", 1)[1] for v in values if ":" in v and is_valid_scope_token(v.split(":", 1)[1])]


async def _load(session: AsyncSession, user_id: str, tenant_id: str | None = None) -> tuple[User, Role]:
    query = select(User, Role).join(Role, Role.id == User.role_id).where(User.id == user_id)
    if tenant_id is not None:
        query = query.where(User.tenant_id == tenant_id)
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFound("user not found")
    return row[0], row[1]


async def get_user(rt: Runtime, user_id: str, tenant_id: str | None = None) -> UserRecord:
    async with rt.db.session() as session:
        user, role = await _load(session, user_id, tenant_id)
        return user_record(user, role)


async def find_user(rt: Runtime, ident: str, tenant_id: str | None = None) -> UserRecord:
    """A user by id or e-mail (CLI convenience)."""
    async with rt.db.session() as session:
        query = select(User, Role).join(Role, Role.id == User.role_id).where(
            (User.id == ident) | (User.email == email_lookup_key(ident)))
        if tenant_id is not None:
            query = query.where(User.tenant_id == tenant_id)
        row = (await session.execute(query)).first()
        if row is None:
            raise NotFound(f"user {ident!r} not found")
        return user_record(row[0], row[1])


async def list_users(rt: Runtime, tenant_id: str) -> list[UserRecord]:
    async with rt.db.session() as session:
        rows = (await session.execute(
            select(User, Role).join(Role, Role.id == User.role_id).where(User.tenant_id == tenant_id)
            .order_by(User.created_at, User.email))).all()
        return [user_record(u, r) for u, r in rows]


async def tenant_slug(rt: Runtime, tenant_id: str) -> str | None:
    async with rt.db.session() as session:
        return (await session.execute(select(Tenant.slug).where(Tenant.id == tenant_id))).scalar()


async def create_user(
    rt: Runtime,
    *,
    tenant_id: str,
    email: str,
    password: str | None = None,
    role: str = "member",
    project_permissions: list[str] | None = None,
    name: str | None = None,
    granted: tuple[str, ...] | None = None,
    actor: str | None = None,
) -> UserRecord:
    """``granted``: the creator's permissions (None for the operator); the new user gets no more."""
    email = validate_email(email)
    projects = validate_project_permissions(project_permissions or [])
    if password is not None:
        check_password_policy(password, rt.settings.password_min_length)
    password_hash = await hash_password_async(password) if password is not None else None
    try:
        async with rt.db.session() as session:
            role_row = await find_role(session, tenant_id, role)
            check_grantable(granted, list(role_row.permissions or ()))
            check_grantable(granted, _project_scopes(projects))
            taken = (await session.execute(select(User.id).where(User.email == email))).first()
            if taken:
                raise Conflict("a user with this e-mail address already exists")
            user = User(id=new_id(), tenant_id=tenant_id, email=email, name=name, password_hash=password_hash,
                        role_id=role_row.id, project_permissions=projects, status="active", totp_enabled=False,
                        recovery_codes=[], failed_logins=0)
            session.add(user)
            await session.flush()
            record = user_record(user, role_row)
    except IntegrityError as exc:
        raise Conflict("a user with this e-mail address already exists") from exc
    rt.audit.record("user.created", tenant_id=tenant_id, actor=actor, subject=record.id, email=email,
                    role=record.role)
    return record


async def _active_owners(session: AsyncSession, tenant_id: str, excluding: str) -> int:
    return int((await session.execute(
        select(func.count()).select_from(User).join(Role, Role.id == User.role_id).where(
            User.tenant_id == tenant_id, Role.name == "owner", User.status == "active", User.id != excluding)
    )).scalar() or 0)


async def update_user(
    rt: Runtime,
    user_id: str,
    *,
    tenant_id: str | None = None,
    role: str | None = None,
    status: str | None = None,
    project_permissions: list[str] | None = None,
    name: str | None = None,
    password: str | None = None,
    disable_totp: bool = False,
    fhir_user: str | None = None,
    granted: tuple[str, ...] | None = None,
    actor: str | None = None,
) -> UserRecord:
    """Change role, status, project permissions, name, password or ``fhir_user`` (``""`` unlinks; a
    reference must name the tenant's SMART directory). ``granted`` as in :func:`create_user`;
    the caller must also hold every permission the user has now (no editing of more powerful users)."""
    if status is not None and status not in STATUSES:
        raise InvalidRequest(f"status must be one of {', '.join(STATUSES)}")
    projects = validate_project_permissions(project_permissions) if project_permissions is not None else None
    if password is not None:
        check_password_policy(password, rt.settings.password_min_length)
    new_hash = await hash_password_async(password) if password is not None else None
    now = rt.clock.now()
    events: list[tuple[str, dict[str, Any]]] = []
    cut_off = revoke_sessions = False
    async with rt.db.session() as session:
        user, current_role = await _load(session, user_id, tenant_id)
        check_grantable(granted, list(current_role.permissions or ()))
        check_grantable(granted, _project_scopes(user.project_permissions or []))
        new_role = current_role
        if role is not None and role != current_role.name:
            new_role = await find_role(session, user.tenant_id, role)
            check_grantable(granted, list(new_role.permissions or ()))
        leaves_owner = current_role.name == "owner" and (new_role.name != "owner" or status == "disabled")
        if leaves_owner and user.status == "active" and await _active_owners(session, user.tenant_id, user.id) == 0:
            raise Conflict("the tenant must keep at least one active owner")
        if new_role is not current_role:
            user.role_id = new_role.id
            cut_off = True
            events.append(("user.role_changed", {"from_role": current_role.name, "to_role": new_role.name}))
        if projects is not None and projects != list(user.project_permissions or []):
            check_grantable(granted, _project_scopes(projects))
            user.project_permissions = projects
            cut_off = True
            events.append(("user.project_permissions_changed", {"project_permissions": projects}))
        if status is not None and status != user.status:
            user.status = status
            if status == "disabled":
                cut_off = revoke_sessions = True
                user.locked_until = None
            events.append((f"user.{'disabled' if status == 'disabled' else 'enabled'}", {}))
        if name is not None and name != user.name:
            user.name = name
            events.append(("user.renamed", {}))
        if new_hash is not None:
            user.password_hash = new_hash
            user.failed_logins = 0
            user.locked_until = None
            cut_off = revoke_sessions = True
            events.append(("user.password_changed", {}))
        if fhir_user is not None and (fhir_user or None) != user.fhir_user:
            from tokensmith.smart.directory import check_fhir_user

            user.fhir_user = await check_fhir_user(session, user.tenant_id, fhir_user) if fhir_user else None
            events.append(("user.fhir_user_changed", {"fhir_user": user.fhir_user}))
        if disable_totp and user.totp_enabled:
            user.totp_enabled = False
            user.totp_secret_enc = None
            user.recovery_codes = []
            user.totp_last_step = None
            events.append(("user.totp_reset", {}))
        if cut_off:
            await rt.revocations.revoke(session, "user", user.id, not_before_ms=int(now * 1000))
        record = user_record(user, new_role)
    if revoke_sessions:
        from tokensmith.people.sessions import revoke_user_sessions

        await revoke_user_sessions(rt, record.id, reason="user changed", actor=actor, kinds=("login",))
    for event, data in events:
        rt.audit.record(event, tenant_id=record.tenant_id, actor=actor, subject=record.id, **data)
    return record


async def change_own_password(rt: Runtime, user_id: str, current: str, new: str, *, actor: str | None = None) -> None:
    """Self-service: the current password is required (wrong ones count towards the account's lockout,
    so a stolen access token cannot be used to guess it); every other sign-in session ends."""
    check_password_policy(new, rt.settings.password_min_length)
    guard = rt.login_throttle
    account, attempt = await guard.reserve_account(user_id=user_id)
    if not await verify_password_async(account.password_hash, current):
        await guard.failed(user_id, "", attempt)
        raise InvalidRequest("the current password is wrong")
    await update_user(rt, user_id, password=new, actor=actor)
