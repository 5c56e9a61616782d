"""Signed checkpoints: the chain head (seq, hash) at a moment, signed as a JWS with the service's active
signing key, so anyone holding the JWKS can check what the log looked like then, and a verification can
start from the newest checkpoint instead of seq 1. A checkpoint is itself an audit event
(``audit.checkpoint``, the JWS in ``data.jws``), so the chain covers it too.

The HMAC chain needs the master key to check; a checkpoint needs only public keys. Keys that signed
checkpoints are looked up among every signing key the database still holds (retired ones too), except
revoked keys: a revoked key may be in other hands, so what it signed proves nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jwt
import orjson
from sqlalchemy import select

from tokensmith.audit.names import rare_type_predicate
from tokensmith.audit.store import head
from tokensmith.ids import new_row_id
from tokensmith.jose.tokens import sign_jwt
from tokensmith.storage.compact import from_micros, to_micros
from tokensmith.storage.models import AuditEvent, SigningKey
from tokensmith.storage.shapes import data_of

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

CHECKPOINT_TYPE = "audit.checkpoint"
CHECKPOINT_TYP = "audit-checkpoint+jwt"


class CheckpointError(Exception):
    """A checkpoint whose signature or content does not hold (forged, or signed by an unknown key)."""


@dataclass(frozen=True)
class Checkpoint:
    seq: int  # the chain head it vouches for
    hash: str
    events: int
    at: int
    jws: str


async def create_checkpoint(rt: Runtime) -> Checkpoint | None:
    """Write everything queued, sign the head, append the checkpoint event. None on an empty log."""
    await rt.audit.flush()
    current = await head(rt.db)
    if current is None:
        return None
    key = rt.keyring.active
    if key is None:
        raise CheckpointError("no active signing key")
    seq, digest = current
    now = int(rt.clock.now())
    claims = {"iss": rt.settings.issuer, "typ": "audit-checkpoint", "seq": seq, "hash": digest, "events": seq,
              "iat": now, "jti": new_row_id()}
    jws = sign_jwt(claims, key, typ=CHECKPOINT_TYP)
    rt.audit.record(CHECKPOINT_TYPE, actor="system", jws=jws)
    await rt.audit.flush()
    return Checkpoint(seq, digest, seq, now, jws)


async def verification_keys(rt: Runtime) -> dict[str, tuple[str, Any]]:
    """kid -> (alg, public key) of every signing key not revoked."""
    async with rt.db.sessions() as session:
        rows = (await session.execute(select(SigningKey.kid, SigningKey.alg, SigningKey.public_jwk)
                                      .where(SigningKey.status != "revoked"))).all()
    return {str(kid): (str(alg), jwt.PyJWK(dict(jwk), algorithm=str(alg)).key) for kid, alg, jwk in rows}


def verify_checkpoint(jws: str, keys: dict[str, tuple[str, Any]]) -> Checkpoint:
    """The checkpoint a JWS states, after checking its signature with the key its ``kid`` names (the
    algorithm pinned by that key). Raises :class:`CheckpointError`."""
    try:
        header = jwt.get_unverified_header(jws)
    except jwt.PyJWTError as exc:
        raise CheckpointError(f"malformed checkpoint: {exc}") from exc
    found = keys.get(str(header.get("kid")))
    if found is None:
        raise CheckpointError("checkpoint signed by an unknown or revoked key")
    alg, public = found
    if header.get("alg") != alg or header.get("typ") != CHECKPOINT_TYP:
        raise CheckpointError("checkpoint header does not match its key")
    try:
        claims = orjson.loads(jwt.api_jws.decode(jws, public, algorithms=[alg]))
    except (jwt.PyJWTError, orjson.JSONDecodeError) as exc:
        raise CheckpointError(f"checkpoint signature invalid: {exc}") from exc
    try:
        return Checkpoint(int(claims["seq"]), str(claims["hash"]), int(claims["events"]), int(claims["iat"]), jws)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError("checkpoint claims incomplete") from exc


def jws_of(data: Any) -> str:
    """The JWS in a checkpoint event's ``data`` (a dict, or its stored JSON text)."""
    if isinstance(data, str | bytes):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise CheckpointError("checkpoint event unreadable") from exc
    value = data.get("jws") if isinstance(data, dict) else None
    if not isinstance(value, str):
        raise CheckpointError("checkpoint event without a JWS")
    return value


async def checkpoint_events(rt: Runtime, *, newest_first: bool = True, before_us: int | None = None,
                            limit: int | None = None) -> list[tuple[int, int, str]]:
    """(event seq, at µs, JWS) of checkpoint events in the database (by the partial type index: the
    literal ``type_code > 2`` lets SQLite use it too)."""
    code = await rt.audit.names.code_of(CHECKPOINT_TYPE)
    if code is None:
        return []
    query = select(AuditEvent.seq, AuditEvent.at, AuditEvent.packed_data, AuditEvent.shape).where(
        AuditEvent.type_code == code, rare_type_predicate())
    query = query.order_by(AuditEvent.seq.desc() if newest_first else AuditEvent.seq)
    if before_us is not None:
        query = query.where(AuditEvent.at < from_micros(before_us))
    if limit is not None:
        query = query.limit(limit)
    async with rt.db.sessions() as session:
        rows = (await session.execute(query)).all()
    out = []
    for seq, at, packed, shape in rows:
        try:
            out.append((int(seq), to_micros(at), jws_of(data_of(packed, shape))))
        except (CheckpointError, ValueError):
            out.append((int(seq), to_micros(at), ""))
    return out


async def checkpoint_at(rt: Runtime, seq: int, keys: dict[str, tuple[str, Any]]) -> tuple[Checkpoint, str] | None:
    """The validly signed checkpoint in the database that vouches for the chain head ``seq`` (with its JWS),
    or None: what a chain starting at ``seq + 1`` (after a prune) is anchored on."""
    for _seq, _at, jws in await checkpoint_events(rt):
        try:
            checkpoint = verify_checkpoint(jws, keys)
        except CheckpointError:
            continue
        if checkpoint.seq == seq:
            return checkpoint, jws
    return None
