"""Playbook versions, status history, execution stats, executions, artifacts; row-level security by org.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from playbooks_platform.migrations import enable_tenant_rls

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "recommendation_agent"
TABLES = ("playbook_versions", "status_history", "execution_stats", "executions", "artifacts")
STATUSES = (
    "draft",
    "ready",
    "active",
    "deprecated",
    "archived",
    "pending_review",
    "approved",
    "rejected",
    "broken",
    "needs_update",
)


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def upgrade() -> None:
    statuses = ", ".join(f"'{s}'" for s in STATUSES)
    op.create_table(
        "playbook_versions",
        sa.Column("org_id", sa.Text, primary_key=True),
        sa.Column("playbook_id", sa.Text, primary_key=True),
        sa.Column("version", sa.Text, primary_key=True),
        sa.Column("major", sa.Integer, nullable=False),
        sa.Column("minor", sa.Integer, nullable=False),
        sa.Column("patch", sa.Integer, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("storage_strategy", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("document", JSONB, nullable=False),
        sa.Column("content_hash", sa.Text, nullable=False),
        _now("created_at"),
        _now("updated_at"),
        sa.CheckConstraint(f"status IN ({statuses})", name="ck_playbook_versions_status"),
        sa.CheckConstraint("source IN ('tenant', 'ai_generated')", name="ck_playbook_versions_source"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_playbook_versions_org_playbook",
        "playbook_versions",
        ["org_id", "playbook_id", "major", "minor", "patch"],
        schema=SCHEMA,
    )
    op.create_table(
        "status_history",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("org_id", sa.Text, nullable=False),
        sa.Column("playbook_id", sa.Text, nullable=False),
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("from_status", sa.Text),
        sa.Column("to_status", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("actor", sa.Text, nullable=False),
        _now("at"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_status_history_version", "status_history", ["org_id", "playbook_id", "version", "id"], schema=SCHEMA
    )
    op.create_table(
        "execution_stats",
        sa.Column("org_id", sa.Text, primary_key=True),
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("playbook_id", sa.Text, primary_key=True),
        sa.Column("version", sa.Text, primary_key=True),
        sa.Column("success_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("failure_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("consecutive_failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("total_duration_ms", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("last_executed_at", sa.DateTime(timezone=True)),
        schema=SCHEMA,
    )
    op.create_table(
        "executions",
        sa.Column("org_id", sa.Text, primary_key=True),
        sa.Column("run_id", sa.Text, primary_key=True),
        sa.Column("playbook_id", sa.Text, nullable=False),
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("success", sa.Boolean, nullable=False),
        sa.Column("duration_ms", sa.BigInteger),
        sa.Column("error", sa.Text),
        _now("at"),
        schema=SCHEMA,
    )
    op.create_table(
        "artifacts",
        sa.Column("org_id", sa.Text, primary_key=True),
        sa.Column("sha256", sa.Text, primary_key=True),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        _now("created_at"),
        sa.CheckConstraint("sha256 ~ '^sha256:[0-9a-f]{64}$'", name="ck_artifacts_sha256"),
        schema=SCHEMA,
    )
    for table in TABLES:
        enable_tenant_rls(SCHEMA, table, "org_id")


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table, schema=SCHEMA)
