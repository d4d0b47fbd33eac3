"""Playbook documents and the recommendation-agent API: metadata, parameters, explain plan, scripts, search.

Input models are strict (unknown fields are an error); checksums and sizes of scripts are
computed from their content and a given checksum that does not match is refused. The source
design's own names and shapes (seed 002: ``based_on_escher``, ``author: "escher_library"``,
``parameters`` keyed by name, ``scripts.X.code``, a ``cloud_provider`` string, ``tenant_id`` in a
body, ``s3_paths``/``s3_path``) are accepted beside ours; see ``seeds.py`` for the rules.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    computed_field,
    field_validator,
    model_validator,
)

from .base import JsonObject, OrgId, StrictModel, UtcDatetime
from .seeds import AliasCollision, as_list, fold_aliases

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
STATUSES: tuple[str, ...] = get_args(PlaybookStatus)
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
PLAYBOOK_ACTIONS: tuple[str, ...] = get_args(PlaybookAction)
MatchStrength = Literal["strong", "weak"]
FORMATS: tuple[str, ...] = get_args(FormatName)

# The source design calls the curated library "escher_library" (as an author and as a source).
LIBRARY_NAMES = {"escher_library": "library"}
SEED_LIBRARY_NAME = "escher_library"

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


def _fold_based_on(data: dict[str, Any]) -> dict[str, Any]:
    """Seed 002's ``based_on_escher`` + ``escher_playbook_id`` + ``escher_version`` as ``based_on``."""
    keys = ("based_on_escher", "escher_playbook_id", "escher_version")
    if not any(k in data for k in keys):
        return data
    out = dict(data)
    flag, pid, version = (out.pop(k, None) for k in keys)
    if flag is not None and not isinstance(flag, bool):
        raise ValueError(f"based_on_escher must be true or false, not {flag!r}")
    if flag is False:
        if pid is not None or version is not None or out.get("based_on") is not None:
            raise AliasCollision(
                "based_on_escher is false but escher_playbook_id, escher_version or based_on name a library "
                "playbook: say true, or leave the library playbook out"
            )
        return out
    if pid is None or version is None:
        raise ValueError("based_on_escher needs escher_playbook_id and escher_version (the library playbook)")
    seed = {"playbook_id": pid, "version": version}
    native = out.get("based_on")
    if native is not None and native != seed:
        raise AliasCollision(
            f"escher_playbook_id/escher_version ({pid}@{version}, the source design's names) and based_on "
            f"({native!r}, this API's name) are the same field with different values: give one of them"
        )
    out["based_on"] = seed
    return out


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

    @model_validator(mode="before")
    @classmethod
    def _seed_names(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if data.get("author") in LIBRARY_NAMES:
            data = {**data, "author": LIBRARY_NAMES[data["author"]]}
        for key in ("cloud_provider", "resource_types"):
            if isinstance(data.get(key), str):
                data = {**data, key: [data[key]]}
        return _fold_based_on(data)


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
    """One script; ``content`` (seed 002's answers call it ``code``) may be left out when ``checksum``
    names an uploaded artifact. The tool-specific fields are seed 002's, kept as given."""

    content: Annotated[str, StringConstraints(max_length=512 * 1024, strip_whitespace=False)] | None = None
    entry_point: FilePath
    size_bytes: int | None = Field(default=None, ge=0)
    checksum: Sha256 | None = None
    dependencies: dict[str, str] | list[str] = Field(default_factory=list)
    permissions_required: list[Word] = Field(default_factory=list)
    stack_name_template: ShortText | None = Field(default=None, description="CloudFormation: the stack's name.")
    terraform_version: Word | None = Field(default=None, description='Terraform: a constraint, e.g. ">=1.0".')
    providers: dict[Word, Word] | None = Field(default=None, description='Terraform: {"aws": "~> 5.0"}.')
    backend: Word | None = Field(default=None, description="Terraform: the state backend.")
    python_version: Word | None = Field(default=None, description='Python: a constraint, e.g. ">=3.8".')

    @model_validator(mode="before")
    @classmethod
    def _seed_names(cls, data: Any) -> Any:
        return fold_aliases(data, {"code": "content"})

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

    @field_validator("parameters", mode="before")
    @classmethod
    def _keyed_by_name(cls, value: Any) -> Any:
        return parameters_as_list(value)

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


def parameters_as_list(value: Any) -> Any:
    """Seed 002's parameters, an object keyed by name, as this API's list (the key is the name)."""
    if not isinstance(value, dict):
        return value
    out = []
    for name, spec in value.items():
        if isinstance(spec, dict):
            if "name" in spec and spec["name"] != name:
                raise AliasCollision(
                    f"parameter {name!r} is keyed by one name and says name {spec['name']!r}: they must agree"
                )
            spec = {**spec, "name": name}
        out.append(spec)
    return out


def parameters_by_name(parameters: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """This API's parameter list as seed 002's object keyed by name."""
    return {p["name"]: {k: v for k, v in p.items() if k != "name"} for p in parameters}


# -- object paths (seed 002's S3 layout) ----------------------------------------------------

# The source design keeps scripts in S3 and names them by path: a tenant's under
# ``s3://<bucket>/tenants/<tenant>/playbooks/<playbook_id>/v<version>/<format>/<file>``, the library's under
# ``s3://<bucket>/playbooks/<playbook_id>/v<version>/<format>/<file>``. Here scripts are artifacts stored by
# sha256, and such a path is only a name for one: the bucket is not looked at (it is the design's deployment),
# the tenant must be the caller's, and nothing in it ever reaches a file system or an object store.
TENANT_BUCKET = "playbooks-tenant-data"
LIBRARY_BUCKET = "playbooks-library"
MAX_S3_PATH = 1024
_S3 = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>.+)$")
_TENANT_KEY = re.compile(r"^tenants/(?P<tenant>[^/]+)/playbooks/(?P<pid>[^/]+)/v(?P<version>[^/]+)/(?P<path>.+)$")
_LIBRARY_KEY = re.compile(r"^playbooks/(?P<pid>[^/]+)/v(?P<version>[^/]+)/(?P<path>.+)$")
_SEGMENT = re.compile(r"^[A-Za-z0-9_.:-]+$")
_FILE_PATH = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+){0,3}$")


