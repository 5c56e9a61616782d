"""API key management (spec E), shared by the HTTP API (``/api-keys``) and the CLI (``tokensmith apikeys``).

Rules enforced here, whoever calls:

* "A key can never get scopes beyond its creator's own permissions": the requested scopes must be covered
  by ``creator_scopes`` (None only for the operator's CLI). The same holds for any later change, and for
  rotation (which hands out a secret): nobody manages a key more powerful than themselves — except to
  revoke it, which only ever reduces access.
* The secret is returned once (by ``create`` and ``rotate``) and stored only as a keyed hash.
* Revoking, deactivating and rotating without grace cut off every session token the key issued before
  (revocation feed kind ``apikey``, matched on the tokens' ``api_key_id`` claim).
* Every change reaches every instance's cache through the revocation feed (see
  :mod:`tokensmith.apikeys.directory` for the ordering).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, overload

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tokensmith.apikeys.credentials import looks_like_client_id, new_client_id, new_secret
from tokensmith.apikeys.records import ApiKeyRecord, from_row
from tokensmith.errors import MessageError, ValidationFailed
from tokensmith.ids import new_id
from tokensmith.scopes import is_valid_scope_token, not_covered
from tokensmith.storage.models import ApiKey, Tenant

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

MAX_RATE_LIMIT = 10_000_000
MIN_TOKEN_TTL = 60
MAX_SCOPES = 100
MAX_ORGANISATIONS = 1000
UPDATABLE = frozenset({"name", "scopes", "active", "rate_limit", "expires_at", "token_ttl",
                       "allowed_organisations", "allow_browser"})
_API_NAMES = {"name": "name", "scopes": "scopes", "active": "active", "rate_limit": "rateLimit",
              "expires_at": "expiresAt", "token_ttl": "tokenTtl", "allowed_organisations": "allowedOrganisations",
              "allow_browser": "allowBrowser", "grace_seconds": "gracePeriodSeconds"}


class ScopesBeyondCreator(MessageError):
    status = 403
    code = "scopes_beyond_creator"


class ApiKeyNotFound(MessageError):
    status = 404
    code = "not_found"

    def __init__(self) -> None:
        super().__init__("API key not found")


class ApiKeyRevoked(MessageError):
    status = 409
    code = "conflict"

    def __init__(self) -> None:
        super().__init__("API key is revoked")


def _invalid(field: str, msg: str) -> ValidationFailed:
    return ValidationFailed([{"loc": [_API_NAMES.get(field, field)], "msg": msg, "type": "value_error"}])


@overload
def _dt(ts: float) -> datetime: ...
@overload
def _dt(ts: None) -> None: ...
def _dt(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


def _cutoff_ms(now: float) -> int:
    """Tokens issued up to and including this millisecond die: one issued in the very millisecond of a
    revocation was issued by the key being revoked (``jti`` carries the issue time in ms, UUIDv7)."""
    return int(now * 1000) + 1


def _check_scopes(scopes: Sequence[str], creator_scopes: Sequence[str] | None) -> list[str]:
    scopes = list(dict.fromkeys(scopes))
    if len(scopes) > MAX_SCOPES:
        raise _invalid("scopes", f"at most {MAX_SCOPES} scopes")
    for scope in scopes:
        if not is_valid_scope_token(scope):
            raise _invalid("scopes", f"invalid scope {scope[:100]!r}")
    if creator_scopes is not None:
        beyond = not_covered(creator_scopes, scopes)
        if beyond:
            raise ScopesBeyondCreator(f"A key cannot get scopes beyond your own permissions: {' '.join(beyond)}"[:500])
    return scopes


def _check_may_manage(row: ApiKey, creator_scopes: Sequence[str] | None) -> None:
    if creator_scopes is None:
        return
    beyond = not_covered(creator_scopes, row.scopes or [])
    if beyond:
        raise ScopesBeyondCreator(
            f"This API key has scopes beyond your own permissions ({' '.join(beyond)}); "
            "you may revoke it but not change or rotate it"[:500])


def _check_expiry(rt: Runtime, expires_at: float | None) -> None:
    if expires_at is not None and expires_at <= rt.clock.now():
        raise _invalid("expires_at", "must be in the future")


def _check_rate_limit(rate_limit: int | None) -> None:
    if rate_limit is not None and not 1 <= rate_limit <= MAX_RATE_LIMIT:
        raise _invalid("rate_limit", f"must be between 1 and {MAX_RATE_LIMIT} requests per minute, or null")


def _check_token_ttl(rt: Runtime, token_ttl: int) -> None:
    top = rt.settings.exchange_max_token_ttl
    if not MIN_TOKEN_TTL <= token_ttl <= top:
        raise _invalid("token_ttl", f"must be between {MIN_TOKEN_TTL} and {top} seconds")


def _check_organisations(orgs: Sequence[str] | None) -> list[str] | None:
    if orgs is None:
        return None
    cleaned = list(dict.fromkeys(" ".join(o.split()) for o in orgs))
    if any(not o or len(o) > 300 for o in cleaned) or len(cleaned) > MAX_ORGANISATIONS:
        raise _invalid("allowed_organisations",
                       f"at most {MAX_ORGANISATIONS} non-empty names of at most 300 characters, or null")
    return cleaned


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise _invalid("name", "must be 1 to 200 characters")
    return name


async def _tenant_default(session: AsyncSession, tenant_id: str) -> int | None:
    return (await session.execute(select(Tenant.default_rate_limit).where(Tenant.id == tenant_id))).scalar()


def _record(rt: Runtime, row: ApiKey, tenant_default: int | None) -> ApiKeyRecord:
    return from_row(row, tenant_default, rt.settings.api_key_default_rate_limit)


async def _propagate(rt: Runtime, row_id: str, client_id: str) -> None:
    """After the commit: make every Redis copy stale, then announce the change again (committed this
    time), so no instance can reload the pre-commit state and keep it."""
    keys = rt.apikeys
    await keys.directory.bump_generation(client_id)
    keys.directory.invalidate(client_id)
    await rt.revocations.changed(None, f"apikey:{row_id}")


async def create_api_key(
    rt: Runtime,
    *,
    tenant_id: str,
    name: str,
    scopes: Sequence[str],
    expires_at: float | None = None,
    rate_limit: int | None = None,
    token_ttl: int | None = None,
    allowed_organisations: Sequence[str] | None = None,
    allow_browser: bool = False,
    creator_scopes: Sequence[str] | None = None,
    actor: str | None = None,
    ip: str | None = None,
    request_id: str | None = None,
) -> tuple[ApiKeyRecord, str]:
    """Create a key; returns (record, secret). The secret exists only in this return value."""
    name = _check_name(name)
    scopes = _check_scopes(scopes, creator_scopes)
    _check_expiry(rt, expires_at)
    _check_rate_limit(rate_limit)
    ttl = token_ttl if token_ttl is not None else min(rt.settings.exchange_token_ttl,
                                                      rt.settings.exchange_max_token_ttl)
    _check_token_ttl(rt, ttl)
    orgs = _check_organisations(allowed_organisations)
    secret = new_secret()
    now = _dt(rt.clock.now())
    for attempt in range(3):
        try:
            async with rt.db.session() as session:
                tenant_default = await _tenant_default(session, tenant_id)
                row = ApiKey(
                    id=new_id(), tenant_id=tenant_id, created_by=actor, name=name, client_id=new_client_id(),
                    secret_hash=rt.master.secret_hash(secret), scopes=scopes, expires_at=_dt(expires_at),
                    active=True, rate_limit=rate_limit, token_ttl=ttl, allowed_organisations=orgs,
                    allow_browser=allow_browser, created_at=now, updated_at=now,
                )
                session.add(row)
                await session.flush()
                record = _record(rt, row, tenant_default)
            break
        except IntegrityError:  # a clientId collision (2^-128): draw again
            if attempt == 2:
                raise
    rt.audit.record("apikey.created", tenant_id=tenant_id, actor=actor, subject=record.id, ip=ip,
                    request_id=request_id, name=name, client_id=record.client_id, scopes=scopes,
                    expires_at=record.expires_at, rate_limit=rate_limit, token_ttl=ttl,
                    allowed_organisations=orgs, allow_browser=allow_browser)
    return record, secret


async def _find(session: AsyncSession, tenant_id: str | None, key: str) -> ApiKey:
    """By id (uuid) or, for the CLI, by clientId; a key of another tenant does not exist."""
    column = ApiKey.client_id if looks_like_client_id(key) else ApiKey.id
    if len(key) > 64:
        raise ApiKeyNotFound()
    query = select(ApiKey).where(column == key)
    if tenant_id is not None:
        query = query.where(ApiKey.tenant_id == tenant_id)
    row = (await session.execute(query)).scalar()
    if row is None:
        raise ApiKeyNotFound()
    return row


async def get_api_key(rt: Runtime, tenant_id: str | None, key: str) -> ApiKeyRecord:
    async with rt.db.session() as session:
        row = await _find(session, tenant_id, key)
        return _record(rt, row, await _tenant_default(session, row.tenant_id))


async def list_api_keys(rt: Runtime, tenant_id: str | None, *, include_revoked: bool = False,
                        limit: int | None = None, offset: int = 0) -> list[ApiKeyRecord]:
    """Oldest first; ``limit``/``offset`` page through them (the console shows a page at a time)."""
    async with rt.db.session() as session:
        query = (select(ApiKey, Tenant.default_rate_limit).join(Tenant, Tenant.id == ApiKey.tenant_id)
                 .order_by(ApiKey.created_at, ApiKey.id))
        if tenant_id is not None:
            query = query.where(ApiKey.tenant_id == tenant_id)
        if not include_revoked:
            query = query.where(ApiKey.revoked_at.is_(None))
        if limit is not None:
            query = query.limit(limit).offset(offset)
        rows = (await session.execute(query)).all()
    return [_record(rt, row, default) for row, default in rows]


async def count_api_keys(rt: Runtime, tenant_id: str, *, include_revoked: bool = False) -> int:
    """How many keys :func:`list_api_keys` would list (one COUNT, no rows loaded)."""
    query = select(func.count()).select_from(ApiKey).where(ApiKey.tenant_id == tenant_id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    async with rt.db.session() as session:
        return int((await session.execute(query)).scalar() or 0)


async def update_api_key(
    rt: Runtime,
    tenant_id: str | None,
    key: str,
    changes: dict[str, Any],
    *,
    creator_scopes: Sequence[str] | None = None,
    actor: str | None = None,
    ip: str | None = None,
    request_id: str | None = None,
) -> ApiKeyRecord:
    """Apply ``changes`` (python names, see ``UPDATABLE``; a present None clears expiresAt / rateLimit /
    allowedOrganisations). Deactivating cuts off the key's session tokens."""
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise _invalid(sorted(unknown)[0], "cannot be changed")
    if "name" in changes:
        changes["name"] = _check_name(changes["name"])
    if "scopes" in changes:
        changes["scopes"] = _check_scopes(changes["scopes"], creator_scopes)
    if "expires_at" in changes:
        _check_expiry(rt, changes["expires_at"])
    if "rate_limit" in changes:
        _check_rate_limit(changes["rate_limit"])
    if "token_ttl" in changes:
        if changes["token_ttl"] is None:
            raise _invalid("token_ttl", "must be a number of seconds")
        _check_token_ttl(rt, changes["token_ttl"])
    if "allowed_organisations" in changes:
        changes["allowed_organisations"] = _check_organisations(changes["allowed_organisations"])
    for flag in ("active", "allow_browser"):
        if flag in changes and not isinstance(changes[flag], bool):
            raise _invalid(flag, "must be true or false")
    now = rt.clock.now()
    async with rt.db.session() as session:
        row = await _find(session, tenant_id, key)
        if row.revoked_at is not None:
            raise ApiKeyRevoked()
        _check_may_manage(row, creator_scopes)
        deactivated = changes.get("active") is False and row.active
        for name, value in changes.items():
            setattr(row, name, _dt(value) if name == "expires_at" else value)
        row.updated_at = _dt(now)
        if deactivated:
            await rt.revocations.revoke(session, "apikey", row.id, not_before_ms=_cutoff_ms(now))
        await rt.revocations.changed(session, f"apikey:{row.id}")
        await session.flush()
        record = _record(rt, row, await _tenant_default(session, row.tenant_id))
    await _propagate(rt, record.id, record.client_id)
    shown = {_API_NAMES[k]: v for k, v in changes.items()}
    rt.audit.record("apikey.updated", tenant_id=record.tenant_id, actor=actor, subject=record.id, ip=ip,
                    request_id=request_id, changes=shown)
    if deactivated:
        rt.audit.record("apikey.deactivated", tenant_id=record.tenant_id, actor=actor, subject=record.id, ip=ip,
                        request_id=request_id)
    return record


