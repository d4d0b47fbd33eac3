"""API bodies of the compiler: compile a Markdown TSG, validate a runbook."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .base import StrictModel, WireModel
from .documents import MAX_DOCUMENT_CHARS, MAX_DOCUMENT_DEPTH, MAX_DOCUMENT_NODES
from .recommendation import PLAYBOOK_ID_PATTERN, VERSION_PATTERN


class CompileRequest(StrictModel):
    markdown: str = Field(min_length=1, max_length=MAX_DOCUMENT_CHARS, description="The Markdown TSG.")
    name: str | None = Field(default=None, max_length=200, description="Runbook name (default: the first heading).")
    source_name: str = Field(default="", max_length=300, description="File name of the TSG, for the mapping.")
    engine: Literal["auto", "rules"] = Field(
        default="auto", description="auto: the LLM when one is configured (falls back to the rules); rules: rules only."
    )
    publish: bool = Field(default=False, description="Also publish the runbook to runbooks.compiled.v1 for review.")
    # The same id and version rules as the consumers of runbooks.compiled.v1 (recommendation-agent,
    # runbook-runtime): a publish they would dead-letter is refused here with a 422 instead.
    playbook_id: str | None = Field(
        default=None, pattern=PLAYBOOK_ID_PATTERN, description="Id to publish under (default: derived)."
    )
    version: str = Field(
        default="1.0.0", pattern=VERSION_PATTERN, description="Version to publish as: MAJOR.MINOR.PATCH."
    )


class Diagnostic(WireModel):
    level: Literal["error", "warning", "info"]
    code: str
    message: str
    location: str = ""


class Published(WireModel):
    topic: str
    message_id: str
    playbook_id: str
    version: str


class CompileResponse(WireModel):
    valid: bool
    engine: Literal["rules", "llm"]
    runbook: dict[str, Any]
    runbook_yaml: str
    mapping_markdown: str
    diagnostics: list[Diagnostic]
    stats: dict[str, int]
    elapsed_ms: float
    published: Published | None = None


_LIMITS = (
    f" At most {MAX_DOCUMENT_DEPTH} levels of nesting and {MAX_DOCUMENT_NODES} nodes (YAML aliases expanded);"
    " over a limit, or over the processing deadline, the answer is 422 naming it."
)


class ValidateRequest(StrictModel):
    runbook: dict[str, Any] | None = Field(default=None, description=f"The runbook as JSON.{_LIMITS}")
    runbook_yaml: str | None = Field(
        default=None, max_length=MAX_DOCUMENT_CHARS, description=f"Or the runbook as YAML text.{_LIMITS}"
    )
    source_markdown: str | None = Field(
        default=None,
        max_length=MAX_DOCUMENT_CHARS,
        description="The TSG it came from: also checks that no command is invented.",
    )


class ValidateResponse(WireModel):
    valid: bool
    problems: list[Diagnostic]
