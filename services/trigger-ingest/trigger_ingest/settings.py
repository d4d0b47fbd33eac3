"""Settings of trigger-ingest (``PLAYBOOKS_*`` like every service)."""

from __future__ import annotations

from pydantic import Field

from playbooks_platform.settings import PlatformSettings


class TriggerIngestSettings(PlatformSettings):
    service_name: str = "trigger-ingest"
    dedupe_ttl_hours: int = Field(default=7 * 24, ge=1, description="How long an event id is remembered.")
    max_event_bytes: int = Field(default=64 * 1024, ge=256, description="Largest single event accepted.")
    # Each batch is one dedupe statement, one publish and one commit, whatever its size: larger
    # batches spread those waits thinner. A backlog drained at 31,800-38,100 events/s in batches of
    # 8,000, 24,800-36,500 in 4,000 and 22,800-29,300 in 2,000 (interleaved runs). A batch only
    # grows that large when that much is waiting; a failing one is halved to find the culprit.
    consumer_max_batch: int = Field(default=8000, ge=1, description="Upstream records handled per batch.")
