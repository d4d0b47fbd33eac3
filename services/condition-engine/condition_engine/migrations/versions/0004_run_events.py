"""Each evaluated event stored once per (org, event), as the claim that its runs were decided.

Before, every run row carried a full copy of its event's JSON and a unique key on
(org, playbook, event) was checked for every run. Now ``run_events`` holds the event once; its
primary key is the per-event claim (the worker writes an event's runs only in the transaction
that inserted its claim, so a redelivery or a second replica finds the claim taken and writes
nothing), and the run rows drop both the copy and the per-run unique key (decision 0019).

Existing runs stay readable: their events are copied into ``run_events`` (the first run's copy;
every run of one (org, event) was made from the same delivery) before the column goes, and the
API reads a run's event through the join. Row-level security as on every table of the schema.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

from playbooks_platform.migrations import enable_tenant_rls

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = "condition_engine"


def upgrade() -> None:
    op.execute(
        f"CREATE TABLE {SCHEMA}.run_events ("
        " org_id text NOT NULL,"
        " event_id uuid NOT NULL,"
        " trigger_event jsonb NOT NULL,"
        " created_at timestamptz NOT NULL DEFAULT now(),"
        " CONSTRAINT pk_run_events PRIMARY KEY (org_id, event_id))"
    )
    op.execute(
        f"INSERT INTO {SCHEMA}.run_events (org_id, event_id, trigger_event, created_at) "
        f"SELECT DISTINCT ON (org_id, event_id) org_id, event_id, trigger_event, created_at "
        f"FROM {SCHEMA}.playbook_runs ORDER BY org_id, event_id, created_at"
    )
    enable_tenant_rls(SCHEMA, "run_events", "org_id")
    # The app role's grants come from env.py (every table of the schema, after each upgrade).
    op.drop_constraint("uq_playbook_runs_org_playbook_event", "playbook_runs", schema=SCHEMA, type_="unique")
    op.drop_column("playbook_runs", "trigger_event", schema=SCHEMA)


def downgrade() -> None:
    op.execute(f"ALTER TABLE {SCHEMA}.playbook_runs ADD COLUMN trigger_event jsonb")
    op.execute(
        f"UPDATE {SCHEMA}.playbook_runs r SET trigger_event = e.trigger_event FROM {SCHEMA}.run_events e "
        "WHERE e.org_id = r.org_id AND e.event_id = r.event_id"
    )
    op.execute(f"UPDATE {SCHEMA}.playbook_runs SET trigger_event = '{{}}'::jsonb WHERE trigger_event IS NULL")
    op.execute(f"ALTER TABLE {SCHEMA}.playbook_runs ALTER COLUMN trigger_event SET NOT NULL")
    op.create_unique_constraint(
        "uq_playbook_runs_org_playbook_event", "playbook_runs", ["org_id", "playbook_id", "event_id"], schema=SCHEMA
    )
    op.drop_table("run_events", schema=SCHEMA)
