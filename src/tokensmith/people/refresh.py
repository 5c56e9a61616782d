"""Refresh-token rotation (spec §D ``POST /auth/refresh``): rotation, reuse detection, and retries.

Every refresh uses up the presented token and issues its successor. What a token that was already used
means when it comes back (docs/security.md, "Refresh tokens: lost replies and retries"):

* within ``refresh_reuse_grace`` seconds of the latest token issued from it: a concurrent refresh of the
  same client (409, the session lives);
* later, within ``refresh_retry_window`` seconds of its first use, while the successor has never been
  used: a retry after a 503 or a lost reply — the unused successor is invalidated and a new pair issued,
  so a client that did not receive its new token keeps its session;
* otherwise (its successor was used, or the window is over): the token was copied; the whole session is
  revoked (RFC 9700 §4.14.2).

An invalidated successor is marked used without a child of its own, so presenting it later is a reuse
like any other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn, TypeAlias

from sqlalchemy import JSON, Connection, String, Update, bindparam, column, or_, select, text, update

from tokensmith.clock import utc
from tokensmith.errors import MessageError
from tokensmith.ids import random_token, uuid7_ms
from tokensmith.people.db import autocommit, transaction
from tokensmith.people.sessions import TokenPair, issue_access_token, refresh_token_row, revoke_session
from tokensmith.storage.batching import Batcher, database_batcher, retry_deadlocks
from tokensmith.storage.models import Role, Session, Token, User, UTCDateTime

if TYPE_CHECKING:
    from tokensmith.people.login import Context
    from tokensmith.runtime import Runtime

INVALID_REFRESH = "Invalid refresh token"
REFRESH_RACE = "Refresh token already used; use the token returned by the concurrent refresh"

_T = Token.__table__
_S = Session.__table__
_U = User.__table__
_R = Role.__table__

#
# Rotation uses up the presented token with a conditional UPDATE (``… AND used_at IS NULL``): of any
# number of concurrent requests with one token exactly one changes the row, on SQLite (the write lock)
# and PostgreSQL (the row lock, then the condition is evaluated again on the committed row). The UPDATE
# also checks everything else (session live, not idle, user active), so a refused token stays unused.

#: PostgreSQL: claim, check and rotate a whole batch of refresh tokens in one statement (atomic on its
#: own). The materialised ``found`` makes the token-hash index drive the plan whatever the statistics say
#: (left alone, a planner that believes ``sessions`` tiny scans every live session). The UPDATE checks
#: ``used_at IS NULL`` again on the locked row, so a token used meanwhile is not claimed twice; a token
#: presented twice in one batch joins twice but its row is updated once: one request wins.
_ROTATE_PG = text("""
WITH req AS MATERIALIZED (
    SELECT * FROM unnest(CAST(:digests AS varchar[]), CAST(:new_ids AS varchar[]), CAST(:new_hashes AS varchar[]),
                         CAST(:kinds AS varchar[]), CAST(:client_ids AS varchar[]))
        AS req(digest, new_id, new_hash, kind, client_id)
), found AS MATERIALIZED (
    SELECT req.digest, req.new_id, req.new_hash, req.kind, t.id, t.session_id, t.user_id
    FROM req JOIN tokens AS t ON t.token_hash = req.digest
    WHERE t.kind = 'refresh' AND t.used_at IS NULL AND t.revoked_at IS NULL
      AND t.client_id IS NOT DISTINCT FROM req.client_id
      AND (t.expires_at IS NULL OR t.expires_at > :now) AND t.created_at > :idle_before
), claimed AS (
    UPDATE tokens AS t SET used_at = :now
    FROM found AS f, sessions AS s, users AS u, roles AS r
    WHERE t.id = f.id AND t.used_at IS NULL AND t.revoked_at IS NULL
      AND s.id = f.session_id AND s.kind = f.kind AND s.revoked_at IS NULL
      AND (s.expires_at IS NULL OR s.expires_at > :now)
      AND u.id = f.user_id AND u.status = 'active' AND r.id = u.role_id
    RETURNING f.digest, f.new_id, f.new_hash, t.id, t.session_id, t.user_id, t.tenant_id, t.client_id, t.scopes,
              t.claims, s.expires_at AS session_expires_at, s.last_seen_at, u.project_permissions, r.name AS role,
              r.permissions
), rotated AS (
    INSERT INTO tokens (id, token_hash, kind, tenant_id, client_id, user_id, session_id, name, scopes, claims,
                        parent_id, created_at, expires_at, used_at, last_used_at, revoked_at)
    SELECT new_id, new_hash, 'refresh', tenant_id, client_id, user_id, session_id, NULL, scopes, claims,
           id, :now, session_expires_at, NULL, NULL, NULL
    FROM claimed
), touched AS (
    UPDATE sessions SET last_seen_at = :now
    WHERE id IN (SELECT session_id FROM claimed WHERE last_seen_at IS NULL OR last_seen_at < :touch_before)
)
SELECT * FROM claimed
""").bindparams(bindparam("now", type_=UTCDateTime), bindparam("idle_before", type_=UTCDateTime),
                bindparam("touch_before", type_=UTCDateTime)).columns(
    column("digest", String), column("new_id", String), column("new_hash", String), column("id", String),
    column("session_id", String), column("user_id", String), column("tenant_id", String),
    column("client_id", String), column("scopes", JSON), column("claims", JSON),
    column("session_expires_at", UTCDateTime), column("last_seen_at", UTCDateTime),
    column("project_permissions", JSON), column("role", String), column("permissions", JSON))

_SESSION_TOUCH = timedelta(seconds=60)


async def refresh(rt: Runtime, refresh_token: str, ctx: Context) -> TokenPair:
    """Rotate: the presented token is used up and a new one issued for the same session, atomically."""
    rotated, new_value = await rotate_refresh_token(rt, refresh_token, ctx)
    access = await issue_access_token(
        rt, user_id=rotated.user_id, tenant_id=rotated.tenant_id, role=rotated.role,
        permissions=rotated.permissions or [], project_permissions=rotated.project_permissions or [],
        session_id=rotated.session_id)
    rt.audit.record("session.refreshed", tenant_id=rotated.tenant_id, actor=f"user:{rotated.user_id}",
                    subject=rotated.session_id, ip=ctx.ip, request_id=ctx.request_id)
    return TokenPair(access.value, new_value, access.expires_in, rotated.session_id)


async def rotate_refresh_token(rt: Runtime, refresh_token: str, ctx: Context, *, session_kind: str = "login",
                               client_id: str | None = None) -> tuple[Rotated, str]:
    """The rotation itself, for any kind of session with refresh tokens: sign-in sessions (``login``, no
    client) and the code flow's (``oauth``, the token's client must present it). Returns the rotated
    token's facts and the new token; raises :class:`MessageError` (401 refused, 409 concurrent refresh)."""
    digest = rt.master.secret_hash(refresh_token)
    new_value = random_token(32)
    new_row = refresh_token_row(rt, new_value, tenant_id="", user_id="", session_id="", expires_at=None,
                                client_id=client_id)
    rotated = await rt.refresh_batcher.submit((digest, new_row, session_kind))
    if rotated is None:  # not rotatable: a retry gets a new pair, anything else raises
        rotated, new_value = await _refused_refresh(rt, digest, ctx, session_kind, client_id)
    if (rt.tenants.is_disabled(rotated.tenant_id)
            or rt.revocations.issued_before_cutoff("tenant", rotated.tenant_id, uuid7_ms(rotated.id))):
        # The session dies with it: a refresh token issued before a disable stays dead after the enable.
        await revoke_session(rt, rotated.session_id, reason="tenant disabled", actor="system", ip=ctx.ip,
                             request_id=ctx.request_id)
        raise _RefreshRefused("tenant disabled")
    return rotated, new_value


