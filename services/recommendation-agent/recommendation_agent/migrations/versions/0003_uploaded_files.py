"""Uploaded files by path (seed 002's publish by ``s3_paths`` and download by ``s3_path``); RLS by org.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from playbooks_platform.migrations import enable_tenant_rls

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "recommendation_agent"


def upgrade() -> None:
    op.create_table(
        "uploaded_files",
        sa.Column("org_id", sa.Text, primary_key=True),
        sa.Column("playbook_id", sa.Text, primary_key=True),
        sa.Column("version", sa.Text, primary_key=True),
        sa.Column("path", sa.Text, primary_key=True),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )
    enable_tenant_rls(SCHEMA, "uploaded_files", "org_id")


def downgrade() -> None:
    op.drop_table("uploaded_files", schema=SCHEMA)
