"""The org's artifact registry: what runs created, by signature, so a later run can reuse or refuse a duplicate.

One row per (org, signature), written with the step result that created it; the first run to create a
signature keeps the row. Replay runs write none (they created nothing real). Row-level security like
every table: an org never sees another org's artifact, even with the same signature.

Revision ID: 0007_artifacts
Revises: 0006_run_list_filters
"""

import sqlalchemy as sa
from alembic import op

from playbooks_platform.migrations import enable_tenant_rls

revision = "0007_artifacts"
down_revision = "0006_run_list_filters"
branch_labels = None
depends_on = None

SCHEMA = "runbook_runtime"


def upgrade() -> None:
    op.create_table(
        "artifacts",
        sa.Column("org_id", sa.Text, primary_key=True),
        sa.Column("signature", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("run_id", sa.Text, nullable=False),
        sa.Column("step_id", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )
    enable_tenant_rls(SCHEMA, "artifacts", "org_id")


def downgrade() -> None:
    op.drop_table("artifacts", schema=SCHEMA)