async def _rotate_batch_pg(rt: Runtime, items: list[_RefreshItem]) -> list[Rotated | None]:
    now = utc(rt.clock.now())
    params = {
        "digests": [i[0] for i in items], "new_ids": [i[1]["id"] for i in items],
        "new_hashes": [i[1]["token_hash"] for i in items], "kinds": [i[2] for i in items],
        "client_ids": [i[1]["client_id"] for i in items],
        "now": now, "idle_before": now - timedelta(seconds=rt.settings.session_idle_timeout),
        "touch_before": now - _SESSION_TOUCH,
    }

    async def run() -> list[Any]:
        async with autocommit(rt) as conn:
            return list((await conn.execute(_ROTATE_PG, params)).all())

    won = {(row.digest, row.new_id): Rotated(row.id, row.session_id, row.user_id, row.tenant_id, row.role,
                                             row.permissions, row.project_permissions, row.client_id,
                                             row.scopes or [], row.claims or {})
           for row in await retry_deadlocks(run)}
    return [won.get((digest, new_row["id"])) for digest, new_row, _ in items]


async def _rotate_batch_portable(rt: Runtime, items: list[_RefreshItem]) -> list[Rotated | None]:
    """The same for a group of tokens in one transaction, set-based like the PostgreSQL statement: per kind
    of session and client, one UPDATE claims every token of the group, one SELECT reads their sessions,
    one INSERT stores the successors (SQLite cannot return joined columns from an UPDATE). The UPDATE comes
    first, so SQLite's write lock is held before anything is read, and the group costs one lock and one
    commit; the transaction runs at once on the write lane (storage/lane.py). A token presented twice in one
    group is claimed once: the first request wins."""
    now = utc(rt.clock.now())
    idle_before = now - timedelta(seconds=rt.settings.session_idle_timeout)
    groups: dict[tuple[str, str | None], list[int]] = {}
    for index, (_digest, new_row, kind) in enumerate(items):
        groups.setdefault((kind, new_row["client_id"]), []).append(index)

    def rotate(conn: Connection) -> list[Rotated | None]:
        results: list[Rotated | None] = [None] * len(items)
        for (kind, client), indexes in groups.items():
            _rotate_group(conn, now, idle_before, kind, client, [(i, items[i]) for i in indexes], results)
        return results

    return await rt.db.write_at_once(rotate)