@dataclass(frozen=True)
class ObjectKey:
    """What an S3 path names: a tenant's (``tenant``) or the library's (``tenant`` None) file of a version."""

    tenant: str | None
    playbook_id: str
    version: str
    path: str

    @property
    def format(self) -> str | None:
        """The script format the path is under (``shell/main.sh`` -> shell), if it is one."""
        head = self.path.split("/", 1)[0]
        return head if head in FORMATS and "/" in self.path else None

    @property
    def entry_point(self) -> str:
        return self.path.split("/", 1)[1] if self.format else self.path


def s3_path_of(tenant: str | None, playbook_id: str, version: str, path: str) -> str:
    """The S3 path a client of seed 002 would use for a file (tenant None: the library's)."""
    if tenant is None:
        return f"s3://{LIBRARY_BUCKET}/playbooks/{playbook_id}/v{version}/{path}"
    return f"s3://{TENANT_BUCKET}/tenants/{tenant}/playbooks/{playbook_id}/v{version}/{path}"


def parse_s3_path(text: str) -> ObjectKey:
    """The file an S3 path names; ``ValueError`` (saying why) for anything else, traversal included."""
    if len(text) > MAX_S3_PATH:
        raise ValueError(f"an s3 path has at most {MAX_S3_PATH} characters")
    if any(c in text for c in "\\%?#") or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ValueError("an s3 path is plain: no backslash, percent-encoding, query, fragment or control character")
    m = _S3.match(text)
    if m is None:
        raise ValueError(
            "an s3 path looks like s3://<bucket>/tenants/<tenant>/playbooks/<playbook_id>/v<version>/<file>"
        )
    key = m["key"]
    if any(seg in ("", ".", "..") for seg in key.split("/")):
        raise ValueError("an s3 path may not contain empty, '.' or '..' segments (no path traversal)")
    found = _TENANT_KEY.match(key) or _LIBRARY_KEY.match(key)
    if found is None:
        raise ValueError(
            "an s3 path names a playbook file: .../tenants/<tenant>/playbooks/<playbook_id>/v<version>/<file> "
            "or, for the library, .../playbooks/<playbook_id>/v<version>/<file>"
        )
    parts = found.groupdict()
    tenant = parts.get("tenant")
    if tenant is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}", tenant):
        raise ValueError(f"{tenant!r} is not a tenant id")
    if not re.fullmatch(PLAYBOOK_ID_PATTERN, parts["pid"]):
        raise ValueError(f"{parts['pid']!r} is not a playbook id")
    if not re.fullmatch(VERSION_PATTERN, parts["version"]):
        raise ValueError(f"v{parts['version']} is not a version (v1.2.0)")
    if not _FILE_PATH.match(parts["path"]):
        raise ValueError(f"{parts['path']!r} is not a file path (at most four plain segments)")
    return ObjectKey(tenant, parts["pid"], parts["version"], parts["path"])


