"""Each org's published runbooks, by id and version; row-level security like every table.

Automation starts runbooks by reference only (docs/decisions/0008-events-fill-slots.md): this is
where a ``runbook_id``/``runbook_version`` reference resolves. A version is written once.

Revision ID: 0004_published_runbooks
Revises: 0003_org_policy
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from playbooks_platform.migrations import enable_tenant_rls

revision = "0004_published_runbooks"
down_revision = "0003_org_policy"
branch_labels = None
depends_on = None

SCHEMA = "runbook_runtime"


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
    enable_tenant_rls(SCHEMA, "published_runbooks", "org_id")


def downgrade() -> None:
    op.drop_table("published_runbooks", schema=SCHEMA)