_NOW = bindparam("now", type_=UTCDateTime)


def _claim_statement(*, of_client: bool) -> Update:
    """One UPDATE claiming a group of tokens of one kind of session and one client (or none), with every
    check of the PostgreSQL statement. Built once: constructing it per batch cost more CPU than running it."""
    valid_session = (select(_S.c.id).join(_U, _U.c.id == _S.c.user_id)
                     .where(_S.c.id == _T.c.session_id, _S.c.kind == bindparam("session_kind"),
                            _S.c.revoked_at.is_(None), or_(_S.c.expires_at.is_(None), _S.c.expires_at > _NOW),
                            _U.c.status == "active")
                     .exists())
    return (update(_T).where(_T.c.token_hash.in_(bindparam("digests", expanding=True)), _T.c.kind == "refresh",
                             _T.c.used_at.is_(None), _T.c.revoked_at.is_(None),
                             or_(_T.c.expires_at.is_(None), _T.c.expires_at > _NOW),
                             _T.c.created_at > bindparam("idle_before", type_=UTCDateTime), valid_session,
                             _T.c.client_id == bindparam("of_client") if of_client else _T.c.client_id.is_(None))
            .values(used_at=_NOW)
            .returning(_T.c.token_hash, _T.c.id, _T.c.session_id, _T.c.user_id, _T.c.tenant_id, _T.c.scopes,
                       _T.c.claims))


_CLAIM = {False: _claim_statement(of_client=False), True: _claim_statement(of_client=True)}
_CLAIMED_SESSIONS = (
    select(_S.c.id, _S.c.expires_at, _S.c.last_seen_at, _U.c.project_permissions, _R.c.name, _R.c.permissions)
    .select_from(_S.join(_U, _U.c.id == _S.c.user_id).join(_R, _R.c.id == _U.c.role_id))
    .where(_S.c.id.in_(bindparam("ids", expanding=True))))
_INSERT_SUCCESSORS = _T.insert()
_TOUCH_SESSIONS = update(_S).where(_S.c.id.in_(bindparam("ids", expanding=True))).values(last_seen_at=_NOW)


def _rotate_group(conn: Connection, now: datetime, idle_before: datetime, kind: str, client: str | None,
                  group: list[tuple[int, _RefreshItem]], results: list[Rotated | None]) -> None:
    claimed = {row.token_hash: row for row in conn.execute(_CLAIM[client is not None], {
        "digests": sorted({item[0] for _i, item in group}), "session_kind": kind, "now": now,
        "idle_before": idle_before, "of_client": client}).all()}
    if not claimed:
        return
    sessions = {row.id: row for row in conn.execute(
        _CLAIMED_SESSIONS, {"ids": sorted({row.session_id for row in claimed.values()})}).all()}
    successors: list[dict[str, Any]] = []
    touched: set[str] = set()
    for index, (digest, new_row, _kind) in group:
        row = claimed.pop(digest, None)
        if row is None:
            continue
        ctx_row = sessions[row.session_id]
        successors.append({**new_row, "tenant_id": row.tenant_id, "user_id": row.user_id,
                           "scopes": row.scopes or [], "claims": row.claims or {}, "session_id": row.session_id,
                           "expires_at": ctx_row.expires_at, "parent_id": row.id})
        if ctx_row.last_seen_at is None or now - ctx_row.last_seen_at > _SESSION_TOUCH:
            touched.add(row.session_id)
        results[index] = Rotated(row.id, row.session_id, row.user_id, row.tenant_id, ctx_row.name,
                                 ctx_row.permissions, ctx_row.project_permissions, client, row.scopes or [],
                                 row.claims or {})
    conn.execute(_INSERT_SUCCESSORS, successors)
    if touched:
        conn.execute(_TOUCH_SESSIONS, {"ids": sorted(touched), "now": now})


