"""The tenant lifecycle, for platform operators (CLI ``tokensmith tenants``, API ``/tenants``).

* **create**: the tenant, its built-in roles and its first admin (role ``owner``) in one transaction — a
  tenant never exists without someone who can manage it. Without a password one is generated and
  returned once (it is stored only as an argon2id hash).
* **disable**: every credential of the tenant stops working everywhere within a second: a ``tenant``
  cut-off in the revocation feed kills every token issued before now (JWT and opaque), and ``changed
  tenant:<id>`` makes every process reload which tenants are disabled, which the API-key, client, sign-in,
  refresh and user-token checks consult in memory.
* **enable**: new tokens work again; tokens (and refresh tokens) issued before the enable stay dead — the
  cut-off moves to the enable time, so nothing issued while the tenant was disabled can come back.
* **delete**: only a disabled tenant without live credentials (unrevoked API keys, active OAuth clients);
  its users, roles, sessions, stored tokens, revoked keys, disabled clients and exchange users go with
  it, its audit events never do. The platform's own tenant can be neither disabled nor deleted.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from tokensmith.clock import iso_z, utc
from tokensmith.errors import Conflict, InvalidRequest, NotFound
from tokensmith.ids import new_id, random_token
from tokensmith.people.passwords import check_password_policy, hash_password_async
from tokensmith.people.users import validate_email
from tokensmith.storage.models import (
    ApiKey,
    ExchangeUser,
    OAuthClient,
    Role,
    Session,
    Tenant,
    Token,
    User,
)
from tokensmith.tenants.states import CHANGE_PREFIX, PLATFORM_TENANT

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
MAX_NAME = 200
MAX_RATE_LIMIT = 10_000_000
GENERATED_PASSWORD_BYTES = 18  # 24 URL-safe characters, 144 bits
FIRST_ADMIN_ROLE = "owner"


@dataclass(frozen=True)
class TenantRecord:
    id: str
    slug: str
    name: str
    default_rate_limit: int | None
    created_at: datetime | None
    disabled_at: datetime | None

    @property
    def status(self) -> str:
        return "disabled" if self.disabled_at is not None else "active"

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "slug": self.slug, "name": self.name, "defaultRateLimit": self.default_rate_limit,
                "status": self.status, "createdAt": iso_z(self.created_at), "disabledAt": iso_z(self.disabled_at)}


def _record(row: Tenant) -> TenantRecord:
    return TenantRecord(id=row.id, slug=row.slug, name=row.name, default_rate_limit=row.default_rate_limit,
                        created_at=row.created_at, disabled_at=row.disabled_at)


def validate_slug(slug: str) -> str:
    if not isinstance(slug, str) or not SLUG.match(slug):
        raise InvalidRequest("a tenant slug is 1-64 characters: lower-case letters, digits and '-' "
                             "(not first or last)")
    return slug


def validate_name(name: str) -> str:
    cleaned = name.strip() if isinstance(name, str) else ""
    if not cleaned or len(cleaned) > MAX_NAME:
        raise InvalidRequest(f"a tenant name is 1-{MAX_NAME} characters")
    if any(unicodedata.category(c) == "Cc" for c in cleaned):
        raise InvalidRequest("a tenant name must not contain control characters")
    return cleaned


def validate_rate_limit(value: int | None) -> int | None:
    if value is not None and (isinstance(value, bool) or not 1 <= value <= MAX_RATE_LIMIT):
        raise InvalidRequest(f"the default rate limit is between 1 and {MAX_RATE_LIMIT} requests per minute")
    return value


async def _find(session: Any, ref: str) -> Tenant:
    """A tenant by id or slug."""
    row: Tenant | None = (await session.execute(
        select(Tenant).where((Tenant.id == ref) | (Tenant.slug == ref)))).scalar()
    if row is None:
        raise NotFound(f"tenant {ref!r} does not exist")
    return row


async def create_tenant(rt: Runtime, *, slug: str, name: str, admin_email: str, admin_password: str | None = None,
                        default_rate_limit: int | None = None,
                        actor: str | None = None) -> tuple[TenantRecord, dict[str, Any], str | None]:
    """(tenant, first admin's view, generated password or None). The password is returned only here."""
    from tokensmith.tenants.provisioning import BUILTIN_ROLES

    slug, name = validate_slug(slug), validate_name(name)
    default_rate_limit = validate_rate_limit(default_rate_limit)
    email = validate_email(admin_email)
    generated = random_token(GENERATED_PASSWORD_BYTES) if admin_password is None else None
    password = admin_password if admin_password is not None else generated
    assert password is not None
    check_password_policy(password, rt.settings.password_min_length)
    password_hash = await hash_password_async(password)
    try:
        async with rt.db.session() as session:
            if (await session.execute(select(Tenant.id).where(Tenant.slug == slug))).first():
                raise Conflict(f"tenant {slug!r} already exists")
            if (await session.execute(select(User.id).where(User.email == email))).first():
                raise Conflict("a user with this e-mail address already exists")
            tenant = Tenant(id=new_id(), slug=slug, name=name, default_rate_limit=default_rate_limit,
                            created_at=utc(rt.clock.now()))
            session.add(tenant)
            await session.flush()
            roles = {role: Role(id=new_id(), tenant_id=tenant.id, name=role, permissions=list(permissions),
                                builtin=True) for role, permissions in BUILTIN_ROLES.items()}
            session.add_all(roles.values())
            await session.flush()
            admin = User(id=new_id(), tenant_id=tenant.id, email=email, password_hash=password_hash,
                         role_id=roles[FIRST_ADMIN_ROLE].id, project_permissions=[], status="active",
                         totp_enabled=False, recovery_codes=[], failed_logins=0)
            session.add(admin)
            await session.flush()
            record = _record(tenant)
            admin_view = {"id": admin.id, "email": email, "role": FIRST_ADMIN_ROLE}
    except IntegrityError as exc:  # a concurrent create of the same slug or e-mail
        raise Conflict("the tenant slug or the admin's e-mail address is already taken") from exc
    rt.audit.record("tenant.created", tenant_id=record.id, actor=actor, subject=slug, name=name,
                    default_rate_limit=default_rate_limit)
    rt.audit.record("user.created", tenant_id=record.id, actor=actor, subject=admin_view["id"], email=email,
                    role=FIRST_ADMIN_ROLE, password_generated=generated is not None)
    return record, admin_view, generated


async def list_tenants(rt: Runtime) -> list[TenantRecord]:
    async with rt.db.session() as session:
        rows = (await session.execute(select(Tenant).order_by(Tenant.created_at, Tenant.slug))).scalars().all()
        return [_record(r) for r in rows]


async def get_tenant(rt: Runtime, ref: str) -> TenantRecord:
    async with rt.db.session() as session:
        return _record(await _find(session, ref))


async def _contents(session: Any, tenant_id: str) -> dict[str, int]:
    async def count(model: Any, *where: Any) -> int:
        query = select(func.count()).select_from(model).where(model.tenant_id == tenant_id, *where)
        return int((await session.execute(query)).scalar_one())

    return {"users": await count(User), "apiKeys": await count(ApiKey, ApiKey.revoked_at.is_(None)),
            "clients": await count(OAuthClient, OAuthClient.status == "active"),
            "exchangeUsers": await count(ExchangeUser)}


async def tenant_contents(rt: Runtime, tenant_id: str) -> dict[str, int]:
    """What a tenant holds (``show``; ``delete`` refuses while API keys or clients are live)."""
    async with rt.db.session() as session:
        return await _contents(session, tenant_id)


async def update_tenant(rt: Runtime, ref: str, *, name: str | None = None, default_rate_limit: int | None = None,
                        clear_rate_limit: bool = False, actor: str | None = None) -> TenantRecord:
    """Rename and/or change the default rate limit (``clear_rate_limit``: back to the deployment default).
    API keys without a limit of their own follow the new default at once on every instance."""
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = validate_name(name)
    if clear_rate_limit:
        changes["default_rate_limit"] = None
    elif default_rate_limit is not None:
        changes["default_rate_limit"] = validate_rate_limit(default_rate_limit)
    async with rt.db.session() as session:
        row = await _find(session, ref)
        for field, value in changes.items():
            setattr(row, field, value)
        key_client_ids: list[str] = []
        if "default_rate_limit" in changes:
            key_client_ids = list((await session.execute(
                select(ApiKey.client_id).where(ApiKey.tenant_id == row.id))).scalars())
            await rt.revocations.changed(session, f"{CHANGE_PREFIX}{row.id}")
        record = _record(row)
    if key_client_ids:
        directory = rt.apikeys.directory
        for client_id in key_client_ids:  # Redis copies of the keys carry the old default
            await directory.bump_generation(client_id)
    if changes:
        rt.audit.record("tenant.updated", tenant_id=record.id, actor=actor, subject=record.slug,
                        changes=sorted(changes))
    return record


async def set_tenant_status(rt: Runtime, ref: str, active: bool, *, actor: str | None = None) -> TenantRecord:
    """Disable or enable. Both write a ``tenant`` cut-off at now: on disable it kills every token issued
    so far; on enable it kills anything a lagging instance may have issued while the tenant was disabled."""
    now = rt.clock.now()
    now_ms = int(now * 1000)
    async with rt.db.session() as session:
        row = await _find(session, ref)
        if row.slug == PLATFORM_TENANT:
            raise Conflict("the platform's own tenant cannot be disabled")
        changed = (row.disabled_at is None) != active
        if changed:
            row.disabled_at = None if active else utc(now)
            await rt.revocations.revoke(session, "tenant", row.id, not_before_ms=now_ms)
            await rt.revocations.changed(session, f"{CHANGE_PREFIX}{row.id}")
        record = _record(row)
    await rt.tenants.load()  # this process at once; the others through the feed
    if changed:
        rt.audit.record("tenant.enabled" if active else "tenant.disabled", tenant_id=record.id, actor=actor,
                        subject=record.slug)
    return record


async def delete_tenant(rt: Runtime, ref: str, *, actor: str | None = None) -> TenantRecord:
    """Delete a disabled tenant that has no live credentials (see the module docstring)."""
    async with rt.db.session() as session:
        row = await _find(session, ref)
        if row.slug == PLATFORM_TENANT:
            raise Conflict("the platform's own tenant cannot be deleted")
        if row.disabled_at is None:
            raise Conflict(f"tenant {row.slug!r} is active: disable it first")
        contents = await _contents(session, row.id)
        live = [f"{contents[k]} {label}" for k, label in (("apiKeys", "unrevoked API key(s)"),
                                                          ("clients", "active OAuth client(s)")) if contents[k]]
        if live:
            raise Conflict(f"tenant {row.slug!r} still has {' and '.join(live)}: revoke or disable them first")
        record = _record(row)
        for model in (Token, Session, ExchangeUser, ApiKey, OAuthClient, User, Role):
            await session.execute(delete(model).where(model.tenant_id == row.id))
        await session.delete(row)
    rt.audit.record("tenant.deleted", tenant_id=record.id, actor=actor, subject=record.slug, name=record.name)
    return record
