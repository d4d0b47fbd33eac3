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
    max_runbook_bytes: int = Field(default=256 * 1024, ge=1024, description="Largest runbook document accepted.")
    max_attachment_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, description="Largest evidence attachment.")
    # Ceilings on what a runbook or scenario may ask for; the runbook format's own limits (24h, 10 attempts)
    # stay the format's, these are this deployment's. A run asking for more is refused at creation (422).
    max_step_timeout_seconds: float = Field(default=600, gt=0, description="Longest timeout a CLI step may set.")
    max_retry_attempts: int = Field(default=5, ge=1, description="Most attempts a CLI step may set.")
    max_retry_delay_seconds: float = Field(
        default=60, gt=0, description="Longest wait between attempts, exponential growth included."
    )
    max_replay_delay_seconds: float = Field(default=60, gt=0, description="Longest respond.delay a scenario may set.")
    max_steps: int = Field(default=200, ge=1, description="Most executable steps in one runbook.")
    max_snapshots_per_run: int = Field(
        default=200, ge=2, description="Snapshots kept per run; past it, one rolling 'latest.json' is updated."
    )
    max_scenario_output_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="A scenario's stdout/stderr is cut to this (head and tail kept)."
    )
    max_advance_seconds: float = Field(
        default=900,
        gt=0,
        description="An advance (next/continue) starts no new step after this; the run stays where it is.",
    )
    step_workers: int = Field(default=8, ge=1, description="Threads executing steps (off the event loop).")
