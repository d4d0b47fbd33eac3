"""Playbooks, runs, activities, tasks, revisions; row-level security by org; the outbox.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from playbooks_platform.migrations import create_outbox, drop_outbox, enable_tenant_rls

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "condition_engine"
TABLES = ("playbooks", "playbook_runs", "activities", "tasks", "playbook_revisions")


def _created() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def upgrade() -> None:
    op.create_table(
        "playbooks",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("org_id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("trigger", sa.Text, nullable=False),
        sa.Column("conditions", JSONB, nullable=False),
        sa.Column("actions", JSONB, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("template_key", sa.Text),
        sa.Column("last_run_at", sa.DateTime(timezone=True)),
        _created(),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("jsonb_typeof(conditions) = 'array'", name="ck_playbooks_conditions_array"),
        sa.CheckConstraint("jsonb_typeof(actions) = 'array'", name="ck_playbooks_actions_array"),
        schema=SCHEMA,
    )
    op.create_index("ix_playbooks_org_status", "playbooks", ["org_id", "status", "trigger"], schema=SCHEMA)
    op.create_table(
        "playbook_runs",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "playbook_id",
            UUID(as_uuid=True),
            sa.ForeignKey(f"{SCHEMA}.playbooks.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("org_id", sa.Text, nullable=False),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False),
        sa.Column("trigger_event", JSONB, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("metrics", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        _created(),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("playbook_id", "event_id", name="uq_playbook_runs_playbook_event"),
        sa.CheckConstraint("status IN ('pending', 'success', 'failed', 'skipped')", name="ck_playbook_runs_status"),
        schema=SCHEMA,
    )
    op.execute(
        f"CREATE INDEX ix_playbook_runs_org_created ON {SCHEMA}.playbook_runs (org_id, created_at DESC, id DESC)"
    )
    op.create_table(
        "activities",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("org_id", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("metadata", JSONB, nullable=False),
        sa.Column("playbook_id", UUID(as_uuid=True), nullable=False),
        sa.Column("run_id", UUID(as_uuid=True), nullable=False),
        sa.Column("causation_id", UUID(as_uuid=True), nullable=False),
        sa.Column("depth", sa.Integer, nullable=False),
        _created(),
        schema=SCHEMA,
    )
    op.create_index("ix_activities_org_created", "activities", ["org_id", "created_at"], schema=SCHEMA)
    op.create_table(
        "tasks",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("org_id", sa.Text, nullable=False),
        sa.Column("queue", sa.Text, nullable=False),
        sa.Column("params", JSONB, nullable=False),
        sa.Column("playbook_id", UUID(as_uuid=True), nullable=False),
        sa.Column("run_id", UUID(as_uuid=True), nullable=False),
        _created(),
        schema=SCHEMA,
    )
    op.create_index("ix_tasks_org_created", "tasks", ["org_id", "created_at"], schema=SCHEMA)
    op.create_table(
        "playbook_revisions",
        sa.Column("org_id", sa.Text, primary_key=True),
        sa.Column("revision", sa.BigInteger, nullable=False),
        schema=SCHEMA,
    )
    for table in TABLES:
        enable_tenant_rls(SCHEMA, table, "org_id")
    create_outbox(SCHEMA)


def downgrade() -> None:
    drop_outbox(SCHEMA)
    for table in reversed(TABLES):
        op.drop_table(table, schema=SCHEMA)
