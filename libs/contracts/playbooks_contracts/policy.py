"""An org's policy, set by its admins: what may run, and the floor for approvals.

A runbook may only narrow it (fewer commands, more approvals), and the operator's setting caps it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApprovalFloor(_Strict):
    """Every gate of a run needs at least this many approvals, by people holding one of ``roles``."""

    min: int = Field(default=1, ge=0, le=20)
    roles: list[str] = Field(default_factory=lambda: ["approver", "admin"])


class OrgPolicy(_Strict):
    approvals: ApprovalFloor = Field(default_factory=ApprovalFloor)
    automation_real_runs: bool = Field(
        default=False,
        description="Whether automation (condition-engine actions, goals) may start real runs; off by default.",
    )
