"""Goals: a goal in words, its parameters, questions, plan and run; row-level security by org; the outbox
(a completed or confirmed goal requests its run on runbook-requests.v1 in the transaction that changes it).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from playbooks_platform.migrations import (
    add_outbox_batches,
    create_outbox,
    drop_outbox,
    drop_outbox_batches,
    enable_tenant_rls,
)

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = "recommendation_agent"
STATUSES = (
    "collecting",
    "planning",
    "planned",
    "confirmed",
    "running",
    "waiting",
    "succeeded",
    "failed",
    "unmatched",
)


def upgrade() -> None:
    statuses = ", ".join(f"'{s}'" for s in STATUSES)
    op.create_table(
        "goals",
        sa.Column("org_id", sa.Text, primary_key=True),
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("confirmed_by", sa.Text),
        sa.Column("intent", JSONB, nullable=False),
        sa.Column("playbook", JSONB),
        sa.Column("runners_up", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("runbook_id", sa.Text),
        sa.Column("runbook_version", sa.Text),
        sa.Column("spec", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("filled", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("plan", JSONB),
        sa.Column("plan_revision", sa.Integer, nullable=False, server_default="0"),
        sa.Column("plan_run_id", sa.Text),
        sa.Column("run_id", sa.Text),
        sa.Column("run_mode", sa.Text),
        sa.Column("run_status", sa.Text),
        sa.Column("current_step", sa.Text),
        sa.Column("waiting_for", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("artifacts", JSONB),
        sa.Column("reason", sa.Text),
        sa.Column("warnings", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint(f"status IN ({statuses})", name="ck_goals_status"),
        schema=SCHEMA,
    )
    op.create_index("ix_goals_latest", "goals", ["org_id", sa.text("created_at DESC")], schema=SCHEMA)
    # the worker finds a goal by the run it follows
    op.create_index("ix_goals_plan_run", "goals", ["org_id", "plan_run_id"], schema=SCHEMA)
    op.create_index("ix_goals_run", "goals", ["org_id", "run_id"], schema=SCHEMA)
    enable_tenant_rls(SCHEMA, "goals", "org_id")
    create_outbox(SCHEMA)
    add_outbox_batches(SCHEMA)


def downgrade() -> None:
    drop_outbox_batches(SCHEMA)
    drop_outbox(SCHEMA)
    op.drop_table("goals", schema=SCHEMA)
