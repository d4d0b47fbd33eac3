"""Playbook documents and the recommendation-agent API: metadata, parameters, explain plan, scripts, search.

Input models are strict (unknown fields are an error); checksums and sizes of scripts are
computed from their content and a given checksum that does not match is refused.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from .base import JsonObject, OrgId, StrictModel, UtcDatetime

PlaybookStatus = Literal[
    "draft",
    "ready",
    "active",
    "deprecated",
    "archived",
    "pending_review",
    "approved",
    "rejected",
    "broken",
    "needs_update",
]
STATUSES: tuple[str, ...] = PlaybookStatus.__args__  # type: ignore[attr-defined]
SEARCHABLE_STATUSES: tuple[str, ...] = ("active", "approved", "deprecated", "needs_update", "pending_review")

# Allowed status changes; anything else is a 409 that lists the allowed targets.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "draft": ("ready", "archived"),
    "ready": ("draft", "pending_review", "archived"),  # active only after a review (approved)
    "pending_review": ("approved", "rejected", "broken"),
    "approved": ("active", "deprecated", "broken", "needs_update", "archived"),
    "active": ("deprecated", "broken", "needs_update", "archived"),
    "needs_update": ("active", "deprecated", "broken", "archived"),
    "deprecated": ("active", "broken", "archived"),
    "broken": ("needs_update", "archived", "draft"),
    "rejected": ("draft", "archived"),
    "archived": (),
}

Author = Literal["user_custom", "library", "ai_generated"]
StorageStrategy = Literal["local_only", "uploaded_for_review", "uploaded_trusted", "using_default"]
CloudProvider = Literal["aws", "azure", "gcp", "kubernetes"]
RiskLevel = Literal["low", "medium", "high", "critical"]
Source = Literal["tenant", "library", "ai_generated"]
FormatName = Literal["shell", "python", "terraform", "cloudformation"]
# What a playbook does, in one word: the search's reasons say "does 'stop'" only when this says so.
PlaybookAction = Literal[
    "stop",
    "start",
    "scale",
    "backup",
    "delete",
    "upgrade",
    "restart",
    "rollback",
    "secure",
    "rotate",
    "drain",
    "throttle",
    "archive",
    "schedule",
    "diagnose",
]
PLAYBOOK_ACTIONS: tuple[str, ...] = PlaybookAction.__args__  # type: ignore[attr-defined]
MatchStrength = Literal["strong", "weak"]

PLAYBOOK_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,99}$"
VERSION_PATTERN = r"^\d{1,6}\.\d{1,6}\.\d{1,6}$"
PlaybookId = Annotated[str, StringConstraints(pattern=PLAYBOOK_ID_PATTERN)]
Version = Annotated[str, StringConstraints(pattern=VERSION_PATTERN)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=300)]
LongText = Annotated[str, StringConstraints(min_length=1, max_length=4000)]
Word = Annotated[str, StringConstraints(min_length=1, max_length=80)]
ResourceType = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]+(::[a-z0-9_-]+)*$", max_length=80)]
Sha256 = Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]
FilePath = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+){0,3}$", max_length=200)]


def version_key(version: str) -> tuple[int, int, int]:
    """Numeric ordering of a semantic version (1.10.0 after 1.9.0)."""
    major, minor, patch = (int(p) for p in version.split("."))
    return major, minor, patch


def sha256_of(content: bytes | str) -> str:
    data = content.encode() if isinstance(content, str) else content
    return "sha256:" + hashlib.sha256(data).hexdigest()


class PlaybookTags(StrictModel):
    category: Word
    risk_level: RiskLevel
    requires_approval: bool


class BasedOn(StrictModel):
    """The library playbook a tenant playbook was derived from."""

    playbook_id: PlaybookId
    version: Version


class PlaybookMetadata(StrictModel):
    playbook_id: PlaybookId
    version: Version
    name: ShortText
    description: LongText
    purpose: ShortText
    use_cases: list[ShortText] = Field(default_factory=list, max_length=20)
    keywords: list[Word] = Field(default_factory=list, max_length=40)
    cloud_provider: list[CloudProvider] = Field(default_factory=list, max_length=4)
    resource_types: list[ResourceType] = Field(default_factory=list, max_length=20)
    author: Author
    storage_strategy: StorageStrategy
    status: PlaybookStatus
    tags: PlaybookTags
    estimated_impact: JsonObject = Field(default_factory=dict)
    prerequisites: list[ShortText] = Field(default_factory=list, max_length=20)
    created_at: UtcDatetime | None = None
    updated_at: UtcDatetime | None = None
    based_on: BasedOn | None = None
    primary_action: PlaybookAction | None = Field(
        default=None,
        description="What the playbook does, in one word; unset on a compiled runbook: derived from its commands.",
    )
    other_actions: list[PlaybookAction] = Field(
        default_factory=list,
        max_length=5,
        description="What else it does as a matter of course (a scale-to-zero also stops; a stop after a snapshot "
        "also backs up).",
    )


class ParameterValidation(StrictModel):
    pattern: Annotated[str, StringConstraints(max_length=300)] | None = None
    min_length: int | None = Field(default=None, ge=0)
    max_length: int | None = Field(default=None, ge=1)
    minimum: float | None = None
    maximum: float | None = None
    allowed_values: list[str] | None = None
    warning_if_true: ShortText | None = None


class AutoFillStrategy(StrictModel):
    source: Literal["user_estate", "context", "generated", "static", "prompt"]
    estate_query: JsonObject | None = None
    display_field: Word | None = None
    value_field: Word | None = None
    context_field: Word | None = None
    template: ShortText | None = None
    value: Any = None
    prompt: ShortText | None = None


class PlaybookParameter(StrictModel):
    name: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    type: Literal["string", "integer", "number", "boolean", "array", "object"]
    description: ShortText
    required: bool = False
    default: Any = None
    validation: ParameterValidation | None = None
    auto_fill_strategy: AutoFillStrategy | None = None


class ExplainStep(StrictModel):
    step: int = Field(ge=1)
    action: ShortText
    details: LongText
    duration_seconds: int = Field(ge=0)
    can_fail: bool
    rollback: ShortText | None = None


class Risk(StrictModel):
    risk: ShortText
    severity: RiskLevel
    mitigation: ShortText


class ExplainPlan(StrictModel):
    what_it_does: LongText
    why_use_it: list[ShortText] = Field(min_length=1)
    what_happens: list[ExplainStep] = Field(min_length=1)
    estimated_impact: JsonObject = Field(default_factory=dict)
    risks: list[Risk] = Field(default_factory=list)
    rollback_strategy: LongText
    success_criteria: list[ShortText] = Field(min_length=1)


class ExecutionFormat(StrictModel):
    """One script; ``content`` may be left out when ``checksum`` names an uploaded artifact."""

    content: Annotated[str, StringConstraints(max_length=512 * 1024, strip_whitespace=False)] | None = None
    entry_point: FilePath
    size_bytes: int | None = Field(default=None, ge=0)
    checksum: Sha256 | None = None
    dependencies: dict[str, str] | list[str] = Field(default_factory=list)
    permissions_required: list[Word] = Field(default_factory=list)

    @model_validator(mode="after")
    def _checksum_matches(self) -> ExecutionFormat:
        if self.content is None:
            if self.checksum is None:
                raise ValueError("give the script content, or the checksum of an uploaded artifact")
            return self
        digest = sha256_of(self.content)
        if self.checksum is not None and self.checksum != digest:
            raise ValueError(f"checksum {self.checksum} does not match the content ({digest})")
        size = len(self.content.encode())
        if self.size_bytes is not None and self.size_bytes != size:
            raise ValueError(f"size_bytes {self.size_bytes} does not match the content ({size} bytes)")
        self.checksum, self.size_bytes = digest, size
        return self


class ExecutionFormats(StrictModel):
    shell: ExecutionFormat | None = None
    python: ExecutionFormat | None = None
    terraform: ExecutionFormat | None = None
    cloudformation: ExecutionFormat | None = None

    def present(self) -> dict[str, ExecutionFormat]:
        return {
            k: v
            for k, v in (
                ("shell", self.shell),
                ("python", self.python),
                ("terraform", self.terraform),
                ("cloudformation", self.cloudformation),
            )
            if v is not None
        }


class PlaybookDocument(StrictModel):
    """One playbook version, complete."""

    metadata: PlaybookMetadata
    parameters: list[PlaybookParameter] = Field(default_factory=list, max_length=50)
    explain_plan: ExplainPlan
    execution_formats: ExecutionFormats = Field(default_factory=ExecutionFormats)
    runbook: JsonObject | None = Field(
        default=None, description="A governed runbook (data), e.g. compiled from a guide."
    )

    @model_validator(mode="after")
    def _complete(self) -> PlaybookDocument:
        names = [p.name for p in self.parameters]
        if len(names) != len(set(names)):
            raise ValueError("parameter names must be unique")
        if not self.execution_formats.present() and self.runbook is None:
            raise ValueError(
                "a playbook needs at least one execution format (shell, python, terraform, cloudformation) or a runbook"
            )
        return self


# -- API bodies --------------------------------------------------------------------------


class PublishRequest(PlaybookDocument):
    """Publish a tenant playbook version; ``tenant_id``, when given, must be the caller's org."""

    tenant_id: OrgId | None = None


