"""``processed_events`` is keyed by (tenant, event id), not by event id alone.

Event ids are chosen by producers: keyed by id alone, a tenant that sent an exception event with
the id another tenant would use next made that tenant's event look applied already, and its
exception never appeared. Row-level security is unchanged (same table, same policy).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "exception_playbook"


def upgrade() -> None:
    op.drop_constraint("processed_events_pkey", "processed_events", schema=SCHEMA, type_="primary")
    op.create_primary_key("processed_events_pkey", "processed_events", ["tenant_id", "event_id"], schema=SCHEMA)


def downgrade() -> None:
    # Refused by the database while two tenants share an event id: keep the upgrade then.
    op.drop_constraint("processed_events_pkey", "processed_events", schema=SCHEMA, type_="primary")
    op.create_primary_key("processed_events_pkey", "processed_events", ["event_id"], schema=SCHEMA)
