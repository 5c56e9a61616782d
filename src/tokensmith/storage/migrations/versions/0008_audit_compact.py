"""Audit events, smaller again (issue 14): ``data`` stored as a shape from the name dictionary plus packed
values (``shape_code``; UUIDs as 16 bytes), and the listing's indexes made cheaper -- on PostgreSQL
bucketed, deduplicated btrees for tenant, actor and time and one bigint key for the subject; on SQLite
the same columns without ``seq`` repeated (every SQLite index entry ends with the rowid, which is seq).
Existing rows are copied over in batches; the canonical JSON each row hashes is rebuilt from the packed
form byte for byte (checked for every row as it is packed), so every chain hash stays valid.

Revision ID: 0008_audit_compact
Revises: 0005_smart_directory
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

from tokensmith.storage.compact import pack_text, unpack_text
from tokensmith.storage.shapes import data_json, split

revision = "0008_audit_compact"
down_revision = "0005_smart_directory"
branch_labels = None
depends_on = None

_BATCH = 5000
_OLD = "audit_events_0007"
_INDEXES_0007 = {"tenant_seq": ["tenant_code", "seq"], "tenant_at_seq": ["tenant_code", "at", "seq"],
                 "actor_seq": ["actor_code", "seq"], "subject_seq": ["subject", "seq"]}
# the subject index's key (as in tokensmith.storage.models, spelt out: a revision never changes)
SUBJECT_KEY_SQL = "(((hashtext(encode(subject, 'hex')) & 1048575)::bigint << 43) | seq)"
_COLUMNS = "seq, at, type_code, tenant_code, actor_code, subject, ip, request_id, id, data, hash"


def _postgres() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def _set_aside(indexes: list[str]) -> None:
    for name in indexes:
        op.drop_index(f"ix_audit_events_{name}", table_name="audit_events")
    op.rename_table("audit_events", _OLD)
    if _postgres():
        op.execute(f"ALTER INDEX pk_audit_events RENAME TO pk_{_OLD}")


def _create(shaped: bool) -> None:
    seq_type = sa.BigInteger() if _postgres() else sa.Integer()
    op.create_table(
        "audit_events",
        sa.Column("seq", seq_type, autoincrement=False, nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("type_code", sa.Integer(), nullable=False),
        sa.Column("tenant_code", sa.Integer(), nullable=True),
        sa.Column("actor_code", sa.Integer(), nullable=True),
        *([sa.Column("shape_code", sa.Integer(), nullable=True)] if shaped else []),
        sa.Column("subject", sa.LargeBinary(), nullable=True),
        sa.Column("ip", sa.LargeBinary(), nullable=True),
        sa.Column("request_id", sa.LargeBinary(), nullable=True),
        sa.Column("id", sa.LargeBinary(), nullable=False),
        sa.Column("data", sa.LargeBinary() if shaped else sa.Text(), nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_events"),
    )


def _copy(select_sql: str, insert_sql: str, convert: Callable[[list[Any]], list[dict[str, Any]]]) -> None:
    conn = op.get_bind()
    last = -1
    while True:
        rows = conn.execute(sa.text(select_sql), {"last": last, "n": _BATCH}).all()
        if not rows:
            return
        conn.execute(sa.text(insert_sql), convert(list(rows)))
        last = rows[-1][0]


def _rare_type_index() -> None:
    op.create_index("ix_audit_events_rare_type_seq", "audit_events", ["type_code", "seq"],
                    sqlite_where=sa.text("type_code > 2"), postgresql_where=sa.text("type_code > 2"))


def upgrade() -> None:
    _set_aside([*_INDEXES_0007, "rare_type_seq"])
    _create(shaped=True)
    conn = op.get_bind()
    if _postgres():  # the sequence behind any code written with an explicit id (0007 wrote them so)
        op.execute("SELECT setval(pg_get_serial_sequence('audit_names', 'id'), "
                   "(SELECT coalesce(max(id), 1) FROM audit_names))")
    codes = {bytes(n): int(i) for i, n in conn.execute(sa.text("SELECT id, name FROM audit_names"))}

    def code(name: str) -> int:
        packed = pack_text(name)
        if packed not in codes:
            conn.execute(sa.text("INSERT INTO audit_names (name) VALUES (:n)"), {"n": packed})
            codes[packed] = int(conn.execute(sa.text("SELECT id FROM audit_names WHERE name = :n"),
                                             {"n": packed}).scalar_one())
        return codes[packed]

    def convert(rows: list[Any]) -> list[dict[str, Any]]:
        out = []
        for r in rows:
            raw = r[9].encode()
            found = split(raw)
            out.append({"seq": r[0], "at": r[1], "type_code": r[2], "tenant_code": r[3], "actor_code": r[4],
                        "subject": r[5], "ip": r[6], "request_id": r[7], "id": r[8],
                        "shape_code": None if found is None else code(found[0]),
                        "data": raw if found is None else found[1], "hash": r[10]})
        return out

    _copy(f"SELECT {_COLUMNS} FROM {_OLD} WHERE seq > :last ORDER BY seq LIMIT :n",  # noqa: S608
          f"INSERT INTO audit_events ({_COLUMNS}, shape_code) VALUES (:seq, :at, :type_code, :tenant_code, "  # noqa: S608
          ":actor_code, :subject, :ip, :request_id, :id, :data, :hash, :shape_code)", convert)
    op.drop_table(_OLD)
    if _postgres():
        for name, expression in (("tenant_seq", "tenant_code, (seq >> 8)"), ("actor_seq", "actor_code, (seq >> 8)"),
                                 ("tenant_at_seq", "tenant_code, (at >> 16)"), ("subject_seq", SUBJECT_KEY_SQL)):
            op.execute(f"CREATE INDEX ix_audit_events_{name} ON audit_events ({expression})")
    else:
        for name, columns in (("tenant_seq", ["tenant_code"]), ("actor_seq", ["actor_code"]),
                              ("tenant_at_seq", ["tenant_code", "at"]), ("subject_seq", ["subject"])):
            op.create_index(f"ix_audit_events_{name}", "audit_events", columns)
    _rare_type_index()


def downgrade() -> None:
    _set_aside([*_INDEXES_0007, "rare_type_seq"])
    _create(shaped=False)
    conn = op.get_bind()
    names = {int(i): unpack_text(bytes(n)) for i, n in conn.execute(sa.text("SELECT id, name FROM audit_names"))}

    def convert(rows: list[Any]) -> list[dict[str, Any]]:
        return [{"seq": r[0], "at": r[1], "type_code": r[2], "tenant_code": r[3], "actor_code": r[4],
                 "subject": r[5], "ip": r[6], "request_id": r[7], "id": r[8],
                 "data": data_json(bytes(r[9]), r[11], names).decode(), "hash": r[10]} for r in rows]

    _copy(f"SELECT {_COLUMNS}, shape_code FROM {_OLD} WHERE seq > :last ORDER BY seq LIMIT :n",  # noqa: S608
          f"INSERT INTO audit_events ({_COLUMNS}) VALUES (:seq, :at, :type_code, :tenant_code, :actor_code, "  # noqa: S608
          ":subject, :ip, :request_id, :id, :data, :hash)", convert)
    op.drop_table(_OLD)
    for name, columns in _INDEXES_0007.items():
        op.create_index(f"ix_audit_events_{name}", "audit_events", columns)
    _rare_type_index()
