"""Settings of runbook-runtime (``PLAYBOOKS_*`` like every service)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from playbooks_contracts.policy import OrgPolicy
from playbooks_platform.dependencies import settings_of
from playbooks_platform.settings import PlatformSettings


class SandboxSettings(BaseSettings):
    """Where and how a real CLI step runs; shared by the service and the separate runner process."""

    model_config = SettingsConfigDict(env_prefix="PLAYBOOKS_", extra="ignore", env_file=None)

    runner_url: str | None = Field(
        default=None,
        description="The runbook-runner that executes real steps (e.g. http://runbook-runner:8010). Unset: steps run "
        "in a sandbox inside this process.",
    )
    runner_token_file: Path | None = Field(
        default=None, description="File holding the bearer token shared by runbook-runtime and the runner."
    )
    runner_token_sha256_file: Path | None = Field(
        default=None,
        description="On the runner: file holding the hex SHA-256 of that token, which it checks callers against; "
        "a step that reads this file learns nothing it can authenticate with.",
    )
    runner_max_timeout_s: float = Field(default=3600, gt=0, description="Longest step the runner accepts.")
    runner_uid: int = Field(default=65534, ge=1, description="User a step runs as when the process is root.")
    runner_gid: int = Field(default=65534, ge=1, description="Group a step runs as when the process is root.")
    sandbox_bwrap: Literal["auto", "off", "require"] = Field(
        default="auto",
        description="Namespaces through bubblewrap: auto (when bwrap works here), off, or require (refuse to run "
        "steps without it).",
    )
    sandbox_network: bool = Field(
        default=True, description="Steps keep the network (kubectl, curl): off gives them an empty network namespace."
    )
    sandbox_ro_binds: list[str] = Field(
        default_factory=list,
        description="Extra host paths a step may read under bubblewrap (e.g. a kubeconfig folder for the runner).",
    )
    sandbox_memory_bytes: int = Field(default=4 << 30, ge=64 << 20, description="RLIMIT_AS of a step's processes.")
    sandbox_open_files: int = Field(default=256, ge=16, description="RLIMIT_NOFILE of a step's processes.")
    sandbox_processes: int = Field(
        default=128, ge=8, description="RLIMIT_NPROC for the step's user (only when it runs as a user of its own)."
    )
    sandbox_file_bytes: int = Field(default=64 << 20, ge=0, description="RLIMIT_FSIZE: the largest file a step writes.")
    output_head_bytes: int = Field(default=64 * 1024, ge=0, description="First bytes kept of each output stream.")
    output_tail_bytes: int = Field(default=64 * 1024, ge=0, description="Last bytes kept of each output stream.")


class RunbookRuntimeSettings(PlatformSettings, SandboxSettings):
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
    # GET /v1/runs/{id}/events: each open stream costs a connection and a little memory, never a thread or a
    # database connection while it waits; these bound how many one org, and one process, may hold.
    event_streams_per_org: int = Field(default=20, ge=1, description="Open run event streams one org may hold.")
    event_streams_max: int = Field(default=500, ge=1, description="Open run event streams this process serves.")
    event_stream_max_seconds: float = Field(
        default=600, gt=0, description="A stream closes after this; the client reconnects with Last-Event-ID."
    )
    event_stream_keepalive_seconds: float = Field(
        default=15, gt=0, description="A comment line when nothing else was sent for this long (proxies, dead peers)."
    )
    event_stream_recheck_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often the watched runs are checked for changes another process made (one query per org).",
    )


SettingsDep = Annotated[RunbookRuntimeSettings, settings_of(RunbookRuntimeSettings)]
