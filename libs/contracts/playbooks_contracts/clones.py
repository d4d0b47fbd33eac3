"""API bodies of org clones of library templates, their audit, template updates and learning proposals (issue 21)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from .base import StrictModel, UtcDatetime
from .recommendation import PlaybookId, PlaybookVersionRead, ShortText, Version

ProposalKind = Literal["new_default", "retry", "needs_update"]
ProposalStatus = Literal["open", "approved", "rejected"]


class CloneRequest(StrictModel):
    playbook_id: PlaybookId | None = Field(
        default=None, description="The clone's own id in the org; default <template id>-<8 hex>."
    )
    name: ShortText | None = Field(default=None, description="Its name; default the template's.")


class Lineage(BaseModel):
    template_id: str
    template_version: str
    owner: str
    created_by: str
    created_at: UtcDatetime


class FieldChange(BaseModel):
    """One leaf of a document that differs: lists of parameters, plan steps and runbook steps are keyed
    (``parameters[name=region].default``), so a change names the field, not a list position."""

    path: str
    op: Literal["added", "removed", "changed"]
    before: Any = Field(default=None, alias="from")
    after: Any = Field(default=None, alias="to")

    model_config = {"populate_by_name": True, "serialize_by_alias": True}


class TemplateUpdate(BaseModel):
    template_id: str
    from_version: str
    to_version: str
    diff: list[FieldChange]


class VersionSummary(BaseModel):
    version: str
    status: str
    storage_strategy: str
    created_at: UtcDatetime


class OrgPlaybookRead(BaseModel):
    """An org playbook as a whole: its current version (the active one, else the newest), every version,
    its lineage when it is a clone of a library template, and whether that template has a newer version."""

    playbook_id: str
    owner: str | None
    current: PlaybookVersionRead
    versions: list[VersionSummary]
    lineage: Lineage | None
    template_update: TemplateUpdate | None


class CloneSummary(BaseModel):
    """One of the org's clones, as a list shows it: where it came from and whether its template moved on."""

    playbook_id: str
    template_id: str
    template_version: str
    owner: str
    created_by: str
    created_at: UtcDatetime
    update_to: str | None = Field(description="The template's newer version waiting to be taken or dismissed.")


class TemplateUpdateDecision(StrictModel):
    action: Literal["take", "dismiss"]


class TemplateUpdateResult(BaseModel):
    action: Literal["take", "dismiss"]
    template_version: str
    version: str | None = Field(description="The clone's new version when taken.")
    taken: list[str] = Field(default_factory=list, description="Fields taken from the template.")
    kept: list[str] = Field(
        default_factory=list, description="Fields the org had edited and the template changed too: the org's stay."
    )


class AuditEntry(BaseModel):
    id: int
    action: str
    actor: str
    from_ref: str = Field(description="What it was made from: a template version, a version, a proposal.")
    version: str | None
    detail: dict[str, Any]
    at: UtcDatetime


class ProposalRead(BaseModel):
    id: str
    playbook_id: str
    base_version: str
    kind: ProposalKind
    summary: str
    change: dict[str, Any]
    evidence: dict[str, Any] = Field(description="The figures the proposal rests on, per window (7 and 30 days).")
    status: ProposalStatus
    decided_by: str | None
    decided_at: UtcDatetime | None
    reason: str | None
    applied_version: str | None
    created_at: UtcDatetime


class ProposalRejection(StrictModel):
    reason: ShortText


class RollbackRequest(StrictModel):
    version: Version


class VersionCreated(BaseModel):
    playbook_id: str
    version: str
    status: str
    from_ref: str
