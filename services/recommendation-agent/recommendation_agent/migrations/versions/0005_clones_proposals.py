"""Clones of library templates, their append-only audit, learning proposals; outcome details on executions.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from playbooks_platform.migrations import enable_tenant_rls

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SCHEMA = "recommendation_agent"
TABLES = ("clones", "playbook_audit", "proposals")


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def upgrade() -> None:
    op.create_table(
        "clones",
        sa.Column("org_id", sa.Text, primary_key=True),
        sa.Column("playbook_id", sa.Text, primary_key=True),
        sa.Column("template_id", sa.Text, nullable=False),
        sa.Column("template_version", sa.Text, nullable=False),
        sa.Column("template_document", JSONB, nullable=False),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("dismissed_version", sa.Text),
        _now("created_at"),
        schema=SCHEMA,
    )
    op.create_index("ix_clones_template", "clones", ["org_id", "template_id"], schema=SCHEMA)
    op.create_index("ix_clones_owner", "clones", ["org_id", "owner"], schema=SCHEMA)
    op.create_table(
        "playbook_audit",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("org_id", sa.Text, nullable=False),
        sa.Column("playbook_id", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("from_ref", sa.Text, nullable=False),
        sa.Column("version", sa.Text),
        sa.Column("detail", JSONB, nullable=False, server_default="{}"),
        _now("at"),
        schema=SCHEMA,
    )
    op.create_index("ix_playbook_audit_playbook", "playbook_audit", ["org_id", "playbook_id", "id"], schema=SCHEMA)
    # Append-only: not even the service's own role may rewrite what happened.
    op.execute(
        sa.text(
            f"""CREATE FUNCTION "{SCHEMA}".playbook_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'playbook_audit is append-only'; END $$"""
        )
    )
    op.execute(
        sa.text(
            f'CREATE TRIGGER playbook_audit_append_only BEFORE UPDATE OR DELETE ON "{SCHEMA}".playbook_audit '
            f'FOR EACH ROW EXECUTE FUNCTION "{SCHEMA}".playbook_audit_append_only()'
        )
    )
    op.create_table(
        "proposals",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("org_id", sa.Text, nullable=False),
        sa.Column("playbook_id", sa.Text, nullable=False),
        sa.Column("base_version", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("change", JSONB, nullable=False),
        sa.Column("evidence", JSONB, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="open"),
        sa.Column("decided_by", sa.Text),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("reason", sa.Text),
        sa.Column("applied_version", sa.Text),
        _now("created_at"),
        sa.CheckConstraint("kind IN ('new_default', 'retry', 'needs_update')", name="ck_proposals_kind"),
        sa.CheckConstraint("status IN ('open', 'approved', 'rejected')", name="ck_proposals_status"),
        sa.UniqueConstraint("org_id", "playbook_id", "fingerprint", name="uq_proposals_fingerprint"),
        schema=SCHEMA,
    )
    op.add_column("executions", sa.Column("parameters", JSONB), schema=SCHEMA)
    op.add_column("executions", sa.Column("failed_step", sa.Text), schema=SCHEMA)
    op.create_index("ix_executions_playbook_at", "executions", ["org_id", "playbook_id", "at"], schema=SCHEMA)
    for table in TABLES:
        enable_tenant_rls(SCHEMA, table, "org_id")


def downgrade() -> None:
    op.drop_index("ix_executions_playbook_at", "executions", schema=SCHEMA)
    op.drop_column("executions", "failed_step", schema=SCHEMA)
    op.drop_column("executions", "parameters", schema=SCHEMA)
    for table in reversed(TABLES):
        op.drop_table(table, schema=SCHEMA)
    op.execute(sa.text(f'DROP FUNCTION "{SCHEMA}".playbook_audit_append_only()'))
