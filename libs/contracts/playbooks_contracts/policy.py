"""An org's policy, set by its admins: what may run, and the floor for approvals.

A runbook may only narrow it (fewer commands, more approvals), and the operator's setting caps it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApprovalFloor(_Strict):
    """Every gate of a run needs at least this many approvals, by people holding one of ``roles``."""

    min: int = Field(default=1, ge=0, le=20)
    roles: list[str] = Field(default_factory=lambda: ["approver", "admin"])


def _plain_names(value: list[str]) -> list[str]:
    for name in value:
        if not name or any(c in name for c in " \t\n;|&$`"):
            raise ValueError(f"{name!r} is not a program name or path")
    return value


class CommandRule(_Strict):
    """What one program may do: its subcommands, its flags, and whether it may launch other programs."""

    allow: list[str] | None = Field(
        default=None,
        description="The only subcommands allowed, as words ('get', 'rollout status'); absent: any subcommand.",
    )
    deny: list[str] = Field(default_factory=list, description="Subcommands refused wherever their words appear.")
    deny_flags: list[str] = Field(
        default_factory=list,
        description="Options refused in any spelling: '--token', '--token=x', an abbreviation, '-t' in a cluster.",
    )
    launcher: bool | None = Field(
        default=None,
        description="Whether this program may run another program (env, timeout, kubectl exec, sh -c...); what it "
        "runs is then judged by the same policy. Only an org policy or a policy file can grant it; false anywhere "
        "refuses it.",
    )

    @field_validator("allow", "deny", "deny_flags")
    @classmethod
    def _words(cls, value: list[str] | None) -> list[str] | None:
        for item in value or []:
            if not item.strip():
                raise ValueError("an empty subcommand or flag")
        return value


class CommandSet(_Strict):
    """Programs allowed and denied, and per-program rules (a program with a rule is allowed)."""

    allowed_commands: list[str] = Field(default_factory=list, description="Program names or absolute paths.")
    deny_commands: list[str] = Field(default_factory=list)
    commands: dict[str, CommandRule] = Field(default_factory=dict)

    @field_validator("allowed_commands", "deny_commands")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        return _plain_names(value)


class OrgPolicy(_Strict):
    approvals: ApprovalFloor = Field(default_factory=ApprovalFloor)
    commands: CommandSet | None = Field(
        default=None,
        description="What the org's runbooks may run; a runbook may only narrow it, the operator's setting caps it. "
        "Absent: the org adds no limit of its own (the operator's cap and each runbook's list apply).",
    )
    automation_real_runs: bool = Field(
        default=False,
        description="Whether automation (condition-engine actions, goals) may start real runs; off by default.",
    )
