"""Sign-in throttling: a lockout per account and a failure budget per client IP (docs/security.md).

Attempts are *reserved before* the password is checked, atomically, so that concurrent wrong passwords
cannot all slip in under the threshold: with ``login_max_failures = 5``, twenty simultaneous wrong
passwords give five password checks and fifteen 429s, and the account is locked.

* Known accounts: the counter is the ``users`` row (``failed_logins``, ``last_failed_login_at``,
  ``locked_until``), reserved with one conditional ``UPDATE … RETURNING`` — atomic on SQLite and
  PostgreSQL and shared by every instance.
* Unknown e-mail addresses get the same treatment from a counter keyed by the e-mail's keyed hash, so
  that a lockout does not reveal whether an account exists.
* Client IPs: failures per minute, reserved the same way; a correct password gives its reservation back.

The IP and unknown-address counters are the service's one counting core (:mod:`tokensmith.ratelimit`):
in Redis when configured (shared by every instance), otherwise — and while Redis is unreachable — in
process memory, on the runtime's clock.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, or_, select, update

from tokensmith.clock import utc
from tokensmith.errors import RateLimited
from tokensmith.people.db import autocommit
from tokensmith.storage.models import Role, User

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

THROTTLED = "Too many sign-in attempts"
_U = User.__table__
_R = Role.__table__
#: What a reserved attempt returns about the account: everything the rest of the sign-in needs.
ACCOUNT_COLUMNS = (_U.c.id, _U.c.tenant_id, _U.c.email, _U.c.name, _U.c.password_hash, _U.c.role_id,
                   _U.c.project_permissions, _U.c.status, _U.c.totp_enabled, _U.c.created_at, _U.c.last_login_at,
                   _U.c.failed_logins)


class LoginThrottle:
    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        # the one counting core (tokensmith.ratelimit): Redis when configured, else (and during an outage)
        # this process's memory; the sign-in's keys are its own ("login:…")
        self.counters = rt.limiter.counters

    @property
    def _settings(self) -> Any:
        return self._rt.settings

    # ---- per client IP ----
    async def reserve_ip(self, ip: str | None) -> None:
        if not ip:
            return
        key = f"login:ip:{ip}"
        count, left = await self.counters.incr(key, 60)
        if count > self._settings.login_ip_failures_per_minute:
            await self.counters.decr(key)
            self._rt.audit.record("login.throttled", ip=ip, reason="ip")
            raise RateLimited(math.ceil(left), THROTTLED)

    async def release_ip(self, ip: str | None) -> None:
        if ip:
            await self.counters.decr(f"login:ip:{ip}")

    # ---- per account ----
    def _email_key(self, email: str) -> str:
        return self._rt.master.secret_hash("login-email:" + email)[:40]

    async def reserve_account(self, *, email: str | None = None, user_id: str | None = None) -> tuple[Any, int]:
        """Reserve one attempt on the account with this e-mail (or id), atomically, and return the account
        (the columns of :data:`ACCOUNT_COLUMNS`) with the attempt's number in the current failure series.
        Unknown e-mail addresses return ``(None, n)``, counted alike. Raises :class:`RateLimited` when the
        account is locked or all of its attempts are already taken."""
        s = self._settings
        now = utc(self._rt.clock.now())
        lock_over = and_(_U.c.locked_until.is_not(None), _U.c.locked_until <= now)
        new_series = or_(_U.c.last_failed_login_at.is_(None),
                         _U.c.last_failed_login_at < now - timedelta(seconds=s.login_failure_window), lock_over)
        which = _U.c.email == email if user_id is None else _U.c.id == user_id
        stmt = (update(_U)
                .where(which, or_(_U.c.locked_until.is_(None), _U.c.locked_until <= now),
                       or_(_U.c.failed_logins < s.login_max_failures, new_series))
                .values(failed_logins=case((new_series, 1), else_=_U.c.failed_logins + 1), locked_until=None,
                        last_failed_login_at=now))
        if self._rt.db.dialect == "postgresql":
            # PostgreSQL returns the role with the account (UPDATE … FROM roles): one round trip less later.
            stmt = stmt.where(_R.c.id == _U.c.role_id).returning(
                *ACCOUNT_COLUMNS, _R.c.name.label("role"), _R.c.permissions.label("role_permissions"))
        else:
            stmt = stmt.returning(*ACCOUNT_COLUMNS)
        async with autocommit(self._rt) as conn:
            account = (await conn.execute(stmt)).first()
            if account is not None:
                return account, int(account.failed_logins)
            refused = (await conn.execute(select(_U.c.locked_until).where(which))).first()
        if refused is None:
            if email is None:
                raise RateLimited(1, THROTTLED)  # the account vanished meanwhile
            return None, await self._reserve_unknown(email)
        locked_until = refused.locked_until
        retry = (locked_until - now).total_seconds() if locked_until is not None and locked_until > now else 1
        raise RateLimited(math.ceil(retry), THROTTLED)

    async def _reserve_unknown(self, email: str) -> int:
        key = self._email_key(email)
        ttl = await self.counters.ttl(f"login:lock:{key}")
        if ttl is not None and ttl > 0:
            raise RateLimited(math.ceil(ttl), THROTTLED)
        count, _ = await self.counters.incr(f"login:fail:{key}", self._settings.login_failure_window, refresh=True)
        if count > self._settings.login_max_failures:
            await self.counters.decr(f"login:fail:{key}")
            raise RateLimited(1, THROTTLED)
        return count

    async def failed(self, user_id: str | None, email: str, attempt: int) -> bool:
        """Record that the reserved attempt failed; returns True when this failure locked the account."""
        s = self._settings
        if attempt < s.login_max_failures:
            return False
        if user_id is None:
            key = self._email_key(email)
            await self.counters.set(f"login:lock:{key}", s.login_lockout_seconds)
            await self.counters.delete(f"login:fail:{key}")
            return True
        until = utc(self._rt.clock.now() + s.login_lockout_seconds)
        async with autocommit(self._rt) as conn:
            await conn.execute(update(_U).where(_U.c.id == user_id).values(locked_until=until))
        return True

    async def give_back(self, user_id: str) -> None:
        """The password was right but a second factor is still due: this attempt is not a failure, and
        the earlier failures of the series still count (they are reset only by a complete sign-in)."""
        async with autocommit(self._rt) as conn:
            await conn.execute(update(_U).where(_U.c.id == user_id).values(
                failed_logins=case((_U.c.failed_logins > 0, _U.c.failed_logins - 1), else_=0)))

    async def succeeded(self, user_id: str, *, login: bool = True) -> None:
        async with autocommit(self._rt) as conn:
            await conn.execute(update(_U).where(_U.c.id == user_id).values(**reset_values(self._rt, login=login)))


def reset_values(rt: Runtime, *, login: bool = True) -> dict[str, Any]:
    """The ``users`` columns a complete sign-in (or an unlock) resets."""
    values: dict[str, Any] = {"failed_logins": 0, "locked_until": None, "last_failed_login_at": None}
    if login:
        values["last_login_at"] = utc(rt.clock.now())
    return values