class StatusChange(StrictModel):
    status: PlaybookStatus
    reason: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = None


class StatsUpdate(StrictModel):
    success: bool
    run_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    duration_ms: int | None = Field(default=None, ge=0)
    error: Annotated[str, StringConstraints(max_length=2000)] | None = None


class SearchFilters(StrictModel):
    cloud_provider: list[CloudProvider] | None = None
    resource_types: list[ResourceType] | None = None
    category: Word | None = None
    sources: list[Source] | None = None


class SearchRequest(StrictModel):
    query: Annotated[str, StringConstraints(min_length=2, max_length=500)]
    limit: int = Field(default=5, ge=1, le=20)
    filters: SearchFilters | None = None


class Intent(BaseModel):
    """What the request asks for, as the rules (or a validated LLM answer) understood it."""

    model_config = ConfigDict(extra="forbid")

    action: str | None = None
    cloud_provider: list[CloudProvider] = Field(default_factory=list)
    resource_types: list[str] = Field(default_factory=list)
    environment: str | None = None
    category: str | None = None
    time_context: str | None = None
    keywords: list[str] = Field(default_factory=list)
    implies: list[str] = Field(default_factory=list)
    other_clouds: list[str] = Field(
        default_factory=list, description="Clouds the request names that the library has no playbooks for."
    )
    parser: Literal["rules", "llm"] = "rules"