async def revoke_api_key(rt: Runtime, tenant_id: str | None, key: str, *, actor: str | None = None,
                         ip: str | None = None, request_id: str | None = None) -> ApiKeyRecord:
    """Revoke for good (idempotent): the key fails everywhere within a second, and every session token
    it issued stops working."""
    now = rt.clock.now()
    async with rt.db.session() as session:
        row = await _find(session, tenant_id, key)
        already = row.revoked_at is not None
        if not already:
            row.revoked_at = _dt(now)
            row.active = False
            row.previous_secret_hash = None
            row.previous_secret_expires_at = None
            row.updated_at = _dt(now)
            await rt.revocations.revoke(session, "apikey", row.id, not_before_ms=_cutoff_ms(now))
            await rt.revocations.changed(session, f"apikey:{row.id}")
            await session.flush()
        record = _record(rt, row, await _tenant_default(session, row.tenant_id))
    if not already:
        await _propagate(rt, record.id, record.client_id)
        rt.audit.record("apikey.revoked", tenant_id=record.tenant_id, actor=actor, subject=record.id, ip=ip,
                        request_id=request_id, client_id=record.client_id)
    return record


async def rotate_api_key(rt: Runtime, tenant_id: str | None, key: str, *, grace_seconds: int = 0,
                         creator_scopes: Sequence[str] | None = None, actor: str | None = None,
                         ip: str | None = None, request_id: str | None = None) -> tuple[ApiKeyRecord, str]:
    """A new secret, returned once. Without grace the old secret fails at once everywhere and the key's
    earlier session tokens are cut off; with grace the old secret keeps working for ``grace_seconds``
    (one previous secret at a time: rotating again drops the older one)."""
    top = rt.settings.api_key_max_grace_period
    if not isinstance(grace_seconds, int) or not 0 <= grace_seconds <= top:
        raise _invalid("grace_seconds", f"must be between 0 and {top} seconds")
    secret = new_secret()
    now = rt.clock.now()
    async with rt.db.session() as session:
        row = await _find(session, tenant_id, key)
        if row.revoked_at is not None:
            raise ApiKeyRevoked()
        _check_may_manage(row, creator_scopes)
        if grace_seconds > 0:
            row.previous_secret_hash = row.secret_hash
            row.previous_secret_expires_at = _dt(now) + timedelta(seconds=grace_seconds)
        else:
            row.previous_secret_hash = None
            row.previous_secret_expires_at = None
            await rt.revocations.revoke(session, "apikey", row.id, not_before_ms=_cutoff_ms(now))
        row.secret_hash = rt.master.secret_hash(secret)
        row.updated_at = _dt(now)
        await rt.revocations.changed(session, f"apikey:{row.id}")
        await session.flush()
        record = _record(rt, row, await _tenant_default(session, row.tenant_id))
    await _propagate(rt, record.id, record.client_id)
    rt.audit.record("apikey.rotated", tenant_id=record.tenant_id, actor=actor, subject=record.id, ip=ip,
                    request_id=request_id, grace_seconds=grace_seconds,
                    previous_secret_expires_at=record.previous_secret_expires_at)
    return record, secret


__all__ = [
    "ApiKeyNotFound",
    "ApiKeyRevoked",
    "ScopesBeyondCreator",
    "create_api_key",
    "get_api_key",
    "list_api_keys",
    "revoke_api_key",
    "rotate_api_key",
    "update_api_key",
]
