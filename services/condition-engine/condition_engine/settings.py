"""Settings of condition-engine (``PLAYBOOKS_*`` like every service)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from playbooks_platform.dependencies import settings_of
from playbooks_platform.settings import PlatformSettings


class ConditionEngineSettings(PlatformSettings):
    service_name: str = "condition-engine"
    playbook_cache_orgs: int = Field(
        default=10_000, ge=1, description="Orgs whose compiled active playbooks the worker keeps in memory."
    )
    max_playbooks_per_org: int = Field(default=500, ge=1, description="Playbooks an org may own.")


SettingsDep = Annotated[ConditionEngineSettings, settings_of(ConditionEngineSettings)]
