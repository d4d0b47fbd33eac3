"""Settings of trigger-ingest (``PLAYBOOKS_*`` like every service)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from playbooks_platform.dependencies import settings_of
from playbooks_platform.settings import PlatformSettings


class TriggerIngestSettings(PlatformSettings):
    service_name: str = "trigger-ingest"
    dedupe_ttl_hours: int = Field(default=7 * 24, ge=1, description="How long an event id is remembered.")
    max_event_bytes: int = Field(default=64 * 1024, ge=256, description="Largest single event accepted.")
    # Each batch is one dedupe statement, one publish and one commit, whatever its size: larger
    # batches spread those waits thinner (drain rates per batch size: docs/decisions/0006). A batch
    # only grows that large when that much is waiting; a failing one is halved to find the culprit.
    consumer_max_batch: int = Field(default=8000, ge=1, description="Upstream records handled per batch.")
    # A batch holds at most what one fetch brought of a partition: aiokafka's 1 MiB is about 5,500
    # upstream records, so batches never reached the size above (docs/decisions/0032).
    consumer_max_partition_fetch_bytes: int = Field(default=4 * 1024 * 1024, ge=64 * 1024)


SettingsDep = Annotated[TriggerIngestSettings, settings_of(TriggerIngestSettings)]
