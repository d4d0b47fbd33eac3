"""Tables of exception-playbook (schema ``exception_playbook``); every one has row-level security by org
(column ``tenant_id``, seed 001's name)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, DateTime, ForeignKey, Identity, Integer, MetaData, Table, Text, func
from sqlalchemy.dialects.postgresql import JSONB, UUID

SCHEMA = "exception_playbook"
metadata = MetaData(schema=SCHEMA)

SEVERITIES = ("low", "medium", "high", "critical")
ACTION_TYPES = ("notify", "assign_owner", "set_status", "add_comment", "call_tool")
ACTOR_TYPES = ("agent", "human", "system")
PACK_KINDS = ("policy", "domain")

exceptions = Table(
    "exceptions",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("external_id", Text),  # the upstream system's id: a repeat of it updates this row
    Column("domain", Text, nullable=False),
    Column("exception_type", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("status", Text, nullable=False, server_default="open"),
    Column("owner", Text),  # "user:<id>" or "queue:<name>"
    Column("sla_deadline", DateTime(timezone=True)),
    Column("policy_tags", JSONB, nullable=False),
    Column("summary", Text),
    Column("attributes", JSONB, nullable=False),
    Column("current_playbook_id", UUID(as_uuid=True)),
    Column("current_step", Integer),
    Column("playbook_completed_at", DateTime(timezone=True)),
    Column("version", Integer, nullable=False, server_default="1"),  # compare-and-set on every change
    Column("source_occurred_at", DateTime(timezone=True)),  # newest upstream event applied
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# One row per playbook version; a new version supersedes the previous one of its lineage.
playbooks = Table(
    "playbooks",
    metadata,
    Column("playbook_id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("lineage_id", UUID(as_uuid=True), nullable=False),
    Column("name", Text, nullable=False),
    Column("description", Text),
    Column("version", Integer, nullable=False),
    Column("conditions", JSONB, nullable=False),
    Column("superseded_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

playbook_steps = Table(
    "playbook_steps",
    metadata,
    Column("step_id", UUID(as_uuid=True), primary_key=True),
    Column("playbook_id", UUID(as_uuid=True), ForeignKey("playbooks.playbook_id", ondelete="CASCADE"), nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("step_order", Integer, nullable=False),
    Column("name", Text, nullable=False),
    Column("action_type", Text, nullable=False),
    Column("params", JSONB, nullable=False),
    Column("risky", Boolean, nullable=False, server_default="false"),
    Column("skippable", Boolean, nullable=False, server_default="true"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Append-only: a trigger in the database refuses UPDATE, DELETE and TRUNCATE.
exception_events = Table(
    "exception_events",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("seq", BigInteger, Identity(), nullable=False),  # order of appends, for a stable timeline
    Column("exception_id", UUID(as_uuid=True), nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Tenant policy packs and domain packs: versioned JSON documents; the newest version applies.
packs = Table(
    "packs",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("kind", Text, nullable=False),  # policy | domain
    Column("name", Text, nullable=False),  # "default" for the policy pack, the domain for a domain pack
    Column("version", Integer, nullable=False),
    Column("document", JSONB, nullable=False),
    Column("created_by", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Trigger events already applied: the consumer is idempotent on (org, envelope id). Producers
# choose event ids, so keyed by id alone one org's event could suppress another's (migration 0003).
processed_events = Table(
    "processed_events",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("exception_id", UUID(as_uuid=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Bumped with every playbook change of an org: tells caches of compiled candidates they are stale.
playbook_revisions = Table(
    "playbook_revisions",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("revision", BigInteger, nullable=False),
)