@dataclass(frozen=True)
class Rotated:
    """A rotated refresh token: its session, user (with the role as it is now), and for the code flow the
    client, the granted scopes and the claims (launch context…) carried from token to token."""

    id: str
    session_id: str
    user_id: str
    tenant_id: str
    role: str
    permissions: list[str]
    project_permissions: list[str]
    client_id: str | None = None
    scopes: list[str] = field(default_factory=list)
    claims: dict[str, Any] = field(default_factory=dict)


class _RefreshRefused(MessageError):
    def __init__(self, reason: str) -> None:
        super().__init__(INVALID_REFRESH, status=401, code="unauthorized", debug=reason)


async def _refused_refresh(rt: Runtime, digest: str, ctx: Context, kind: str,
                           client_id: str | None) -> tuple[Rotated, str]:
    """The token could not be rotated: find out why, and answer a retry with a new pair (the rules in
    the module docstring). Two retries at once: one supersedes the successor, the other then finds a
    successor issued a moment ago and is answered as a concurrent refresh."""
    for _ in range(3):
        now = utc(rt.clock.now())
        row, latest = await _presented(rt, digest)
        if row is not None and (row.kind != kind or row.client_id != client_id):
            row, latest = None, None  # another kind of session's, or another client's: unknown here
        if _is_retry(rt, row, latest, now):
            retried = await _retry(rt, row, latest, now, ctx)
            if retried is not None:
                return retried
            continue  # someone else changed the successor meanwhile: judge again
        await _refuse(rt, row, latest, now, ctx)
    raise MessageError(REFRESH_RACE, status=409, code="conflict")


async def _presented(rt: Runtime, digest: str) -> tuple[Any, Any]:
    """The presented token with its session and user, and the latest token issued from it (or None)."""
    async with autocommit(rt) as conn:
        row = (await conn.execute(
            select(_T.c.id, _T.c.session_id, _T.c.user_id, _T.c.tenant_id, _T.c.used_at, _T.c.revoked_at,
                   _T.c.created_at, _T.c.expires_at, _T.c.client_id, _T.c.scopes, _T.c.claims, _S.c.kind,
                   _S.c.revoked_at.label("session_revoked_at"),
                   _S.c.expires_at.label("session_expires_at"), _U.c.status)
            .select_from(_T.join(_S, _S.c.id == _T.c.session_id).join(_U, _U.c.id == _T.c.user_id))
            .where(_T.c.token_hash == digest, _T.c.kind == "refresh"))).first()
        if row is None or row.used_at is None:
            return row, None
        # the session's tokens (index on session_id: one per refresh of one sign-in) whose parent it is
        latest = (await conn.execute(
            select(_T.c.id, _T.c.created_at, _T.c.used_at, _T.c.revoked_at)
            .where(_T.c.session_id == row.session_id, _T.c.parent_id == row.id, _T.c.kind == "refresh")
            .order_by(_T.c.created_at.desc(), _T.c.id.desc()).limit(1))).first()
    return row, latest


def _is_retry(rt: Runtime, row: Any, latest: Any, now: datetime) -> bool:
    if row is None or row.used_at is None or latest is None:
        return False
    if (now - latest.created_at).total_seconds() < rt.settings.refresh_reuse_grace:
        return False  # a concurrent refresh: 409
    return (latest.used_at is None and latest.revoked_at is None and row.revoked_at is None
            and row.session_revoked_at is None and row.status == "active"
            and (row.session_expires_at is None or row.session_expires_at > now)
            and rt.settings.refresh_retry_window > 0
            and (now - row.used_at).total_seconds() <= rt.settings.refresh_retry_window)


