"""The in-memory revocation view and the read window of the durable feed, free of any database or Redis
code, so that the service's own feed (:mod:`tokensmith.revocation.feed`) and the resource-server guard
(:mod:`tokensmith.guard`) apply entries and read the table by the same rules.

Why a window and not "rows with an id above the last one seen": ids are assigned at insert, rows become
visible at commit, and two concurrent transactions can commit out of id order. A reader that only asked for
ids above its maximum would skip the row of the transaction that committed last. Readers therefore ask for
every row *created* since ``OVERLAP`` before their previous read, and drop the ones they already applied
(:class:`SeenRows`); a transaction that stays open longer than ``OVERLAP`` is the one case this misses.
"""

from __future__ import annotations

from datetime import datetime, timedelta

OVERLAP = timedelta(seconds=10)
CHANNEL = "revocations"  # the Redis pub/sub channel, under the deployment's redis_namespace
#: every kind a feed row can have (``changed``: a cache entry named by ``value`` must be reloaded)
KINDS = ("jti", "sid", "kid", "client", "user", "apikey", "tenant", "changed")
#: the kinds that cut off every token of an identity issued before ``not_before_ms``
CUTOFF_KINDS = frozenset({"client", "user", "apikey", "tenant"})


def channel_name(namespace: str) -> str:
    """The Redis pub/sub channel of a deployment (the service publishes there, guards subscribe)."""
    return f"{namespace}:{CHANNEL}"


def window_start(read_at: datetime) -> datetime:
    """Where the next read must start so that rows of transactions still open at ``read_at`` are seen."""
    return read_at - OVERLAP


class SeenRows:
    """The ids of feed rows already applied, kept for twice the overlap (a row can show up in two reads)."""

    def __init__(self) -> None:
        self._seen: dict[int, datetime] = {}

    def first_time(self, row_id: int, created_at: datetime) -> bool:
        """True (and remembered) the first time ``row_id`` is offered."""
        if row_id in self._seen:
            return False
        self._seen[row_id] = created_at
        return True

    def forget_before(self, read_at: datetime) -> None:
        cutoff = read_at - OVERLAP * 2
        self._seen = {k: v for k, v in self._seen.items() if v >= cutoff}

    def __len__(self) -> int:
        return len(self._seen)


class RevocationView:
    """Revoked ``jti`` s, sessions and signing keys, and the per-identity cut-offs; every query is a dict or
    set look-up (the hot path of every token check)."""

    def __init__(self) -> None:
        self.jtis: dict[str, float] = {}  # jti -> expiry (s); dropped after expiry
        self.sids: set[str] = set()
        self.kids: set[str] = set()  # revoked signing keys: checked even before the key ring is reloaded
        self.not_before_ms: dict[tuple[str, str], int] = {}  # (kind, id) -> ms
        #: bumped by every entry applied: a check made at the same version needs no repeating
        self.version = 0

    def is_jti_revoked(self, jti: str | None) -> bool:
        return jti is not None and jti in self.jtis

    def is_sid_revoked(self, sid: str | None) -> bool:
        return sid is not None and sid in self.sids

    def is_kid_revoked(self, kid: str | None) -> bool:
        return kid is not None and kid in self.kids

    def issued_before_cutoff(self, kind: str, ident: str | None, issued_ms: int | None) -> bool:
        """True when a token of ``kind``/``ident`` issued at ``issued_ms`` has been cut off."""
        if ident is None:
            return False
        cutoff = self.not_before_ms.get((kind, ident))
        if cutoff is None:
            return False
        return issued_ms is None or issued_ms < cutoff

    def apply_entry(self, kind: str, value: str, not_before_ms: int | None, expires_at: float | None) -> None:
        """Record one entry (``changed`` entries carry no state here: the caller reloads what they name)."""
        self.version += 1
        if kind == "jti":
            self.jtis[value] = expires_at or float("inf")
        elif kind == "sid":
            self.sids.add(value)
        elif kind == "kid":
            self.kids.add(value)
        elif kind in CUTOFF_KINDS and not_before_ms is not None:
            current = self.not_before_ms.get((kind, value), 0)
            self.not_before_ms[(kind, value)] = max(current, not_before_ms)

    def drop_expired_jtis(self, now: float, *, above: int = 1000) -> None:
        if len(self.jtis) > above:
            self.jtis = {k: v for k, v in self.jtis.items() if v > now}
