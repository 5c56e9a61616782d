"""Compact audit events: packed identifiers, integer times, binary hashes, no stored previous hash, and
the indexes of the keyset-paginated listing. Existing rows are copied over in batches; their chain
hashes stay valid because the stored values map one-to-one onto the old ones.

Revision ID: 0003
Revises: 0001
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from tokensmith.storage.compact import CanonicalJSON, HexDigest, Micros, PackedText

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None

_BATCH = 5000
_OLD_NAME = "audit_events_0001"
_COLUMNS = ("seq", "id", "at", "type", "tenant_id", "actor", "subject", "ip", "request_id", "data")


def _old_table(name: str) -> sa.Table:
    return sa.Table(
        name, sa.MetaData(),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("id", sa.String(36)), sa.Column("at", sa.DateTime(timezone=True)),
        sa.Column("type", sa.String(60)), sa.Column("tenant_id", sa.String(36)), sa.Column("actor", sa.String(200)),
        sa.Column("subject", sa.String(200)), sa.Column("ip", sa.String(64)),
        sa.Column("request_id", sa.String(64)), sa.Column("data", sa.JSON),
        sa.Column("prev_hash", sa.String(64)), sa.Column("hash", sa.String(64)),
    )


def _new_table(name: str) -> sa.Table:
    return sa.Table(
        name, sa.MetaData(),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("id", PackedText), sa.Column("at", Micros), sa.Column("type", sa.String(60)),
        sa.Column("tenant_id", PackedText), sa.Column("actor", PackedText), sa.Column("subject", PackedText),
        sa.Column("ip", sa.String(64)), sa.Column("request_id", PackedText), sa.Column("data", CanonicalJSON),
        sa.Column("hash", HexDigest),
    )


def _create_compact() -> None:
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("id", sa.LargeBinary(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=60), nullable=False),
        sa.Column("tenant_id", sa.LargeBinary(), nullable=True),
        sa.Column("actor", sa.LargeBinary(), nullable=True),
        sa.Column("subject", sa.LargeBinary(), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.LargeBinary(), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_events"),
        sa.UniqueConstraint("id", name="uq_audit_events_id"),
    )
    for name, columns in (("tenant_seq", ["tenant_id", "seq"]), ("type_seq", ["type", "seq"]),
                          ("actor_seq", ["actor", "seq"]), ("subject_seq", ["subject", "seq"]),
                          ("tenant_at_seq", ["tenant_id", "at", "seq"])):
        op.create_index(f"ix_audit_events_{name}", "audit_events", columns)


def _set_aside(old_indexes: list[str]) -> None:
    """Rename the current table out of the way; index and constraint names are global (PostgreSQL) or
    per database (SQLite), so they are dropped or renamed too."""
    for index in old_indexes:
        op.drop_index(index, table_name="audit_events")
    op.rename_table("audit_events", _OLD_NAME)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER INDEX pk_audit_events RENAME TO pk_{_OLD_NAME}")
        op.execute(f"ALTER INDEX uq_audit_events_id RENAME TO uq_{_OLD_NAME}_id")


def _copy(source: sa.Table, target: sa.Table, convert: Any) -> None:
    conn = op.get_bind()
    last = 0
    while True:
        rows = conn.execute(sa.select(source).where(source.c.seq > last).order_by(source.c.seq).limit(_BATCH)).all()
        if not rows:
            return
        conn.execute(target.insert(), convert(rows))
        last = rows[-1].seq


def upgrade() -> None:
    _set_aside(["ix_audit_events_type"])
    _create_compact()

    def convert(rows: list[Any]) -> list[dict[str, Any]]:
        return [{**{c: getattr(r, c) for c in _COLUMNS}, "data": r.data or {}, "hash": r.hash} for r in rows]

    _copy(_old_table(_OLD_NAME), _new_table("audit_events"), convert)
    op.drop_table(_OLD_NAME)


def downgrade() -> None:
    _set_aside(["ix_audit_events_tenant_seq", "ix_audit_events_type_seq", "ix_audit_events_actor_seq",
                "ix_audit_events_subject_seq", "ix_audit_events_tenant_at_seq"])
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("type", sa.String(length=60), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_events"),
        sa.UniqueConstraint("id", name="uq_audit_events_id"),
    )
    op.create_index("ix_audit_events_type", "audit_events", ["type"])
    previous: dict[str, Any] = {"seq": 0, "hash": "0" * 64}

    def convert(rows: list[Any]) -> list[dict[str, Any]]:
        out = []
        for r in rows:
            # after a prune the first row's predecessor is archived: its hash is unknown here
            prev = previous["hash"] if previous["seq"] == r.seq - 1 else "?" * 64
            out.append({**{c: getattr(r, c) for c in _COLUMNS}, "prev_hash": prev, "hash": r.hash})
            previous.update(seq=r.seq, hash=r.hash)
        return out

    _copy(_new_table(_OLD_NAME), _old_table("audit_events"), convert)
    op.drop_table(_OLD_NAME)
