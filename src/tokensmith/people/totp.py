"""Optional second factor: TOTP (RFC 6238, SHA-1, 6 digits, 30 s steps — what authenticator apps
implement) with single-use recovery codes.

* The TOTP secret is sealed with the master key (AES-GCM, the user id as associated data).
* A code is accepted for the current step and one step either side (clock drift), and each step only
  once: ``users.totp_last_step`` is advanced with a conditional ``UPDATE``, so a replayed code — or the
  same code sent twice concurrently — is refused.
* Recovery codes are stored as keyed hashes; using one removes it under the user row's lock.
"""

from __future__ import annotations

import hmac
import re
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pyotp
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tokensmith.errors import Conflict, InvalidRequest, NotFound
from tokensmith.storage.db import rowcount
from tokensmith.storage.models import User

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1
RECOVERY_CODES = 10
_U = User.__table__
_TOTP_CODE = re.compile(r"^\d{6}$")


def _aad(user_id: str) -> bytes:
    return b"totp:" + user_id.encode()


def _normalise_recovery(code: str) -> str:
    return re.sub(r"[\s-]", "", code).lower()


def _recovery_hash(rt: Runtime, user_id: str, code: str) -> str:
    return rt.master.secret_hash(f"recovery:{user_id}:{_normalise_recovery(code)}")


def new_recovery_codes(rt: Runtime, user_id: str) -> tuple[list[str], list[str]]:
    """(codes to show once, their keyed hashes to store)."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = secrets.token_hex(5)
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes, [_recovery_hash(rt, user_id, c) for c in codes]


def _matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step ``code`` belongs to (current ± drift), compared in constant time."""
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = int(now // STEP_SECONDS)
    matched = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            matched = step
    return matched


async def _load(session: AsyncSession, user_id: str) -> Any:
    row = (await session.execute(select(
        _U.c.id, _U.c.email, _U.c.tenant_id, _U.c.totp_secret_enc, _U.c.totp_enabled, _U.c.totp_last_step,
        _U.c.recovery_codes).where(_U.c.id == user_id))).first()
    if row is None:
        raise NotFound("user not found")
    return row


async def check_totp(rt: Runtime, user_id: str, secret_enc: bytes | None, code: str) -> bool:
    """True for a valid, not yet used code; consumes its time step."""
    if secret_enc is None or not _TOTP_CODE.match(code):
        return False
    secret = rt.master.unseal(secret_enc, _aad(user_id)).decode()
    step = _matching_step(secret, code, rt.clock.now())
    if step is None:
        return False
    async with rt.db.session() as session:
        done = await session.execute(update(_U).where(
            _U.c.id == user_id, or_(_U.c.totp_last_step.is_(None), _U.c.totp_last_step < step))
            .values(totp_last_step=step))
        return rowcount(done) == 1


async def use_recovery_code(rt: Runtime, user_id: str, code: str) -> bool:
    """True when ``code`` is one of the user's unused recovery codes; it is used up."""
    candidate = _recovery_hash(rt, user_id, code)
    async with rt.db.session() as session:
        # Take the row's lock first (PostgreSQL row lock / SQLite write lock), then read and rewrite.
        await session.execute(update(_U).where(_U.c.id == user_id).values(failed_logins=_U.c.failed_logins))
        stored = (await session.execute(select(_U.c.recovery_codes).where(_U.c.id == user_id))).scalar() or []
        match = None
        for value in stored:
            if hmac.compare_digest(value, candidate):
                match = value
        if match is None:
            return False
        await session.execute(update(_U).where(_U.c.id == user_id)
                              .values(recovery_codes=[v for v in stored if v != match]))
        return True


async def verify_second_factor(rt: Runtime, user_id: str, code: str) -> str | None:
    """``"totp"`` or ``"recovery_code"`` when ``code`` is accepted, else None."""
    code = code.strip()
    async with rt.db.session() as session:
        row = await _load(session, user_id)
    if not row.totp_enabled:
        return None
    if _TOTP_CODE.match(code):
        return "totp" if await check_totp(rt, user_id, row.totp_secret_enc, code) else None
    if len(code) <= 32 and await use_recovery_code(rt, user_id, code):
        return "recovery_code"
    return None


async def begin_setup(rt: Runtime, user_id: str) -> dict[str, str]:
    """A new (not yet active) secret; returns it and the ``otpauth://`` URI for a QR code."""
    async with rt.db.session() as session:
        row = await _load(session, user_id)
        if row.totp_enabled:
            raise Conflict("two-factor authentication is already enabled")
        secret = pyotp.random_base32()
        await session.execute(update(_U).where(_U.c.id == user_id).values(
            totp_secret_enc=rt.master.seal(secret.encode(), _aad(user_id)), totp_last_step=None))
    issuer = rt.settings.totp_issuer
    uri = (f"otpauth://totp/{quote(issuer)}:{quote(row.email)}?secret={secret}&issuer={quote(issuer)}"
           f"&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}")
    return {"secret": secret, "otpauthUri": uri}


async def enable(rt: Runtime, user_id: str, code: str, *, actor: str | None = None) -> list[str]:
    """Activate the secret of :func:`begin_setup` with a first valid code; returns the recovery codes."""
    async with rt.db.session() as session:
        row = await _load(session, user_id)
    if row.totp_enabled:
        raise Conflict("two-factor authentication is already enabled")
    if row.totp_secret_enc is None:
        raise InvalidRequest("start the set-up first (POST /auth/totp/setup)")
    if not await check_totp(rt, user_id, row.totp_secret_enc, code.strip()):
        raise InvalidRequest("invalid authentication code")
    codes, hashes = new_recovery_codes(rt, user_id)
    async with rt.db.session() as session:
        await session.execute(update(_U).where(_U.c.id == user_id).values(totp_enabled=True, recovery_codes=hashes))
    rt.audit.record("user.totp_enabled", tenant_id=row.tenant_id, actor=actor, subject=user_id)
    return codes


async def disable(rt: Runtime, user_id: str, code: str, *, actor: str | None = None) -> None:
    async with rt.db.session() as session:
        row = await _load(session, user_id)
    if not row.totp_enabled:
        raise InvalidRequest("two-factor authentication is not enabled")
    if await verify_second_factor(rt, user_id, code) is None:
        raise InvalidRequest("invalid authentication code")
    async with rt.db.session() as session:
        await session.execute(update(_U).where(_U.c.id == user_id).values(
            totp_enabled=False, totp_secret_enc=None, recovery_codes=[], totp_last_step=None))
    rt.audit.record("user.totp_disabled", tenant_id=row.tenant_id, actor=actor, subject=user_id)


async def regenerate_recovery_codes(rt: Runtime, user_id: str, code: str, *, actor: str | None = None) -> list[str]:
    async with rt.db.session() as session:
        row = await _load(session, user_id)
    if not row.totp_enabled:
        raise InvalidRequest("two-factor authentication is not enabled")
    if await verify_second_factor(rt, user_id, code) is None:
        raise InvalidRequest("invalid authentication code")
    codes, hashes = new_recovery_codes(rt, user_id)
    async with rt.db.session() as session:
        await session.execute(update(_U).where(_U.c.id == user_id).values(recovery_codes=hashes))
    rt.audit.record("user.recovery_codes_regenerated", tenant_id=row.tenant_id, actor=actor, subject=user_id)
    return codes
