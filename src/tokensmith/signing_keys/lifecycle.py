"""Signing-key lifecycle: next → active → retired (→ expired), and revoked.

* ``init`` creates an active key and a *next* key; the next key is in the JWKS from then on.
* ``rotate`` promotes the next key (published since the previous rotation) to active, retires the old
  active key — it stays in the JWKS until every token it signed has expired (``publish_until`` = now +
  the longest token lifetime in use) — and creates a new next key.
* ``revoke`` removes a key at once: tokens it signed fail everywhere within a second.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from tokensmith.errors import InvalidRequest, NotFound
from tokensmith.jose.keyring import KeyRing, SigningKeyMaterial, generate_signing_key, load_signing_key
from tokensmith.storage.models import ApiKey, OAuthClient, SigningKey

if TYPE_CHECKING:
    from tokensmith.config import Settings
    from tokensmith.runtime import Runtime

PUBLISHED = ("active", "next", "retired")


def _row(rt: Runtime, key: SigningKeyMaterial, status: str, now: datetime) -> SigningKey:
    sealed = rt.master.seal(key.private_pem(), key.kid.encode())
    return SigningKey(kid=key.kid, alg=key.alg, status=status, private_key_enc=sealed,
                      public_jwk=key.public_jwk, created_at=now,
                      activated_at=now if status == "active" else None)


def configured_token_lifetimes(settings: Settings) -> dict[str, int]:
    """Every lifetime the settings give a signed token (or a credential created now): sign-in access
    tokens, new clients' access tokens, new API keys' session tokens, user tokens. Taken from the settings
    themselves, never from copies: raising one of them must keep retired keys published longer."""
    return {
        "client_token_ttl": settings.client_token_ttl,
        "login_access_token_ttl": settings.login_access_token_ttl,
        "user_token_access_ttl": settings.user_token_access_ttl,
        "exchange_token_ttl": min(settings.exchange_token_ttl, settings.exchange_max_token_ttl),
    }


async def longest_token_ttl(rt: Runtime, session: AsyncSession) -> int:
    """How long a token signed by the active key may still be valid: the longest lifetime any credential
    can get — each client's and API key's stored lifetime (they are used as stored, whatever bound the
    settings have now) and every configured one — plus the leeway relying parties allow on ``exp``."""
    client_max = (await session.execute(select(func.max(OAuthClient.access_token_ttl)))).scalar() or 0
    key_max = (await session.execute(select(func.max(ApiKey.token_ttl)))).scalar() or 0
    longest = max(client_max, key_max, *configured_token_lifetimes(rt.settings).values())
    return int(longest) + rt.settings.jwt_leeway


async def ensure_keys(rt: Runtime, alg: str | None = None) -> bool:
    """Create the first active and next keys when there is no active key; True when created."""
    alg = alg or rt.settings.signing_alg
    async with rt.db.session() as session:
        active = (await session.execute(select(SigningKey).where(SigningKey.status == "active"))).scalar()
        if active is not None:
            return False
        now = datetime.fromtimestamp(rt.clock.now(), UTC)
        nxt = (await session.execute(select(SigningKey).where(SigningKey.status == "next"))).scalar()
        if nxt is not None:
            nxt.status, nxt.activated_at = "active", now
        else:
            session.add(_row(rt, generate_signing_key(alg, "active"), "active", now))
        session.add(_row(rt, generate_signing_key(alg, "next"), "next", now))
        await rt.revocations.changed(session, "keys")
    rt.audit.record("signing_key.created", alg=alg)
    return True


_KEY_SET_LOCK = 0x6B657973  # "keys"


async def _lock_key_set(rt: Runtime, session: AsyncSession) -> None:
    """Changes to the key set take turns across processes and instances: two rotations at once must not
    both promote the same next key and leave two next keys behind. PostgreSQL: a transaction-scoped
    advisory lock; SQLite: its write lock, taken by a write that matches no row before anything is read."""
    if rt.db.dialect == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _KEY_SET_LOCK})
    else:
        await session.execute(update(SigningKey).where(SigningKey.kid == "").values(status="next"))


async def rotate_keys(rt: Runtime, alg: str | None = None, *, actor: str | None = None) -> dict[str, Any]:
    """Rotate; returns ``{"active": kid, "next": kid, "retired": kid | None}``."""
    alg = alg or rt.settings.signing_alg
    now = datetime.fromtimestamp(rt.clock.now(), UTC)
    async with rt.db.session() as session:
        await _lock_key_set(rt, session)
        rows = (await session.execute(select(SigningKey).where(SigningKey.status.in_(("active", "next"))))).scalars()
        by_status = {r.status: r for r in rows}
        retired_kid = None
        old = by_status.get("active")
        if old is not None:
            old.status, old.retired_at = "retired", now
            old.publish_until = now + timedelta(seconds=await longest_token_ttl(rt, session))
            retired_kid = old.kid
        nxt = by_status.get("next")
        if nxt is not None and nxt.alg == alg:
            nxt.status, nxt.activated_at = "active", now
            active_kid = nxt.kid
        else:
            if nxt is not None:  # algorithm change: the pre-published key is of the old algorithm
                nxt.status, nxt.retired_at, nxt.publish_until = "retired", now, now
            fresh = generate_signing_key(alg, "active")
            session.add(_row(rt, fresh, "active", now))
            active_kid = fresh.kid
        new_next = generate_signing_key(alg, "next")
        session.add(_row(rt, new_next, "next", now))
        await session.flush()
        await rt.revocations.changed(session, "keys")
    result = {"active": active_kid, "next": new_next.kid, "retired": retired_kid}
    rt.audit.record("signing_key.rotated", actor=actor, subject=active_kid, retired=retired_kid,
                    next=new_next.kid, alg=alg)
    await rt.reload_keys()
    return result


async def revoke_key(rt: Runtime, kid: str, *, actor: str | None = None) -> None:
    now = datetime.fromtimestamp(rt.clock.now(), UTC)
    async with rt.db.session() as session:
        await _lock_key_set(rt, session)
        row = await session.get(SigningKey, kid)
        if row is None:
            raise NotFound(f"signing key {kid!r} does not exist")
        if row.status == "revoked":
            raise InvalidRequest(f"signing key {kid!r} is already revoked")
        previous_status = row.status
        row.status, row.revoked_at = "revoked", now
        if previous_status == "active":
            nxt = (await session.execute(select(SigningKey).where(SigningKey.status == "next"))).scalar()
            if nxt is not None:
                nxt.status, nxt.activated_at = "active", now
            else:
                session.add(_row(rt, generate_signing_key(row.alg, "active"), "active", now))
        if previous_status in ("active", "next"):
            # Keep a published next key, so that the next rotation promotes a key relying parties know.
            session.add(_row(rt, generate_signing_key(row.alg, "next"), "next", now))
        await rt.revocations.revoke(session, "kid", kid)
        await rt.revocations.changed(session, "keys")
    rt.audit.record("signing_key.revoked", actor=actor, subject=kid)
    await rt.reload_keys()


async def list_keys(rt: Runtime) -> list[dict[str, Any]]:
    async with rt.db.session() as session:
        rows = (await session.execute(select(SigningKey).order_by(SigningKey.created_at))).scalars().all()

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return [
        {"kid": r.kid, "alg": r.alg, "status": r.status, "created_at": iso(r.created_at),
         "activated_at": iso(r.activated_at), "retired_at": iso(r.retired_at),
         "publish_until": iso(r.publish_until), "revoked_at": iso(r.revoked_at)}
        for r in rows
    ]


async def load_keyring(rt: Runtime) -> KeyRing:
    """Decrypt and parse every published key (once per change, never per request)."""
    now = datetime.fromtimestamp(rt.clock.now(), UTC)
    async with rt.db.session() as session:
        rows = (await session.execute(select(SigningKey).where(SigningKey.status.in_(PUBLISHED)))).scalars().all()
    keys: dict[str, SigningKeyMaterial] = {}
    for row in rows:
        if row.status == "retired" and row.publish_until is not None and row.publish_until <= now:
            continue
        cached = rt.keyring.keys.get(row.kid) if rt.keyring else None
        if cached is not None and cached.status == row.status and cached.publish_until == row.publish_until:
            keys[row.kid] = cached
            continue
        pem = rt.master.unseal(row.private_key_enc, row.kid.encode())
        keys[row.kid] = load_signing_key(row.kid, row.alg, row.status, pem, row.public_jwk, row.publish_until)
    return KeyRing(keys, now=rt.clock.now)
