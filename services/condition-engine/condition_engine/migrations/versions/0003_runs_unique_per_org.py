"""A run is unique per (org, playbook, event): event ids are the producers', so two orgs may share one.

Playbook ids already belong to one org, so no existing row conflicts; the key says so explicitly
rather than relying on it. Row-level security is unchanged (same table, same policy).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "condition_engine"


def upgrade() -> None:
    op.drop_constraint("uq_playbook_runs_playbook_event", "playbook_runs", schema=SCHEMA, type_="unique")
    op.create_unique_constraint(
        "uq_playbook_runs_org_playbook_event", "playbook_runs", ["org_id", "playbook_id", "event_id"], schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_constraint("uq_playbook_runs_org_playbook_event", "playbook_runs", schema=SCHEMA, type_="unique")
    op.create_unique_constraint(
        "uq_playbook_runs_playbook_event", "playbook_runs", ["playbook_id", "event_id"], schema=SCHEMA
    )
