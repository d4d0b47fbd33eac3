"""What a run was started for: the consumed request (its id and causation depth), when there was one.

A run answers the request that started it: everything the run publishes later (an advance after an
approval given over HTTP, the end of a run another replica resumed) stays in that request's causation
chain, instead of starting a chain of its own at depth 0. Null for runs started over HTTP.

Revision ID: 0008_run_causes
Revises: 0007_artifacts
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_run_causes"
down_revision = "0007_artifacts"
branch_labels = None
depends_on = None

SCHEMA = "runbook_runtime"


def upgrade() -> None:
    op.add_column("runs", sa.Column("caused_by", sa.Text, nullable=True), schema=SCHEMA)
    op.add_column("runs", sa.Column("cause_depth", sa.Integer, nullable=True), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("runs", "cause_depth", schema=SCHEMA)
    op.drop_column("runs", "caused_by", schema=SCHEMA)
