"""browser sign-in and the authorization-code flow: remembered consents, sessions tied to a parent

Browser sessions are ``sessions`` rows of kind ``browser`` (their cookie's keyed hash is a ``tokens`` row
of kind ``browser``) and authorization codes are ``tokens`` rows of kind ``code``: no new columns there.

Revision ID: 0004_browser_signin
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_browser_signin"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parent_id", sa.String(36), nullable=True))
        batch_op.create_index("ix_sessions_parent_id", ["parent_id"])
    op.create_table(
        "consents",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("client_id", sa.String(100), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_consents_tenant_id_tenants"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_consents_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_consents"),
        sa.UniqueConstraint("user_id", "client_id", name="uq_consents_user_id"),
    )
    op.create_index("ix_consents_tenant_id", "consents", ["tenant_id"])


def downgrade() -> None:
    op.drop_index("ix_consents_tenant_id", table_name="consents")
    op.drop_table("consents")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_sessions_parent_id")
        batch_op.drop_column("parent_id")
