"""Settings of runbook-runtime (``PLAYBOOKS_*`` like every service)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from playbooks_contracts.policy import OrgPolicy
from playbooks_platform.settings import PlatformSettings


class RunbookRuntimeSettings(PlatformSettings):
    service_name: str = "runbook-runtime"
    runbooks_dir: Path | None = Field(
        default=None, description="Folder of runbook files that requests may name with runbook_ref."
    )
    real_mode_commands: list[str] = Field(
        default_factory=list,
        description="The operator's cap on real-mode commands: a runbook's allowed_commands count only where they "
        "resolve to one of these. Empty: real runs execute nothing (replay and dry-run still work).",
    )
    default_org_policy: OrgPolicy | None = Field(
        default=None,
        description="The policy of an org that stored none (JSON). Unset in production: such an org adds no rule "
        "of its own and grants no launcher; `playbooks dev` sets a read-only one so a first real run does something.",
    )
    max_runbook_bytes: int = Field(default=256 * 1024, ge=1024, description="Largest runbook document accepted.")
    max_attachment_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, description="Largest evidence attachment.")
