"""Outbox rows that carry a packed batch of messages (one row per consumed batch, not per message).

Revision ID: 0002
Revises: 0001
"""

from playbooks_platform.migrations import add_outbox_batches, drop_outbox_batches

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "condition_engine"


def upgrade() -> None:
    add_outbox_batches(SCHEMA)


def downgrade() -> None:
    drop_outbox_batches(SCHEMA)