S3Path = Annotated[str, StringConstraints(min_length=6, max_length=MAX_S3_PATH)]


# -- API bodies --------------------------------------------------------------------------


class DocumentPublish(PlaybookDocument):
    """Publish a tenant playbook version, the whole document in the body; ``tenant_id``, when given,
    must be the caller's org."""

    tenant_id: OrgId | None = None


class ArtifactPublish(StrictModel):
    """Seed 002's publish: the files were uploaded through signed URLs first, the body names them.

    ``s3_paths`` maps a format to an uploaded script; the metadata, parameters and explain plan come
    from the uploaded ``metadata.json``, ``parameters.json`` and ``explain_plan.json`` unless the body
    gives them. As in the design, the version enters review: ``pending_review``, ``uploaded_for_review``.
    """

    tenant_id: OrgId | None = None
    playbook_id: PlaybookId
    version: Version
    s3_paths: dict[FormatName, S3Path] = Field(min_length=1, max_length=4)
    metadata: JsonObject | None = None
    parameters: list[JsonObject] | JsonObject | None = None
    explain_plan: JsonObject | None = None

    @field_validator("s3_paths")
    @classmethod
    def _paths(cls, value: dict[str, str]) -> dict[str, str]:
        for fmt, path in value.items():
            try:
                parse_s3_path(path)
            except ValueError as exc:
                raise ValueError(f"s3_paths.{fmt}: {exc}") from None
        return value


def _publish_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "artifacts" if "s3_paths" in value else "document"
    return "artifacts" if hasattr(value, "s3_paths") else "document"


# One route, two bodies: a body naming ``s3_paths`` is seed 002's, any other is the whole document. The
# callable discriminator picks one, so a bad body gets the errors of its own kind, not of both.
PublishRequest = Annotated[
    Annotated[DocumentPublish, Tag("document")] | Annotated[ArtifactPublish, Tag("artifacts")],
    Discriminator(_publish_kind),
]


class StatusChange(StrictModel):
    status: PlaybookStatus
    reason: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = None


class StatsUpdate(StrictModel):
    success: bool
    run_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    duration_ms: int | None = Field(default=None, ge=0)
    error: Annotated[str, StringConstraints(max_length=2000)] | None = None
    parameters: JsonObject | None = Field(default=None, description="The parameter values the run was given.")
    failed_step: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        default=None, description="The runbook step that failed, on a failure."
    )