class PlaybookStats(BaseModel):
    success_count: int = 0
    failure_count: int = 0
    consecutive_failures: int = 0
    success_rate: float | None = None
    last_executed_at: UtcDatetime | None = None


class SearchResult(BaseModel):
    rank: int
    playbook_id: str
    version: str
    name: str
    source: Source
    status: PlaybookStatus
    confidence: float = Field(ge=0, le=1)
    reason: str
    warnings: list[str]
    score: float
    similarity: float
    stats: PlaybookStats
    metadata: dict[str, Any]
    parameters: list[dict[str, Any]]
    explain_plan: dict[str, Any]
    scripts: dict[str, dict[str, Any]]
    match: MatchStrength = Field(
        default="strong",
        description="weak: the playbook contradicts or misses what the request names (action, resource, cloud), "
        "or matches too little text; it is the closest there is, not an answer.",
    )
    assessment: str | None = Field(
        default=None,
        description="The LLM ranker's own words on this playbook (PLAYBOOKS_LLM_URL), when it ranked; ``reason`` "
        "stays the facts.",
    )


class SearchResponse(BaseModel):
    query: str
    intent: Intent
    results: list[SearchResult]
    took_ms: float
    degraded: str | None = Field(
        default=None, description="Set when a part of the pipeline was unavailable and the ranking ran without it."
    )
    matched: bool = Field(
        default=True, description="False when no result is a strong match: every result is marked weak."
    )
    notice: str | None = Field(
        default=None, description="Why nothing matched (a cloud the library lacks, words it does not know)."
    )
    ranked_by: Literal["rules", "llm"] = Field(
        default="rules", description="llm: the order and confidences are the LLM ranker's, validated."
    )


class PlaybookVersionRead(BaseModel):
    tenant_id: str
    playbook_id: str
    version: str
    status: PlaybookStatus
    source: Source
    storage_strategy: StorageStrategy
    stats: PlaybookStats
    document: dict[str, Any]
    updated_at: UtcDatetime


class StatusHistoryEntry(BaseModel):
    from_status: str | None
    to_status: str
    reason: str | None
    actor: str
    at: UtcDatetime


class UploadRequest(StrictModel):
    tenant_id: OrgId | None = None
    playbook_id: PlaybookId
    version: Version
    files: list[FilePath] = Field(min_length=1, max_length=20)


class UploadGrant(BaseModel):
    urls: dict[str, str]
    method: Literal["PUT"] = "PUT"
    expires_at: int


class DownloadGrant(BaseModel):
    url: str
    checksum: str
    size_bytes: int
    expires_at: int