async def _retry(rt: Runtime, row: Any, latest: Any, now: datetime, ctx: Context) -> tuple[Rotated, str] | None:
    """Invalidate the unused successor and issue a new one (child of the presented token), atomically;
    None when the successor was used or superseded meanwhile."""
    value = random_token(32)
    try:
        async with transaction(rt) as conn:
            superseded = await conn.execute(  # first a write: SQLite takes its write lock here
                update(_T).where(_T.c.id == latest.id, _T.c.used_at.is_(None), _T.c.revoked_at.is_(None))
                .values(used_at=now))
            if superseded.rowcount != 1:
                return None
            ctx_row = (await conn.execute(
                select(_S.c.expires_at, _U.c.project_permissions, _R.c.name, _R.c.permissions)
                .select_from(_S.join(_U, _U.c.id == _S.c.user_id).join(_R, _R.c.id == _U.c.role_id))
                .where(_S.c.id == row.session_id, _S.c.revoked_at.is_(None), _U.c.status == "active"))).first()
            if ctx_row is None:
                raise _SessionEnded  # roll the supersession back; the caller judges again
            await conn.execute(_T.insert().values(**refresh_token_row(
                rt, value, tenant_id=row.tenant_id, user_id=row.user_id, session_id=row.session_id,
                expires_at=ctx_row.expires_at, parent_id=row.id, client_id=row.client_id, scopes=row.scopes,
                claims=row.claims)))
            await conn.execute(update(_S).where(_S.c.id == row.session_id).values(last_seen_at=now))
    except _SessionEnded:
        return None
    rt.audit.record("session.refresh_retried", tenant_id=row.tenant_id, subject=row.session_id,
                    actor=f"user:{row.user_id}", ip=ctx.ip, request_id=ctx.request_id,
                    seconds_since_use=round((now - row.used_at).total_seconds(), 3))
    return Rotated(row.id, row.session_id, row.user_id, row.tenant_id, ctx_row.name, ctx_row.permissions,
                   ctx_row.project_permissions, row.client_id, row.scopes or [], row.claims or {}), value


class _SessionEnded(Exception):
    """The session ended between reading the presented token and superseding its successor."""


async def _refuse(rt: Runtime, row: Any, latest: Any, now: datetime, ctx: Context) -> NoReturn:
    """Raise the refusal: 401 for a token that is no good, 409 for a concurrent refresh, and for a
    copied token 401 after revoking its whole session."""
    if row is None:
        raise _RefreshRefused("unknown refresh token")
    if row.revoked_at is not None or row.session_revoked_at is not None:
        raise _RefreshRefused("session revoked")
    if row.used_at is None:
        if row.status != "active":
            raise _RefreshRefused("user disabled")
        if row.session_expires_at is not None and row.session_expires_at <= now:
            raise _RefreshRefused("session expired")
        if row.created_at + timedelta(seconds=rt.settings.session_idle_timeout) <= now:
            raise _RefreshRefused("session idle too long")
        raise _RefreshRefused("refresh token expired")
    since_use = (now - row.used_at).total_seconds()
    last_issued = latest.created_at if latest is not None else row.used_at
    if (now - last_issued).total_seconds() < rt.settings.refresh_reuse_grace:
        rt.audit.record("session.refresh_race", tenant_id=row.tenant_id, subject=row.session_id, ip=ctx.ip,
                        request_id=ctx.request_id, seconds_since_use=round(since_use, 3))
        raise MessageError(REFRESH_RACE, status=409, code="conflict")
    rt.audit.record("session.refresh_reuse_detected", tenant_id=row.tenant_id, subject=row.session_id,
                    actor=f"user:{row.user_id}", ip=ctx.ip, request_id=ctx.request_id,
                    seconds_since_use=round(since_use, 3))
    await revoke_session(rt, row.session_id, reason="refresh token reuse", actor="system", ip=ctx.ip,
                         request_id=ctx.request_id)
    raise _RefreshRefused("refresh token reused: session revoked")


#: A refresh to rotate: the presented token's keyed hash, the row of the token that replaces it (its
#: ``client_id`` the client that must own the presented token) and the kind of session it must belong to.
_RefreshItem: TypeAlias = tuple[str, dict[str, Any], str]
RefreshBatcher: TypeAlias = Batcher[_RefreshItem, Rotated | None]


def refresh_batcher(rt: Runtime) -> RefreshBatcher:
    """Concurrent refreshes rotate together: one statement on PostgreSQL, one transaction elsewhere."""
    run = _rotate_batch_pg if rt.db.dialect == "postgresql" else _rotate_batch_portable
    return database_batcher(rt.db.dialect, lambda items: run(rt, items))
