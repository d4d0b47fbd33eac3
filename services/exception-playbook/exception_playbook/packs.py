"""Org policy packs and domain packs: versioned JSON documents the engine reads its rules from.

The engine knows no domain: which status transitions are allowed, which tools may be called,
which notification channels and templates exist, come from the org's newest policy pack and
the newest domain pack of the exception's domain. An org without a policy pack gets
``DEFAULT_POLICY``, which allows no tool at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, model_validator

from .conditions import Strict

Name = Annotated[str, Field(min_length=1, max_length=128)]
Status = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
ToolId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]


class TemplateDoc(Strict):
    subject: str | None = Field(default=None, max_length=500)
    body: str = Field(min_length=1, max_length=10_000)


class ToolDoc(Strict):
    description: str = Field(default="", max_length=2000)
    runbook_ref: str | None = Field(
        default=None, max_length=256, description="A runbook runbook-runtime can dry-run for this tool."
    )


class PolicyPack(Strict):
    """An org's rules for every exception of that org."""

    status_transitions: dict[Status, list[Status]] = Field(
        description='Allowed moves: {"open": ["in_progress", "escalated"], ...}; anything else is refused.'
    )
    tool_allow_list: list[ToolId] = Field(default_factory=list, description="Tool ids call_tool steps may use.")
    notification_channels: list[Name] = Field(default_factory=list, description="Channels notify steps may use.")
    templates: dict[Name, TemplateDoc] = Field(default_factory=dict, description="Notification templates by id.")
    tools: dict[ToolId, ToolDoc] = Field(default_factory=dict, description="Tool definitions (may name a runbook).")
    tags: list[Name] = Field(default_factory=list)
    resolve_on_completion: bool = Field(
        default=True, description="Whether a last step with resolve_on_completion may resolve the exception."
    )
    resolved_status: Status = "resolved"

    @model_validator(mode="after")
    def _targets_known(self) -> PolicyPack:
        for source, targets in self.status_transitions.items():
            if source in targets:
                raise ValueError(f"status_transitions[{source!r}] lists the status itself")
        return self


class DomainPack(Strict):
    """What one domain (Finance, Claims, ...) brings: its exception types, templates, tools, tags."""

    exception_types: list[Name] = Field(default_factory=list)
    templates: dict[Name, TemplateDoc] = Field(default_factory=dict)
    tools: dict[ToolId, ToolDoc] = Field(default_factory=dict)
    tags: list[Name] = Field(default_factory=list)


DEFAULT_POLICY = PolicyPack(
    status_transitions={
        "open": ["in_progress", "escalated", "pending_review"],
        "in_progress": ["escalated", "pending_review", "resolved"],
        "escalated": ["in_progress", "pending_review", "resolved"],
        "pending_review": ["in_progress", "escalated", "resolved"],
        "resolved": ["in_progress"],
    },
    notification_channels=["email", "in_app"],
)


@dataclass(frozen=True)
class EffectivePolicy:
    """The org's policy pack joined with the domain pack of one exception's domain."""

    policy: PolicyPack
    policy_version: int  # 0: the built-in default
    domain: DomainPack | None = None
    domain_version: int | None = None

    def template(self, template_id: str) -> TemplateDoc | None:
        found = self.policy.templates.get(template_id)
        if found is None and self.domain is not None:
            found = self.domain.templates.get(template_id)
        return found

    def tool_allowed(self, tool_id: str) -> bool:
        return tool_id in self.policy.tool_allow_list

    def tool(self, tool_id: str) -> ToolDoc | None:
        found = self.policy.tools.get(tool_id)
        if found is None and self.domain is not None:
            found = self.domain.tools.get(tool_id)
        return found

    def allowed_from(self, status: str) -> list[str]:
        return list(self.policy.status_transitions.get(status, []))

    def can_transition(self, current: str, target: str) -> bool:
        return target in self.policy.status_transitions.get(current, [])

    def reference(self) -> dict[str, Any]:
        return {"policy_pack_version": self.policy_version, "domain_pack_version": self.domain_version}
