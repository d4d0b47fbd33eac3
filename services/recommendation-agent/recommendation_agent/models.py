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
