"""Run lists filtered by status, runbook and time, paged by a cursor.

``runbook_name`` (the runbook's ``meta.name``) is written when a run is created, so filtering and listing
by runbook never reads the stored document; existing rows are filled from it once, here. The indexes
serve the filters under the org: newest first within a status, or within a runbook.

Revision ID: 0006_run_list_filters
Revises: 0005_run_summaries_and_claims
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_run_list_filters"
down_revision = "0005_run_summaries_and_claims"
branch_labels = None
depends_on = None

SCHEMA = "runbook_runtime"


def upgrade() -> None:
    op.add_column("runs", sa.Column("runbook_name", sa.Text), schema=SCHEMA)
    op.execute(f"UPDATE {SCHEMA}.runs SET runbook_name = runbook -> 'meta' ->> 'name'")
    op.create_index("ix_runs_org_status_created", "runs", ["org_id", "status", "created_at"], schema=SCHEMA)
    op.create_index("ix_runs_org_runbook_created", "runs", ["org_id", "runbook_name", "created_at"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("ix_runs_org_runbook_created", "runs", schema=SCHEMA)
    op.drop_index("ix_runs_org_status_created", "runs", schema=SCHEMA)
    op.drop_column("runs", "runbook_name", schema=SCHEMA)
