"""SMART on FHIR: patient and practitioner directory, EHR launch values, accepted client-assertion jtis,
and the users' ``fhir_user`` link.

Revision ID: 0005_smart_directory
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_smart_directory"
down_revision = "0007_audit_dictionary"
branch_labels = None
depends_on = None


def _person_table(name: str) -> None:
    op.create_table(
        name,
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("given", sa.JSON(), nullable=False),
        sa.Column("family", sa.String(length=200), nullable=True),
        sa.Column("birth_date", sa.String(length=10), nullable=True),
        sa.Column("search_text", sa.String(length=1200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=f"fk_{name}_tenant_id_tenants"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=f"pk_{name}"),
    )


def upgrade() -> None:
    _person_table("smart_patients")
    _person_table("smart_practitioners")
    op.create_table(
        "smart_launches",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("value_hash", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("encounter_id", sa.String(length=64), nullable=True),
        sa.Column("client_id", sa.String(length=100), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_smart_launches_tenant_id_tenants"),
        sa.PrimaryKeyConstraint("id", name="pk_smart_launches"),
        sa.UniqueConstraint("value_hash", name="uq_smart_launches_value_hash"),
    )
    op.create_index("ix_smart_launches_tenant_id", "smart_launches", ["tenant_id"])
    op.create_index("ix_smart_launches_expires_at", "smart_launches", ["expires_at"])
    op.create_table(
        "client_assertion_jtis",
        sa.Column("client_id", sa.String(length=100), nullable=False),
        sa.Column("jti", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "jti", name="pk_client_assertion_jtis"),
    )
    op.create_index("ix_client_assertion_jtis_expires_at", "client_assertion_jtis", ["expires_at"])
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fhir_user", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("fhir_user")
    op.drop_index("ix_client_assertion_jtis_expires_at", table_name="client_assertion_jtis")
    op.drop_table("client_assertion_jtis")
    op.drop_index("ix_smart_launches_expires_at", table_name="smart_launches")
    op.drop_index("ix_smart_launches_tenant_id", table_name="smart_launches")
    op.drop_table("smart_launches")
    op.drop_table("smart_practitioners")
    op.drop_table("smart_patients")
