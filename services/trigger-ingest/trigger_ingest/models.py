"""Tables of trigger-ingest (schema ``trigger_ingest``)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, MetaData, Table, Text
from sqlalchemy.dialects.postgresql import UUID

SCHEMA = "trigger_ingest"
metadata = MetaData(schema=SCHEMA)

# Event ids already accepted, per org: a repeat inside the window is acknowledged, not republished.
seen_events = Table(
    "seen_events",
    metadata,
    Column("org_id", Text, primary_key=True),
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    # BRIN: rows arrive in expiry order, and a b-tree cost every insert more (migration 0002).
    Index("ix_seen_events_expires_at", "expires_at", postgresql_using="brin"),
)
