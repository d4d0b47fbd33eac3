"""Settings of runbook-runtime (``PLAYBOOKS_*`` like every service)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

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
    # The same two settings as the runner's (helper "isolation" defines them with the runner; keep theirs on merge).
    runner_url: str | None = Field(
        default=None,
        description="The runbook-runner that executes real steps (e.g. http://runbook-runner:8010). Unset: steps run "
        "in a sandbox inside this process.",
    )
    runner_token_file: Path | None = Field(
        default=None, description="File holding the bearer token shared by runbook-runtime and the runner."
    )
    max_runbook_bytes: int = Field(default=256 * 1024, ge=1024, description="Largest runbook document accepted.")
    max_attachment_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, description="Largest evidence attachment.")
