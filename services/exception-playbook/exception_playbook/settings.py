"""Settings of exception-playbook (``PLAYBOOKS_*`` like every service)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from playbooks_platform.dependencies import settings_of
from playbooks_platform.settings import PlatformSettings


class ExceptionPlaybookSettings(PlatformSettings):
    service_name: str = "exception-playbook"
    max_playbooks_per_tenant: int = Field(
        default=5_000, ge=1, description="Playbooks (latest versions) a tenant may own."
    )
    candidate_cache_tenants: int = Field(
        default=10_000, ge=1, description="Tenants whose compiled candidate playbooks are kept in memory."
    )
    runbook_runtime_url: str | None = Field(
        default=None,
        description="When set, a call_tool step whose tool names a runbook also asks runbook-runtime for a dry-run "
        "of it (a runbook-requests.v1 message through the outbox); the result links to this URL.",
    )


SettingsDep = Annotated[ExceptionPlaybookSettings, settings_of(ExceptionPlaybookSettings)]
