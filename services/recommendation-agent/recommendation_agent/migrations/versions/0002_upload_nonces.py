"""Nonces of used signed upload URLs, per org (an upload URL works once); row-level security by org.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from playbooks_platform.migrations import enable_tenant_rls

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "recommendation_agent"


def upgrade() -> None:
    op.create_table(
        "upload_nonces",
        sa.Column("org_id", sa.Text, primary_key=True),
        sa.Column("nonce", sa.Text, primary_key=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )
    op.create_index("ix_upload_nonces_expiry", "upload_nonces", ["org_id", "expires_at"], schema=SCHEMA)
    enable_tenant_rls(SCHEMA, "upload_nonces", "org_id")


def downgrade() -> None:
    op.drop_table("upload_nonces", schema=SCHEMA)
