"""``opaque`` access tokens: a 256-bit random reference token; only its keyed hash is stored, with the
claims it stands for; revocable at once, checked by lookup (introspection)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from tokensmith.ids import MAX_TOKEN_LENGTH, random_token
from tokensmith.storage.batching import Batcher
from tokensmith.storage.models import Token
from tokensmith.tokens.registry import Issuance, TokenInfo
from tokensmith.tokens.revoked import revoked_reason

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime


class OpaqueFormat:
    name = "opaque"

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._rows: Batcher[dict[str, Any], None] = Batcher(self._insert_rows, max_size=256, max_inflight=1)

    def recognises(self, token: str) -> bool:
        return "." not in token

    async def issue(self, claims: dict[str, Any], issuance: Issuance) -> str:
        value = random_token(32)
        row = dict(
            id=claims["jti"], token_hash=self._rt.master.secret_hash(value), kind="access",
            tenant_id=issuance.tenant_id, client_id=issuance.client_id, user_id=issuance.user_id,
            session_id=issuance.session_id, scopes=issuance.scopes, claims=claims,
            created_at=datetime.fromtimestamp(issuance.now, UTC),
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        )
        if issuance.conn is not None:
            await issuance.conn.execute(insert(Token), row)
            return value
        # Group commit: concurrent issuances share one transaction and one multi-row INSERT; each
        # caller still returns only after its row is committed (introspection anywhere finds it).
        await self._rows.submit(row)
        return value

    async def _insert_rows(self, rows: list[dict[str, Any]]) -> list[None]:
        # write-only (nothing read first): SQLite's own lock suffices, no write turn (storage/writer.py)
        async with self._rt.db.session() as session:
            await session.execute(insert(Token), rows)
        return [None] * len(rows)

    async def verify(self, token: str) -> tuple[TokenInfo | None, str]:
        if len(token) > MAX_TOKEN_LENGTH:
            return None, "too long"
        digest = self._rt.master.secret_hash(token)
        async with self._rt.db.session() as session:
            row = (await session.execute(select(Token).where(Token.token_hash == digest))).scalar()
        if row is None or row.kind != "access":
            return None, "unknown"
        if row.revoked_at is not None:
            return None, "revoked"
        if row.expires_at is not None and row.expires_at.timestamp() <= self._rt.clock.now():
            return None, "expired"
        claims = dict(row.claims)
        reason = revoked_reason(self._rt.revocations, claims, self._rt.tenants)
        if reason:
            return None, reason
        return TokenInfo(claims=claims, format="opaque", row_id=row.id), "ok"

    async def revoke(self, session: Any, info: TokenInfo, now: float) -> None:
        if info.row_id:
            await session.execute(update(Token).where(Token.id == info.row_id)
                                  .values(revoked_at=datetime.fromtimestamp(now, UTC)))
