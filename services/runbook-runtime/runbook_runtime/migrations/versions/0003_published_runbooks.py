"""Each org's published runbooks (by id and version) and its policy; row-level security like every table.

Automation starts runbooks by reference only (docs/decisions/0008-events-fill-slots.md): this is
where a reference resolves. ``org_policies`` is a placeholder of the org policy store (the policy
work owns the real one and its migration).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from playbooks_platform.migrations import enable_tenant_rls

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "runbook_runtime"
TABLES = ("published_runbooks", "org_policies")


def upgrade() -> None:
    op.create_table(
        "published_runbooks",
        sa.Column("org_id", sa.Text, primary_key=True),
        sa.Column("runbook_id", sa.Text, primary_key=True),
        sa.Column("version", sa.Text, primary_key=True),
        sa.Column("document", JSONB, nullable=False),
        sa.Column("digest", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("jsonb_typeof(document) = 'object'", name="ck_published_runbooks_document_object"),
        schema=SCHEMA,
    )
    op.create_table(
        "org_policies",
        sa.Column("org_id", sa.Text, primary_key=True),
        sa.Column("policy", JSONB, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("jsonb_typeof(policy) = 'object'", name="ck_org_policies_policy_object"),
        schema=SCHEMA,
    )
    for table in TABLES:
        enable_tenant_rls(SCHEMA, table, "org_id")


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table, schema=SCHEMA)
