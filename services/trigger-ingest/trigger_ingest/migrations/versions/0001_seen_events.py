"""The dedupe window: event ids already accepted per org.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "trigger_ingest"


def upgrade() -> None:
    op.create_table(
        "seen_events",
        sa.Column("org_id", sa.Text, primary_key=True),
        sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_seen_events_expires_at", "seen_events", ["expires_at"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("seen_events", schema=SCHEMA)
