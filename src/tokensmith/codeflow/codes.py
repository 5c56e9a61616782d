"""Authorization codes (RFC 6749 §4.1.2, §10.5): random and URL-safe, stored only as keyed hashes in the
``tokens`` table (kind ``code``), single-use, ``authorization_code_ttl`` (60 s) long, and bound to what the
token request must match — the client, the redirect URI, the PKCE challenge — and to what the tokens
will carry: scopes, nonce, the browser session (``sid``), ``auth_time``, ``amr``, audience and launch
context.

Each code names, from its issue, the id of the code-flow session its exchange creates; every token the
exchange issues carries that ``sid``. A code presented a second time is refused *and* that grant is
revoked, which takes the access and refresh tokens issued from the code with it (RFC 6749 §4.1.2).

A replay can arrive while the first exchange is still writing its grant, so "revoke the session" alone
would find nothing to revoke and the first exchange's tokens would survive. Two things close that window:
the replay marks the code row revoked and writes the ``sid`` to the revocation feed before anything else
(every token carrying the ``sid`` is dead, whenever it is issued), and the first exchange's transaction
starts by claiming the code row (:func:`claim_for_issue`), which fails once the row is marked. The row
lock the claim takes orders the two: either the replay waits for the grant to commit (and then revokes
its session), or the grant sees the mark and issues nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tokensmith.clock import utc
from tokensmith.codeflow.launch import LaunchContext
from tokensmith.ids import new_row_id, random_token
from tokensmith.people.db import writing
from tokensmith.storage.db import rowcount
from tokensmith.storage.models import Token

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

_T = Token.__table__
KIND = "code"


@dataclass(frozen=True)
class CodeGrant:
    """What an authorization code stands for."""

    tenant_id: str
    client_id: str
    user_id: str
    browser_session_id: str
    redirect_uri: str
    redirect_uri_given: bool
    code_challenge: str
    scopes: tuple[str, ...]
    nonce: str | None
    auth_time: int
    amr: tuple[str, ...]
    audience: str | None
    launch: LaunchContext | None
    #: the code-flow session the exchange creates (revoked when the code is replayed)
    session_id: str
    #: the code's row (not a claim: known once the code is stored)
    code_id: str = ""

    def claims(self) -> dict[str, Any]:
        return {"redirect_uri": self.redirect_uri, "redirect_uri_given": self.redirect_uri_given,
                "code_challenge": self.code_challenge, "nonce": self.nonce, "auth_time": self.auth_time,
                "amr": list(self.amr), "aud": self.audience, "browser_sid": self.browser_session_id,
                "sid": self.session_id, "launch": self.launch.claims() if self.launch else None}


def _grant(row: Any) -> CodeGrant:
    c = row.claims or {}
    return CodeGrant(tenant_id=row.tenant_id, client_id=row.client_id, user_id=row.user_id,
                     browser_session_id=c.get("browser_sid", ""), redirect_uri=c.get("redirect_uri", ""),
                     redirect_uri_given=bool(c.get("redirect_uri_given", True)),
                     code_challenge=c.get("code_challenge", ""), scopes=tuple(row.scopes or ()),
                     nonce=c.get("nonce"), auth_time=int(c.get("auth_time", 0)), amr=tuple(c.get("amr") or ()),
                     audience=c.get("aud"), launch=LaunchContext.from_claims(c.get("launch")),
                     session_id=c.get("sid", ""), code_id=row.id)


async def issue_code(rt: Runtime, *, tenant_id: str, client_id: str, user_id: str, browser_session_id: str,
                     redirect_uri: str, redirect_uri_given: bool, code_challenge: str, scopes: tuple[str, ...],
                     nonce: str | None, auth_time: int, amr: tuple[str, ...], audience: str | None,
                     launch: LaunchContext | None) -> str:
    value = random_token(32)
    now = rt.clock.now()
    grant = CodeGrant(tenant_id, client_id, user_id, browser_session_id, redirect_uri, redirect_uri_given,
                      code_challenge, scopes, nonce, auth_time, amr, audience, launch, new_row_id())
    async with writing(rt) as conn:
        await conn.execute(_T.insert().values(
            id=new_row_id(), token_hash=rt.master.secret_hash(value), kind=KIND, tenant_id=tenant_id,
            client_id=client_id, user_id=user_id, session_id=browser_session_id, name=None, scopes=list(scopes),
            claims=grant.claims(), parent_id=None, created_at=utc(now),
            expires_at=utc(now + rt.settings.authorization_code_ttl), used_at=None, last_used_at=None,
            revoked_at=None))
    rt.audit.record("authorization_code.issued", tenant_id=tenant_id, actor=f"user:{user_id}", subject=client_id,
                    scope=list(scopes), session_id=grant.session_id)
    return value


@dataclass(frozen=True)
class Redeemed:
    """The outcome of presenting a code: the grant (first use), or why not."""

    grant: CodeGrant | None
    #: "unknown" | "expired" | "replayed" | "other_client" (None when redeemed)
    refusal: str | None = None
    #: the replayed code's grant: its session must be revoked
    replayed: CodeGrant | None = None


async def redeem_code(rt: Runtime, value: str, client_id: str) -> Redeemed:
    """Use the code up, atomically (one conditional UPDATE): the first presentation wins."""
    digest = rt.master.secret_hash(value)
    now = utc(rt.clock.now())
    async with writing(rt) as conn:
        row = (await conn.execute(
            update(_T).where(_T.c.token_hash == digest, _T.c.kind == KIND, _T.c.used_at.is_(None),
                             _T.c.client_id == client_id, _T.c.expires_at > now)
            .values(used_at=now)
            .returning(_T.c.id, _T.c.tenant_id, _T.c.client_id, _T.c.user_id, _T.c.scopes, _T.c.claims))).first()
        if row is not None:
            return Redeemed(_grant(row))
        found = (await conn.execute(select(
            _T.c.id, _T.c.tenant_id, _T.c.client_id, _T.c.user_id, _T.c.scopes, _T.c.claims, _T.c.used_at,
            _T.c.expires_at)
            .where(_T.c.token_hash == digest, _T.c.kind == KIND))).first()
    if found is None:
        return Redeemed(None, "unknown")
    if found.client_id != client_id:
        return Redeemed(None, "other_client")
    if found.used_at is not None:
        return Redeemed(None, "replayed", replayed=_grant(found))
    return Redeemed(None, "expired")


async def claim_for_issue(rt: Runtime, conn: AsyncConnection, grant: CodeGrant) -> bool:
    """The first statement of the transaction that writes the grant: False when a replay has marked the
    code meanwhile. It locks the code row until that transaction ends (the write lock on SQLite), so a
    replay's :func:`revoke_grant` waits for the grant to commit and then finds its session."""
    done = await conn.execute(update(_T).where(_T.c.id == grant.code_id, _T.c.revoked_at.is_(None))
                              .values(last_used_at=utc(rt.clock.now())))
    return rowcount(done) == 1


async def revoke_grant(rt: Runtime, grant: CodeGrant) -> bool:
    """Mark the replayed code and put its grant's ``sid`` on the revocation feed, in one transaction;
    False when an earlier replay did already. Revoking the session's rows is the caller's next step."""
    now = rt.clock.now()
    async with rt.db.session() as session:
        marked = rowcount(await session.execute(update(_T).where(
            _T.c.id == grant.code_id, _T.c.revoked_at.is_(None)).values(revoked_at=utc(now))))
        if not marked:
            return False
        # Remembered as long as any token of the grant can live: the session's longest life plus an
        # access token issued at its very end.
        longest = max(rt.settings.session_absolute_timeout, rt.settings.browser_session_absolute_timeout)
        until = now + longest + rt.settings.code_flow_access_token_ttl
        await rt.revocations.revoke(session, "sid", grant.session_id, expires_at=until)
    return True