class SearchFilters(StrictModel):
    cloud_provider: list[CloudProvider] | None = Field(default=None, description='A list, or one ("aws").')
    resource_types: list[ResourceType] | None = Field(default=None, description="A list, or one.")
    category: Word | None = None
    sources: list[Source] | None = Field(default=None, description='"escher_library" is read as "library".')

    @field_validator("cloud_provider", "resource_types", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return as_list(value)

    @field_validator("sources", mode="before")
    @classmethod
    def _library(cls, value: Any) -> Any:
        value = as_list(value)
        if not isinstance(value, list):
            return value
        return [LIBRARY_NAMES.get(v, v) if isinstance(v, str) else v for v in value]


class SearchRequest(StrictModel):
    query: Annotated[str, StringConstraints(min_length=2, max_length=500)]
    limit: int = Field(default=5, ge=1, le=20)
    filters: SearchFilters | None = None
    tenant_id: OrgId | None = Field(default=None, description="If given, must be the token's org.")


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

    @model_validator(mode="before")
    @classmethod
    def _seed_names(cls, data: Any) -> Any:
        """Seed 002's intent (its LLM prompt's answer): ``use_case``, ``time_based``, ``filters.environment``,
        ``cloud_provider`` as one string; also this model's own answer read back (``use_case``, ``time_based``)."""
        if not isinstance(data, dict):
            return data
        data = fold_aliases(data, {"use_case": "category"})
        if "time_based" in data or "filters" in data or isinstance(data.get("cloud_provider"), str):
            data = dict(data)
            data.pop("time_based", None)  # derived from time_context, which says more
            filters = data.pop("filters", None)
            if isinstance(filters, dict):
                for key, value in filters.items():
                    if key in data and data[key] != value:
                        raise AliasCollision(f"filters.{key} and {key} were given different values: give one of them")
                    data[key] = value
            elif filters is not None:
                raise ValueError("filters must be an object")
            data["cloud_provider"] = as_list(data.get("cloud_provider", []))
        return data

    # Seed 002's names for two of these, answered beside them.
    @computed_field  # type: ignore[prop-decorator]
    @property
    def use_case(self) -> str | None:
        """Seed 002's name of ``category``."""
        return self.category

    @computed_field  # type: ignore[prop-decorator]
    @property
    def time_based(self) -> bool:
        """Seed 002's flag: the request has a time context (``time_context``)."""
        return self.time_context is not None


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
    name: str
    status: PlaybookStatus
    source: Source
    storage_strategy: StorageStrategy
    stats: PlaybookStats
    document: dict[str, Any]
    scripts: dict[str, str] = Field(
        default_factory=dict,
        description="Each script's S3 path (seed 002's handle: GET /api/script/download?s3_path=).",
    )
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


# -- answers in seed 002's shape (Accept: application/vnd.playbooks.seed+json) ----------------


def seed_counts(stats: dict[str, Any]) -> dict[str, Any]:
    """Seed 002's counts of a version (``execution_count``, ``success_count``, ``success_rate``) from its stats."""
    return {
        "execution_count": stats.get("success_count", 0) + stats.get("failure_count", 0),
        "success_count": stats.get("success_count", 0),
        "success_rate": stats.get("success_rate"),
    }


def seed_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """Metadata with seed 002's names: ``author`` "escher_library", ``based_on`` as ``based_on_escher`` + ids,
    times in unix seconds."""
    out = dict(metadata)
    for key in ("created_at", "updated_at"):  # the design's times are unix seconds
        if isinstance(out.get(key), str):
            out[key] = int(datetime.fromisoformat(out[key]).timestamp())
    if out.get("author") == "library":
        out["author"] = SEED_LIBRARY_NAME
    based_on = out.pop("based_on", None)
    out["based_on_escher"] = based_on is not None
    if based_on is not None:
        out["escher_playbook_id"] = based_on["playbook_id"]
        out["escher_version"] = based_on["version"]
    return out


def seed_intent(intent: dict[str, Any]) -> dict[str, Any]:
    """The intent with seed 002's names (``use_case``, ``time_based``, ``filters.environment``)."""
    out = {k: v for k, v in intent.items() if k not in ("category", "time_context", "environment")}
    out["filters"] = {"environment": intent["environment"]} if intent.get("environment") else {}
    # The design's intent names one cloud; every one the request named stays in ``cloud_providers``.
    clouds = intent.get("cloud_provider") or []
    out["cloud_provider"] = clouds[0] if clouds else None
    out["cloud_providers"] = clouds
    return out


def seed_result(result: dict[str, Any]) -> dict[str, Any]:
    """One search result in seed 002's shape: parameters keyed by name, ``scripts.X.code``, library names."""
    out = dict(result)
    if out.get("source") == "library":
        out["source"] = SEED_LIBRARY_NAME
    stats = out.get("stats") or {}
    scripts = out.get("scripts") or {}
    # The design's metadata of a version carries its counts and its scripts' paths ("Metadata in Server RAG").
    out["metadata"] = {
        **seed_metadata(out.get("metadata") or {}),
        **seed_counts(stats),
        "scripts": {name: script["s3_path"] for name, script in scripts.items() if script.get("s3_path")},
    }
    out["parameters"] = parameters_by_name(out.get("parameters") or [])
    out["scripts"] = {name: {k: v for k, v in script.items() if k != "content"} for name, script in scripts.items()}
    return out


def seed_version_read(read: dict[str, Any]) -> dict[str, Any]:
    """A version (the JSON of :class:`PlaybookVersionRead`) in seed 002's shape: its counts beside its
    status, as the design's stored metadata has them, and the document's parts with the design's names."""
    document = dict(read.get("document") or {})
    if "metadata" in document:
        document["metadata"] = seed_metadata(document["metadata"])
    if isinstance(document.get("parameters"), list):
        document["parameters"] = parameters_by_name(document["parameters"])
    stats = read.get("stats") or {}
    return {
        **read,
        **seed_counts(stats),
        "document": document,
    }


def seed_search_response(response: dict[str, Any]) -> dict[str, Any]:
    """A search answer (the JSON of :class:`SearchResponse`) in seed 002's shape."""
    return {
        **response,
        "intent": seed_intent(response["intent"]),
        "results": [seed_result(r) for r in response["results"]],
    }
