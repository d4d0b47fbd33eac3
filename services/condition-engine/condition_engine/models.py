"""Tables of condition-engine (schema ``condition_engine``); every one has row-level security by org."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

SCHEMA = "condition_engine"
metadata = MetaData(schema=SCHEMA)

TRIGGER_TYPES = ("activity_event", "accounts_pack_run")
STATUSES = ("active", "inactive")
RUN_STATUSES = ("pending", "success", "failed", "skipped")

playbooks = Table(
    "playbooks",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("org_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("trigger", Text, nullable=False),
    Column("conditions", JSONB, nullable=False),
    Column("actions", JSONB, nullable=False),
    Column("status", Text, nullable=False),  # active | inactive
    Column("version", Integer, nullable=False, server_default="1"),  # bumped when the definition changes
    Column("template_key", Text),
    Column("last_run_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

playbook_runs = Table(
    "playbook_runs",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("playbook_id", UUID(as_uuid=True), ForeignKey("playbooks.id", ondelete="CASCADE"), nullable=False),
    Column("org_id", Text, nullable=False),
    Column("event_id", UUID(as_uuid=True), nullable=False),  # its event: run_events (org_id, event_id)
    Column("status", Text, nullable=False),
    Column("error", Text),
    Column("metrics", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("completed_at", DateTime(timezone=True)),
    # No unique key per run: one run per (playbook, event) is kept by the event's claim in
    # run_events, taken in the transaction that writes all of the event's runs (migration 0004).
)

# Each evaluated event once per (org, event): the JSON its runs were evaluated on (the API shows it
# as each run's ``triggerEvent``), and the claim that its runs were decided. Per org: event ids are
# chosen by producers, so two orgs may send the same one.
run_events = Table(
    "run_events",
    metadata,
    Column("org_id", Text, primary_key=True),
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("trigger_event", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# What log_activity actions wrote: this service's own activity log.
activities = Table(
    "activities",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("org_id", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("metadata", JSONB, nullable=False),
    Column("playbook_id", UUID(as_uuid=True), nullable=False),
    Column("run_id", UUID(as_uuid=True), nullable=False),
    Column("causation_id", UUID(as_uuid=True), nullable=False),  # the event that caused it
    Column("depth", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# The intent recorded by enqueue_task actions.
tasks = Table(
    "tasks",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("org_id", Text, nullable=False),
    Column("queue", Text, nullable=False),
    Column("params", JSONB, nullable=False),
    Column("playbook_id", UUID(as_uuid=True), nullable=False),
    Column("run_id", UUID(as_uuid=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# One counter per org, bumped in the transaction that changes any of its playbooks: the worker
# compares it per batch to know its compiled playbooks are current, in every process.
playbook_revisions = Table(
    "playbook_revisions",
    metadata,
    Column("org_id", Text, primary_key=True),
    Column("revision", BigInteger, nullable=False),
)
