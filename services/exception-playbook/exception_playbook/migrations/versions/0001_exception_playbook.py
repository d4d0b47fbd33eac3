"""Exceptions, playbook versions and steps, the append-only event log, packs; RLS by tenant; the outbox.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from playbooks_platform.migrations import create_outbox, drop_outbox, enable_tenant_rls

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "exception_playbook"
TABLES = (
    "exceptions",
    "playbooks",
    "playbook_steps",
    "exception_events",
    "packs",
    "processed_events",
    "playbook_revisions",
)


def _created() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def _updated() -> sa.Column:
    return sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def upgrade() -> None:
    op.create_table(
        "exceptions",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("external_id", sa.Text),
        sa.Column("domain", sa.Text, nullable=False),
        sa.Column("exception_type", sa.Text, nullable=False),
        sa.Column("severity", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="open"),
        sa.Column("owner", sa.Text),
        sa.Column("sla_deadline", sa.DateTime(timezone=True)),
        sa.Column("policy_tags", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("summary", sa.Text),
        sa.Column("attributes", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("current_playbook_id", UUID(as_uuid=True)),
        sa.Column("current_step", sa.Integer),
        sa.Column("playbook_completed_at", sa.DateTime(timezone=True)),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("source_occurred_at", sa.DateTime(timezone=True)),
        _created(),
        _updated(),
        sa.CheckConstraint("severity IN ('low', 'medium', 'high', 'critical')", name="ck_exceptions_severity"),
        sa.CheckConstraint("jsonb_typeof(policy_tags) = 'array'", name="ck_exceptions_policy_tags_array"),
        sa.CheckConstraint("jsonb_typeof(attributes) = 'object'", name="ck_exceptions_attributes_object"),
        sa.CheckConstraint("current_step IS NULL OR current_step >= 1", name="ck_exceptions_current_step"),
        schema=SCHEMA,
    )
    op.execute(
        f"CREATE UNIQUE INDEX uq_exceptions_tenant_external ON {SCHEMA}.exceptions (tenant_id, external_id) "
        "WHERE external_id IS NOT NULL"
    )
    op.create_index("ix_exceptions_tenant_created", "exceptions", ["tenant_id", "created_at"], schema=SCHEMA)

    op.create_table(
        "playbooks",
        sa.Column("playbook_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("lineage_id", UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("conditions", JSONB, nullable=False),
        sa.Column("superseded_at", sa.DateTime(timezone=True)),
        _created(),
        _updated(),
        sa.UniqueConstraint("tenant_id", "lineage_id", "version", name="uq_playbooks_lineage_version"),
        sa.CheckConstraint("jsonb_typeof(conditions) = 'object'", name="ck_playbooks_conditions_object"),
        schema=SCHEMA,
    )
    # At most one current version per lineage: two concurrent "new version" requests cannot both win.
    op.execute(
        f"CREATE UNIQUE INDEX uq_playbooks_lineage_current ON {SCHEMA}.playbooks (lineage_id) "
        "WHERE superseded_at IS NULL"
    )
    op.execute(
        f"CREATE INDEX ix_playbooks_tenant_current ON {SCHEMA}.playbooks (tenant_id) WHERE superseded_at IS NULL"
    )

    op.create_table(
        "playbook_steps",
        sa.Column("step_id", UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "playbook_id",
            UUID(as_uuid=True),
            sa.ForeignKey(f"{SCHEMA}.playbooks.playbook_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("step_order", sa.Integer, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("action_type", sa.Text, nullable=False),
        sa.Column("params", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("risky", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("skippable", sa.Boolean, nullable=False, server_default=sa.true()),
        _created(),
        sa.UniqueConstraint("playbook_id", "step_order", name="uq_playbook_steps_order"),
        sa.CheckConstraint(
            "action_type IN ('notify', 'assign_owner', 'set_status', 'add_comment', 'call_tool')",
            name="ck_playbook_steps_action_type",
        ),
        sa.CheckConstraint("step_order >= 1", name="ck_playbook_steps_order_positive"),
        schema=SCHEMA,
    )

    op.create_table(
        "exception_events",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("exception_id", UUID(as_uuid=True), nullable=False),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("payload", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        _created(),
        sa.CheckConstraint("jsonb_typeof(payload) = 'object'", name="ck_exception_events_payload_object"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_exception_events_timeline", "exception_events", ["tenant_id", "exception_id", "seq"], schema=SCHEMA
    )
    # Append-only, enforced by the database for every role (the app role is granted UPDATE and
    # DELETE on the schema's tables like every service, so a grant alone would not hold).
    op.execute(
        f"""
        CREATE FUNCTION {SCHEMA}.refuse_event_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'exception_events is append-only: % is refused', TG_OP
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'append a new event instead of changing or removing one';
        END $$
        """
    )
    op.execute(
        f"CREATE TRIGGER exception_events_append_only BEFORE UPDATE OR DELETE ON {SCHEMA}.exception_events "
        f"FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.refuse_event_change()"
    )
    op.execute(
        f"CREATE TRIGGER exception_events_no_truncate BEFORE TRUNCATE ON {SCHEMA}.exception_events "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.refuse_event_change()"
    )

    op.create_table(
        "packs",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("document", JSONB, nullable=False),
        sa.Column("created_by", sa.Text),
        _created(),
        sa.UniqueConstraint("tenant_id", "kind", "name", "version", name="uq_packs_version"),
        sa.CheckConstraint("kind IN ('policy', 'domain')", name="ck_packs_kind"),
        sa.CheckConstraint("jsonb_typeof(document) = 'object'", name="ck_packs_document_object"),
        schema=SCHEMA,
    )

    op.create_table(
        "processed_events",
        sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("exception_id", UUID(as_uuid=True)),
        _created(),
        schema=SCHEMA,
    )
    op.create_table(
        "playbook_revisions",
        sa.Column("tenant_id", sa.Text, primary_key=True),
        sa.Column("revision", sa.BigInteger, nullable=False),
        schema=SCHEMA,
    )
    for table in TABLES:
        enable_tenant_rls(SCHEMA, table, "tenant_id")
    create_outbox(SCHEMA)


def downgrade() -> None:
    drop_outbox(SCHEMA)
    for table in reversed(TABLES):
        op.drop_table(table, schema=SCHEMA)
    op.execute(f"DROP FUNCTION IF EXISTS {SCHEMA}.refuse_event_change()")
