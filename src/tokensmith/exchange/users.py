"""Users seen through the session exchange, per tenant: recorded in batches, listed, blocked.

* **Seen**: the exchange only notes the user in memory; a background task upserts the users noted since
  the last flush every ``exchange_user_flush_interval`` seconds, and a user seen again with unchanged
  details is written at most once per ``exchange_user_touch_interval`` (that is ``lastSeenAt``'s
  precision). A user's row therefore appears within a few seconds of the first exchange.
* **Blocked**: every process holds the set of blocked ``(tenant, user_id)`` pairs in memory (loaded at
  start, before the first exchange), so refusing a blocked user costs no database round trip. Blocking
  writes ``changed exchange-users:<tenant>`` to the revocation feed; every process reloads that tenant's
  set within a second.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, func, select
from sqlalchemy.dialects import postgresql, sqlite

from tokensmith.clock import iso_z
from tokensmith.errors import MessageError, ValidationFailed
from tokensmith.exchange.request import SessionTokenRequest
from tokensmith.storage.flusher import PeriodicFlusher
from tokensmith.storage.models import ExchangeUser
from tokensmith.storage.setaside import data_error_reason, write_setting_aside

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

log = logging.getLogger("tokensmith.exchange")
CHANGE_PREFIX = "exchange-users:"
MAX_PENDING = 200_000
MAX_REMEMBERED = 200_000
_OPTIONAL = ("email", "healthcare_provider_identification_number", "healthcare_provider_type")


class ExchangeUserNotFound(MessageError):
    status = 404
    code = "not_found"

    def __init__(self) -> None:
        super().__init__("Exchange user not found")


@dataclass(frozen=True, slots=True)
class _Seen:
    user: SessionTokenRequest
    at: float


def _fingerprint(user: SessionTokenRequest) -> tuple[Any, ...]:
    return (user.first_name, user.last_name, user.email, user.organisation,
            user.healthcare_provider_identification_number, user.healthcare_provider_type)


def _upsert(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(ExchangeUser)
    new = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=[ExchangeUser.tenant_id, ExchangeUser.user_id],
        set_={
            "first_name": new.first_name,
            "last_name": new.last_name,
            "organisation": new.organisation,
            "email": func.coalesce(new.email, ExchangeUser.email),
            "provider_number": func.coalesce(new.provider_number, ExchangeUser.provider_number),
            "provider_type": func.coalesce(new.provider_type, ExchangeUser.provider_type),
            "last_seen_at": case((ExchangeUser.last_seen_at > new.last_seen_at, ExchangeUser.last_seen_at),
                                 else_=new.last_seen_at),
        },
    )


def user_view(row: ExchangeUser) -> dict[str, Any]:
    return {
        "userId": row.user_id,
        "firstName": row.first_name,
        "lastName": row.last_name,
        "email": row.email,
        "organisation": row.organisation,
        "healthcareProviderIdentificationNumber": row.provider_number,
        "healthcareProviderType": row.provider_type,
        "blocked": row.blocked,
        "firstSeenAt": iso_z(row.first_seen_at),
        "lastSeenAt": iso_z(row.last_seen_at),
        "notes": row.notes,
    }


class ExchangeUsers(PeriodicFlusher):
    flusher_name = "exchange-users-flusher"
    flusher_log = log

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime
        self._blocked: dict[str, frozenset[str]] = {}
        self._loaded = False
        self._load_lock = asyncio.Lock()
        self._pending: dict[tuple[str, str], _Seen] = {}
        self._written: dict[tuple[str, str], tuple[float, tuple[Any, ...]]] = {}
        self._flush_lock = asyncio.Lock()
        self._reloads: set[asyncio.Task[None]] = set()
        self._set_aside_keys: set[tuple[str, str]] = set()
        runtime.on_change(self._on_change)
        runtime.add_writer(self)

    # ---- the blocked view ----
    def is_blocked(self, tenant_id: str, user_id: str) -> bool:
        blocked = self._blocked.get(tenant_id)
        return blocked is not None and user_id in blocked

    async def ensure_loaded(self) -> None:
        """Load every tenant's blocked set once (an outage propagates: the exchange answers 503 rather than
        issue a token for a user it cannot check)."""
        if self._loaded:
            return
        async with self._load_lock:
            if self._loaded:
                return
            async with self._rt.db.session() as session:
                rows = (await session.execute(
                    select(ExchangeUser.tenant_id, ExchangeUser.user_id).where(ExchangeUser.blocked.is_(True))
                )).all()
            blocked: dict[str, set[str]] = {}
            for tenant_id, user_id in rows:
                blocked.setdefault(tenant_id, set()).add(user_id)
            self._blocked = {t: frozenset(u) for t, u in blocked.items()}
            self._loaded = True

    async def reload_tenant(self, tenant_id: str) -> None:
        async with self._load_lock:  # in order: a later reload always lands last
            async with self._rt.db.session() as session:
                users = (await session.execute(
                    select(ExchangeUser.user_id).where(ExchangeUser.tenant_id == tenant_id,
                                                       ExchangeUser.blocked.is_(True))
                )).scalars().all()
            blocked = dict(self._blocked)
            blocked[tenant_id] = frozenset(users)
            self._blocked = blocked

    def _on_change(self, what: str) -> None:
        if not what.startswith(CHANGE_PREFIX):
            return
        tenant_id = what[len(CHANGE_PREFIX):]
        task = asyncio.get_running_loop().create_task(self._reload_quietly(tenant_id))
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)

    async def _reload_quietly(self, tenant_id: str) -> None:
        try:
            await self.reload_tenant(tenant_id)
        except Exception as exc:
            self._loaded = False  # reload everything before the next exchange
            log.warning("blocked users of tenant %s could not be reloaded: %s", tenant_id, type(exc).__name__)

    # ---- users seen ----
    def seen(self, tenant_id: str, user: SessionTokenRequest, at: float) -> None:
        key = (tenant_id, user.user_id)
        previous = self._pending.get(key)
        if previous is None:
            if len(self._pending) >= MAX_PENDING:
                return
        else:  # optional details not sent again are kept, as the upsert keeps them across flushes
            kept = {name: getattr(previous.user, name) for name in _OPTIONAL
                    if getattr(user, name) is None and getattr(previous.user, name) is not None}
            if kept:
                user = user.model_copy(update=kept)
        self._pending[key] = _Seen(user, at)

    async def flush(self) -> int:
        async with self._flush_lock:
            if not self._pending:
                return 0
            batch, self._pending = self._pending, {}
            touch = self._rt.settings.exchange_user_touch_interval
            rows: list[dict[str, Any]] = []
            for (tenant_id, user_id), seen in batch.items():
                fingerprint = _fingerprint(seen.user)
                written = self._written.get((tenant_id, user_id))
                if written is not None and written[1] == fingerprint and seen.at - written[0] < touch:
                    continue
                when = datetime.fromtimestamp(seen.at, UTC)
                rows.append({
                    "tenant_id": tenant_id, "user_id": user_id, "first_name": seen.user.first_name,
                    "last_name": seen.user.last_name, "email": seen.user.email,
                    "organisation": seen.user.organisation,
                    "provider_number": seen.user.healthcare_provider_identification_number,
                    "provider_type": seen.user.healthcare_provider_type, "blocked": False,
                    "first_seen_at": when, "last_seen_at": when, "notes": None,
                })
            if not rows:
                return 0
            stored: list[dict[str, Any]] = []
            try:
                count = await write_setting_aside(rows, lambda part: self._write(part, stored), self._set_aside)
            except BaseException:
                for key, seen in batch.items():
                    self._pending.setdefault(key, seen)
                raise
            if len(self._written) > MAX_REMEMBERED:
                self._written.clear()
            for row in stored:
                key = (row["tenant_id"], row["user_id"])
                self._written[key] = (batch[key].at, _fingerprint(batch[key].user))
            return count

    async def _write(self, rows: list[dict[str, Any]], written: list[dict[str, Any]]) -> int:
        async with self._rt.db.write_session() as session:
            await session.execute(_upsert(self._rt.db.dialect), rows)
        written.extend(rows)
        return len(rows)

    async def _set_aside(self, row: dict[str, Any], exc: BaseException) -> int:
        """A user the database refuses is dropped (a sanitised copy would be another user, whom blocking
        the real one would not reach); reported once per user."""
        key = (row["tenant_id"], row["user_id"])
        if key not in self._set_aside_keys:
            if len(self._set_aside_keys) > MAX_REMEMBERED:
                self._set_aside_keys.clear()
            self._set_aside_keys.add(key)
            self.health.dead_letter("exchange user", data_error_reason(exc))
        return 0

    @property
    def has_pending(self) -> bool:
        return bool(self._pending)

    # ---- lifecycle (PeriodicFlusher) ----
    @property
    def flush_interval(self) -> float:
        return float(self._rt.settings.exchange_user_flush_interval)

    async def tick(self) -> None:
        if not self._loaded:
            await self.ensure_loaded()
        await self.flush()

    async def stop(self) -> None:
        for task in list(self._reloads):
            task.cancel()
        await super().stop()


# ---- management (API and CLI) ----

async def list_exchange_users(rt: Runtime, tenant_id: str, *, blocked: bool | None = None,
                              organisation: str | None = None, limit: int = 100,
                              offset: int = 0) -> list[dict[str, Any]]:
    users = rt.exchange_users
    await users.flush()  # this process's latest sightings first
    async with rt.db.session() as session:
        query = select(ExchangeUser).where(ExchangeUser.tenant_id == tenant_id)
        if blocked is not None:
            query = query.where(ExchangeUser.blocked.is_(blocked))
        if organisation is not None:
            query = query.where(ExchangeUser.organisation == organisation)
        query = query.order_by(ExchangeUser.last_seen_at.desc(), ExchangeUser.user_id).limit(limit).offset(offset)
        rows = (await session.execute(query)).scalars().all()
        return [user_view(r) for r in rows]


async def get_exchange_user(rt: Runtime, tenant_id: str, user_id: str) -> dict[str, Any]:
    await rt.exchange_users.flush()
    async with rt.db.session() as session:
        row = await session.get(ExchangeUser, (tenant_id, user_id))
        if row is None:
            raise ExchangeUserNotFound()
        return user_view(row)


async def set_blocked(rt: Runtime, tenant_id: str, user_id: str, blocked: bool, *, notes: str | None = None,
                      actor: str | None = None, ip: str | None = None,
                      request_id: str | None = None) -> dict[str, Any]:
    """Block (or unblock) a user of a tenant; a user not seen yet can be blocked in advance. Effective for
    new exchanges on every instance within a second."""
    user_id = user_id.strip()
    if not user_id or len(user_id) > 200:
        raise ValidationFailed([{"loc": ["userId"], "msg": "must be 1 to 200 characters", "type": "value_error"}])
    users = rt.exchange_users
    await users.flush()
    now = datetime.fromtimestamp(rt.clock.now(), UTC)
    async with rt.db.session() as session:
        if blocked:
            # Block in advance: create the row if nobody has (another instance's batched upsert may be
            # inserting the same user right now, so never a plain INSERT).
            insert = postgresql.insert if rt.db.dialect == "postgresql" else sqlite.insert
            await session.execute(insert(ExchangeUser).values(
                tenant_id=tenant_id, user_id=user_id, first_name="", last_name="", organisation="",
                blocked=False, first_seen_at=now, last_seen_at=now,
            ).on_conflict_do_nothing(index_elements=[ExchangeUser.tenant_id, ExchangeUser.user_id]))
        row = await session.get(ExchangeUser, (tenant_id, user_id), populate_existing=True,
                                with_for_update=rt.db.dialect == "postgresql")
        if row is None:
            raise ExchangeUserNotFound()
        changed = row.blocked != blocked
        row.blocked = blocked
        if notes is not None:
            row.notes = notes[:2000]
        await rt.revocations.changed(session, f"{CHANGE_PREFIX}{tenant_id}")
        await session.flush()
        view = user_view(row)
    # Announce again after the commit (the in-transaction notice may have been read before it).
    await users.reload_tenant(tenant_id)
    await rt.revocations.changed(None, f"{CHANGE_PREFIX}{tenant_id}")
    rt.audit.record("exchange_user.blocked" if blocked else "exchange_user.unblocked", tenant_id=tenant_id,
                    actor=actor, subject=user_id, ip=ip, request_id=request_id, changed=changed)
    return view


__all__: Sequence[str] = ["ExchangeUserNotFound", "ExchangeUsers", "get_exchange_user",
                          "list_exchange_users", "set_blocked", "user_view"]
