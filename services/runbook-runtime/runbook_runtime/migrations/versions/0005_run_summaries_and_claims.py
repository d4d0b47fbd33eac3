"""Run summaries for list endpoints, and the claim an advance holds while its step executes.

``current_step``, ``waiting_for`` and ``summary`` (vars, captures, who ended the run and why; through
the run's redaction) are written whenever a run is created or changes, so listing runs never parses a
stored runbook. ``claim_owner``/``claim_until`` mark a run whose step is being
executed: a second advance is refused (409) while the claim holds, and no row lock or connection is
kept while the command runs. Rows from before this revision get their summary at their next change.

Revision ID: 0005_run_summaries_and_claims
Revises: 0004_published_runbooks
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005_run_summaries_and_claims"
down_revision = "0004_published_runbooks"
branch_labels = None
depends_on = None

SCHEMA = "runbook_runtime"


def upgrade() -> None:
    op.add_column("runs", sa.Column("current_step", sa.Text), schema=SCHEMA)
    op.add_column(
        "runs", sa.Column("waiting_for", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")), schema=SCHEMA
    )
    op.add_column("runs", sa.Column("summary", JSONB), schema=SCHEMA)
    op.add_column("runs", sa.Column("claim_owner", sa.Text), schema=SCHEMA)
    op.add_column("runs", sa.Column("claim_until", sa.DateTime(timezone=True)), schema=SCHEMA)
    op.add_column("runs", sa.Column("claim_action", sa.Text), schema=SCHEMA)


def downgrade() -> None:
    for column in ("claim_action", "claim_until", "claim_owner", "summary", "waiting_for", "current_step"):
        op.drop_column("runs", column, schema=SCHEMA)
