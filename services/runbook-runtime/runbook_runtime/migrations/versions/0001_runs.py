"""Runs, step results, trace events, snapshots, attachments; row-level security; the outbox.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from playbooks_platform.migrations import create_outbox, drop_outbox, enable_tenant_rls

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "runbook_runtime"
TABLES = ("runs", "step_results", "trace_events", "snapshots", "attachments")


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.Text, primary_key=True),
        sa.Column("org_id", sa.Text, nullable=False),
        sa.Column("idempotency_key", sa.Text, nullable=False),
        sa.Column("mode", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("runbook", JSONB, nullable=False),
        sa.Column("scenario", JSONB),
        sa.Column("replay_evidence", JSONB),
        sa.Column("state", JSONB, nullable=False),
        sa.Column("plan", JSONB),
        sa.Column("playbook_id", sa.Text),
        sa.Column("playbook_version", sa.Text),
        sa.Column("requested_by", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("org_id", "idempotency_key", name="uq_runs_org_key"),
        schema=SCHEMA,
    )
    op.create_index("ix_runs_org_created", "runs", ["org_id", "created_at"], schema=SCHEMA)
    op.create_table(
        "step_results",
        sa.Column("run_id", sa.Text, primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("org_id", sa.Text, nullable=False),
        sa.Column("step_id", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("result", JSONB, nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "trace_events",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Text, nullable=False),
        sa.Column("org_id", sa.Text, nullable=False),
        sa.Column("event", JSONB, nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_trace_events_run_id", "trace_events", ["run_id"], schema=SCHEMA)
    op.create_table(
        "snapshots",
        sa.Column("run_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("org_id", sa.Text, nullable=False),
        sa.Column("state", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )
    op.create_table(
        "attachments",
        sa.Column("run_id", sa.Text, primary_key=True),
        sa.Column("path", sa.Text, primary_key=True),
        sa.Column("org_id", sa.Text, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        schema=SCHEMA,
    )
    for table in TABLES:
        enable_tenant_rls(SCHEMA, table, "org_id")
    create_outbox(SCHEMA)


def downgrade() -> None:
    drop_outbox(SCHEMA)
    for table in reversed(TABLES):
        op.drop_table(table, schema=SCHEMA)
