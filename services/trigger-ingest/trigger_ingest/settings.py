"""Settings of trigger-ingest (``PLAYBOOKS_*`` like every service)."""

from __future__ import annotations

from pydantic import Field

from playbooks_platform.settings import PlatformSettings


class TriggerIngestSettings(PlatformSettings):
    service_name: str = "trigger-ingest"
    dedupe_ttl_hours: int = Field(default=7 * 24, ge=1, description="How long an event id is remembered.")
    max_event_bytes: int = Field(default=64 * 1024, ge=256, description="Largest single event accepted.")
    # Each batch is one dedupe statement, one publish and one commit, whatever its size: larger
    # batches spread those waits thinner (7,000 against 8,200 events/s at 500 and 2,000 here).
    consumer_max_batch: int = Field(default=2000, ge=1, description="Upstream records handled per batch.")
