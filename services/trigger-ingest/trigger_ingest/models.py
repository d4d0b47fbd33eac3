"""Tables of trigger-ingest (schema ``trigger_ingest``)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, MetaData, Table, Text
from sqlalchemy.dialects.postgresql import UUID

SCHEMA = "trigger_ingest"
metadata = MetaData(schema=SCHEMA)

# Event ids already accepted, per org: a repeat inside the window is acknowledged, not republished.
seen_events = Table(
    "seen_events",
    metadata,
    Column("org_id", Text, primary_key=True),
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)
