"""Each org's policy (commands, approvals floor), set by its admins; row-level security like every table.

Revision ID: 0003_org_policy
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from playbooks_platform.migrations import enable_tenant_rls

revision = "0003_org_policy"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "runbook_runtime"


def upgrade() -> None:
    op.create_table(
        "org_policies",
        sa.Column("org_id", sa.Text, primary_key=True),
        sa.Column("policy", JSONB, nullable=False),
        sa.Column("updated_by", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )
    enable_tenant_rls(SCHEMA, "org_policies", "org_id")


def downgrade() -> None:
    op.drop_table("org_policies", schema=SCHEMA)
