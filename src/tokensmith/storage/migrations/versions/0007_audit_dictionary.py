"""Audit events at production volume: type, tenant and actor as codes of a name dictionary
(``audit_names``), IP addresses packed, no index on ``id``, the type index partial (without the two
high-volume types), and on SQLite ``seq`` as the rowid. Existing rows are copied over in batches; every
stored value maps one-to-one onto the old one, so the chain hashes stay valid.

Revision ID: 0007_audit_dictionary
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

from tokensmith.storage.compact import pack_ip, pack_text, unpack_text

revision = "0007_audit_dictionary"
down_revision = "0004_browser_signin"
branch_labels = None
depends_on = None

_BATCH = 5000
_OLD = "audit_events_0003"
_BULK = ("exchange.issued", "token.issued")  # codes 1 and 2: left out of the partial type index
_NEW_INDEXES = {"tenant_seq": ["tenant_code", "seq"], "tenant_at_seq": ["tenant_code", "at", "seq"],
                "actor_seq": ["actor_code", "seq"], "subject_seq": ["subject", "seq"]}
_OLD_INDEXES = {"tenant_seq": ["tenant_id", "seq"], "type_seq": ["type", "seq"], "actor_seq": ["actor", "seq"],
                "subject_seq": ["subject", "seq"], "tenant_at_seq": ["tenant_id", "at", "seq"]}


def _postgres() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def _set_aside(indexes: list[str], unique_id: bool) -> None:
    """Rename the current table out of the way (index names are global on PostgreSQL)."""
    for name in indexes:
        op.drop_index(f"ix_audit_events_{name}", table_name="audit_events")
    op.rename_table("audit_events", _OLD)
    if _postgres():
        op.execute(f"ALTER INDEX pk_audit_events RENAME TO pk_{_OLD}")
        if unique_id:
            op.execute(f"ALTER INDEX uq_audit_events_id RENAME TO uq_{_OLD}_id")


def _copy(select_sql: str, insert_sql: str, convert: Callable[[list[Any]], list[dict[str, Any]]]) -> None:
    conn = op.get_bind()
    last = -1
    while True:
        rows = conn.execute(sa.text(select_sql), {"last": last, "n": _BATCH}).all()
        if not rows:
            return
        conn.execute(sa.text(insert_sql), convert(list(rows)))
        last = rows[-1][0]


def _seq_type() -> Any:
    return sa.Integer() if not _postgres() else sa.BigInteger()


def upgrade() -> None:
    op.create_table(
        "audit_names",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_names"),
        sa.UniqueConstraint("name", name="uq_audit_names_name"),
    )
    _set_aside(list(_OLD_INDEXES), unique_id=True)
    op.create_table(
        "audit_events",
        sa.Column("seq", _seq_type(), autoincrement=False, nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("type_code", sa.Integer(), nullable=False),
        sa.Column("tenant_code", sa.Integer(), nullable=True),
        sa.Column("actor_code", sa.Integer(), nullable=True),
        sa.Column("subject", sa.LargeBinary(), nullable=True),
        sa.Column("ip", sa.LargeBinary(), nullable=True),
        sa.Column("request_id", sa.LargeBinary(), nullable=True),
        sa.Column("id", sa.LargeBinary(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_events"),
    )
    conn = op.get_bind()
    codes: dict[bytes, int] = {}

    def code(packed: bytes | None) -> int | None:
        if packed is None:
            return None
        packed = bytes(packed)
        if packed not in codes:
            codes[packed] = len(codes) + 1
            conn.execute(sa.text("INSERT INTO audit_names (id, name) VALUES (:i, :n)"),
                         {"i": codes[packed], "n": packed})
        return codes[packed]

    for name in _BULK:
        code(pack_text(name))

    def convert(rows: list[Any]) -> list[dict[str, Any]]:
        return [{"seq": r[0], "at": r[2], "type_code": code(pack_text(r[3])), "tenant_code": code(r[4]),
                 "actor_code": code(r[5]), "subject": r[6], "ip": None if r[7] is None else pack_ip(r[7]),
                 "request_id": r[8], "id": r[1], "data": r[9], "hash": r[10]} for r in rows]

    _copy(f"SELECT seq, id, at, type, tenant_id, actor, subject, ip, request_id, data, hash FROM {_OLD} "  # noqa: S608
          "WHERE seq > :last ORDER BY seq LIMIT :n",
          "INSERT INTO audit_events (seq, at, type_code, tenant_code, actor_code, subject, ip, request_id, id, "
          "data, hash) VALUES (:seq, :at, :type_code, :tenant_code, :actor_code, :subject, :ip, :request_id, "
          ":id, :data, :hash)", convert)
    if _postgres():
        op.execute("SELECT setval(pg_get_serial_sequence('audit_names', 'id'), (SELECT max(id) FROM audit_names))")
    op.drop_table(_OLD)
    for name, columns in _NEW_INDEXES.items():
        op.create_index(f"ix_audit_events_{name}", "audit_events", columns)
    op.create_index("ix_audit_events_rare_type_seq", "audit_events", ["type_code", "seq"],
                    sqlite_where=sa.text("type_code > 2"), postgresql_where=sa.text("type_code > 2"))


def downgrade() -> None:
    _set_aside([*_NEW_INDEXES, "rare_type_seq"], unique_id=False)
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
    names = {int(i): bytes(n) for i, n in op.get_bind().execute(sa.text("SELECT id, name FROM audit_names"))}

    def convert(rows: list[Any]) -> list[dict[str, Any]]:
        return [{"seq": r[0], "id": r[8], "at": r[1], "type": unpack_text(names[r[2]]),
                 "tenant_id": names.get(r[3]), "actor": names.get(r[4]), "subject": r[5],
                 "ip": None if r[6] is None else unpack_text(bytes(r[6])), "request_id": r[7], "data": r[9],
                 "hash": r[10]} for r in rows]

    _copy(f"SELECT seq, at, type_code, tenant_code, actor_code, subject, ip, request_id, id, data, hash "  # noqa: S608
          f"FROM {_OLD} WHERE seq > :last ORDER BY seq LIMIT :n",
          "INSERT INTO audit_events (seq, id, at, type, tenant_id, actor, subject, ip, request_id, data, hash) "
          "VALUES (:seq, :id, :at, :type, :tenant_id, :actor, :subject, :ip, :request_id, :data, :hash)", convert)
    op.drop_table(_OLD)
    op.drop_table("audit_names")
    for name, columns in _OLD_INDEXES.items():
        op.create_index(f"ix_audit_events_{name}", "audit_events", columns)
