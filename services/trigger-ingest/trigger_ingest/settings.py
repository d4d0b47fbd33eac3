"""Settings of trigger-ingest (``PLAYBOOKS_*`` like every service)."""

from __future__ import annotations

from pydantic import Field

from playbooks_platform.settings import PlatformSettings


class TriggerIngestSettings(PlatformSettings):
    service_name: str = "trigger-ingest"
    dedupe_ttl_hours: int = Field(default=7 * 24, ge=1, description="How long an event id is remembered.")
    max_event_bytes: int = Field(default=64 * 1024, ge=256, description="Largest single event accepted.")
