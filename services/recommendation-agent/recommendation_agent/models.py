"""Tables of recommendation-agent (schema ``recommendation_agent``): the source of truth; Qdrant follows it.

Every table carries ``org_id`` and row-level security. Library playbooks are package data, not
rows; a tenant's execution stats of a library playbook are rows of that tenant (source ``library``).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Integer, LargeBinary, MetaData, Table, Text, func
from sqlalchemy.dialects.postgresql import JSONB

SCHEMA = "recommendation_agent"
metadata = MetaData(schema=SCHEMA)

playbook_versions = Table(
    "playbook_versions",
    metadata,
    Column("org_id", Text, primary_key=True),
    Column("playbook_id", Text, primary_key=True),
    Column("version", Text, primary_key=True),
    Column("major", Integer, nullable=False),
    Column("minor", Integer, nullable=False),
    Column("patch", Integer, nullable=False),
    Column("source", Text, nullable=False),  # tenant | ai_generated
    Column("status", Text, nullable=False),
    Column("storage_strategy", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("document", JSONB, nullable=False),  # scripts without content: they are artifacts by sha256
    Column("content_hash", Text, nullable=False),  # of the embedded text: the embedding cache key
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

status_history = Table(
    "status_history",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("org_id", Text, nullable=False),
    Column("playbook_id", Text, nullable=False),
    Column("version", Text, nullable=False),
    Column("from_status", Text),
    Column("to_status", Text, nullable=False),
    Column("reason", Text),
    Column("actor", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

execution_stats = Table(
    "execution_stats",
    metadata,
    Column("org_id", Text, primary_key=True),
    Column("source", Text, primary_key=True),  # tenant | library
    Column("playbook_id", Text, primary_key=True),
    Column("version", Text, primary_key=True),
    Column("success_count", Integer, nullable=False, server_default="0"),
    Column("failure_count", Integer, nullable=False, server_default="0"),
    Column("consecutive_failures", Integer, nullable=False, server_default="0"),
    Column("total_duration_ms", BigInteger, nullable=False, server_default="0"),
    Column("last_executed_at", DateTime(timezone=True)),
)

# One row per execution: stats are counted once per run id, whether it came over HTTP or Kafka.
executions = Table(
    "executions",
    metadata,
    Column("org_id", Text, primary_key=True),
    Column("run_id", Text, primary_key=True),
    Column("playbook_id", Text, nullable=False),
    Column("version", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("success", Boolean, nullable=False),
    Column("duration_ms", BigInteger),
    Column("error", Text),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("org_id", Text, primary_key=True),
    Column("sha256", Text, primary_key=True),  # "sha256:<hex>"
    Column("content", LargeBinary, nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# One row per upload URL used: its nonce, per org, kept until the URL expires (a second use is refused).
upload_nonces = Table(
    "upload_nonces",
    metadata,
    Column("org_id", Text, primary_key=True),
    Column("nonce", Text, primary_key=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# The files uploaded through signed URLs, by the path the client named (seed 002 names scripts by path:
# ``s3_paths`` on publish, ``s3_path`` on download); the bytes are the artifact of that sha256.
uploaded_files = Table(
    "uploaded_files",
    metadata,
    Column("org_id", Text, primary_key=True),
    Column("playbook_id", Text, primary_key=True),
    Column("version", Text, primary_key=True),
    Column("path", Text, primary_key=True),
    Column("sha256", Text, nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("uploaded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


# -- clones of library templates, their audit, learning proposals (issue 21) ----------------------

# An org's own copy of a protected library template: its lineage and the template as it was cloned (the base
# of the field-level diff and of the merge when the template gets a new version).
clones = Table(
    "clones",
    metadata,
    Column("org_id", Text, primary_key=True),
    Column("playbook_id", Text, primary_key=True),
    Column("template_id", Text, nullable=False),
    Column("template_version", Text, nullable=False),
    Column("template_document", JSONB, nullable=False),
    Column("owner", Text, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("dismissed_version", Text),  # the template version the owner chose not to take
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Append-only (a trigger refuses UPDATE and DELETE): who did what to an org playbook, when, from what.
playbook_audit = Table(
    "playbook_audit",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("org_id", Text, nullable=False),
    Column("playbook_id", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("from_ref", Text, nullable=False),
    Column("version", Text),
    Column("detail", JSONB, nullable=False, server_default="{}"),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

proposals = Table(
    "proposals",
    metadata,
    Column("id", Text, primary_key=True),
    Column("org_id", Text, nullable=False),
    Column("playbook_id", Text, nullable=False),
    Column("base_version", Text, nullable=False),
    Column("kind", Text, nullable=False),  # new_default | retry | needs_update
    Column("fingerprint", Text, nullable=False),  # kind:target:value, once per playbook (a rejection sticks)
    Column("summary", Text, nullable=False),
    Column("change", JSONB, nullable=False),
    Column("evidence", JSONB, nullable=False),
    Column("status", Text, nullable=False, server_default="open"),  # open | approved | rejected
    Column("decided_by", Text),
    Column("decided_at", DateTime(timezone=True)),
    Column("reason", Text),
    Column("applied_version", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Outcome details the learning reads (issue 21), on the executions table above: the parameter values a run
# was given and the runbook step that failed, when the outcome message carries them.
executions.append_column(Column("parameters", JSONB))
executions.append_column(Column("failed_step", Text))
# --- goals (recommendation_agent.goals): a goal in words, its parameters, plan and run ----------------
goals = Table(
    "goals",
    metadata,
    Column("org_id", Text, primary_key=True),
    Column("id", Text, primary_key=True),
    Column("text", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("confirmed_by", Text),
    Column("intent", JSONB, nullable=False),
    Column("playbook", JSONB),  # the chosen candidate
    Column("runners_up", JSONB, nullable=False, server_default="[]"),
    Column("runbook_id", Text),  # what runbook-runtime resolves: the chosen playbook version's runbook
    Column("runbook_version", Text),
    Column("spec", JSONB, nullable=False, server_default="[]"),  # the parameters' schema (from the runbook's vars)
    Column("filled", JSONB, nullable=False, server_default="{}"),  # name -> {value, source, evidence}
    Column("plan", JSONB),
    Column("plan_revision", Integer, nullable=False, server_default="0"),
    Column("plan_run_id", Text),
    Column("run_id", Text),
    Column("run_mode", Text),
    Column("run_status", Text),
    Column("current_step", Text),
    Column("waiting_for", JSONB, nullable=False, server_default="[]"),
    Column("artifacts", JSONB),
    Column("reason", Text),
    Column("warnings", JSONB, nullable=False, server_default="[]"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
