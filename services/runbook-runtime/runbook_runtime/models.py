"""Tables of runbook-runtime (schema ``runbook_runtime``); every table is scoped to an org by org_id."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

SCHEMA = "runbook_runtime"
metadata = MetaData(schema=SCHEMA)

runs = Table(
    "runs",
    metadata,
    Column("run_id", Text, primary_key=True),
    Column("org_id", Text, nullable=False),
    Column("idempotency_key", Text, nullable=False),
    Column("mode", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("runbook", JSONB, nullable=False),
    Column("scenario", JSONB),
    Column("replay_evidence", JSONB),
    Column("state", JSONB, nullable=False),  # the RunState: what the engine resumes from
    Column("plan", JSONB),
    Column("playbook_id", Text),
    Column("playbook_version", Text),
    Column("requested_by", Text, nullable=False),
    Column("runbook_name", Text),  # meta.name, for lists and their filter
    # the consumed request the run answers (null over HTTP): what it publishes later stays in that chain
    Column("caused_by", Text),
    Column("cause_depth", Integer),
    # summaries written at create and on every change: list endpoints read these, never the runbook
    Column("current_step", Text),
    Column("waiting_for", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("summary", JSONB),  # vars, captures, ended_by/end_reason, redacted when written
    # an advance's claim while its step executes (no row lock is held meanwhile)
    Column("claim_owner", Text),
    Column("claim_until", DateTime(timezone=True)),
    Column("claim_action", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("org_id", "idempotency_key", name="uq_runs_org_key"),
)

# The org's published runbooks (from runbooks.compiled.v1): what automation may start, by id and
# version. A version never changes once stored, so a reference names one exact document.
published_runbooks = Table(
    "published_runbooks",
    metadata,
    Column("org_id", Text, primary_key=True),
    Column("runbook_id", Text, primary_key=True),
    Column("version", Text, primary_key=True),
    Column("document", JSONB, nullable=False),
    Column("digest", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


step_results = Table(
    "step_results",
    metadata,
    Column("run_id", Text, primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("org_id", Text, nullable=False),
    Column("step_id", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("result", JSONB, nullable=False),
)

trace_events = Table(
    "trace_events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("run_id", Text, nullable=False, index=True),
    Column("org_id", Text, nullable=False),
    Column("event", JSONB, nullable=False),
)

snapshots = Table(
    "snapshots",
    metadata,
    Column("run_id", Text, primary_key=True),
    Column("name", Text, primary_key=True),
    Column("org_id", Text, nullable=False),
    Column("state", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

attachments = Table(
    "attachments",
    metadata,
    Column("run_id", Text, primary_key=True),
    Column("path", Text, primary_key=True),
    Column("org_id", Text, nullable=False),
    Column("content", LargeBinary, nullable=False),
)

# The org's artifacts by signature (runbook steps with ``produces``): a later run reuses or refuses a
# duplicate. Written by real runs only; the first run to create a signature keeps the row.
artifacts = Table(
    "artifacts",
    metadata,
    Column("org_id", Text, primary_key=True),
    Column("signature", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("run_id", Text, nullable=False),
    Column("step_id", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

org_policies = Table(
    "org_policies",
    metadata,
    Column("org_id", Text, primary_key=True),
    Column("policy", JSONB, nullable=False),  # an OrgPolicy
    Column("updated_by", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
