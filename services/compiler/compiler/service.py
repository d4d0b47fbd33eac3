"""Domain functions of the compiler service: compile, validate, publish for review."""

from __future__ import annotations

from typing import Any

import yaml

from playbooks_contracts import Envelope
from playbooks_contracts.compiler import CompileResponse, Diagnostic, Published, ValidateResponse
from playbooks_contracts.documents import DocumentTooLarge, check_text, check_tree, load_yaml
from playbooks_contracts.envelope import derived_id
from playbooks_contracts.messages import RunbookCompiled
from playbooks_contracts.topics import RUNBOOKS_COMPILED
from playbooks_platform.bus import Publisher
from playbooks_platform.errors import Invalid

from .llm import LlmConfig
from .pipeline import CompileResult, Offload, compile_document, dump_yaml, inline
from .validate import check, errors

MESSAGE_TYPE = "runbook.compiled"


async def compile_tsg(
    *, markdown: str, name: str | None, source_name: str, llm: LlmConfig | None, offload: Offload = inline
) -> CompileResult:
    """Compile one TSG (rules, or the LLM falling back to the rules)."""
    return await compile_document(markdown, name=name, source_name=source_name, llm=llm, offload=offload)


def to_response(result: CompileResult, published: Published | None = None) -> CompileResponse:
    return CompileResponse(
        valid=result.valid,
        engine=result.engine,  # type: ignore[arg-type]
        runbook=result.runbook,
        runbook_yaml=result.yaml,
        mapping_markdown=result.mapping_markdown,
        diagnostics=[Diagnostic(**d.to_dict()) for d in result.diagnostics],  # type: ignore[arg-type]
        stats=result.stats(),
        elapsed_ms=round(result.elapsed_ms, 3),
        published=published,
    )


async def publish_compiled(
    *, publisher: Publisher, org_id: str, result: CompileResult, playbook_id: str | None, version: str, source: str
) -> Published:
    """Publish a valid compiled runbook to runbooks.compiled.v1 (it becomes a pending_review playbook)."""
    if not result.valid:
        first = "; ".join(str(p) for p in errors(result.problems)[:3])
        raise Invalid(f"the compiled runbook is not valid, so it was not published: {first}")
    name = result.runbook["meta"]["name"]
    pid = playbook_id or f"compiled-{derived_id(org_id, 'compiled-runbook', name).hex[:16]}"
    data = RunbookCompiled(
        playbook_id=pid,
        version=version,
        name=name,
        description=result.runbook["meta"].get("description", ""),
        runbook=result.runbook,
        mapping_markdown=result.mapping_markdown,
        source_name=result.mapping.source_name,
    )
    envelope = Envelope(
        id=derived_id(org_id, pid, version, "runbook.compiled"),
        type=MESSAGE_TYPE,
        org_id=org_id,
        source=source,
        data=data.model_dump(mode="json"),
    )
    await publisher.publish(RUNBOOKS_COMPILED, envelope, key=org_id)
    return Published(topic=RUNBOOKS_COMPILED.name, message_id=str(envelope.id), playbook_id=pid, version=version)


def validate_document(
    *, runbook: dict[str, Any] | None, runbook_yaml: str | None, source: str | None
) -> ValidateResponse:
    """Stage C on a runbook given as JSON or YAML; with the source TSG, also the no-invention check."""
    if (runbook is None) == (runbook_yaml is None):
        raise Invalid("give exactly one of runbook (JSON) or runbook_yaml (text)")
    data: Any = runbook
    try:
        if runbook_yaml is not None:
            data = load_yaml(runbook_yaml, what="runbook_yaml")
        else:
            check_tree(data, what="runbook")
        if source is not None:
            check_text(source, what="source_markdown")
    except DocumentTooLarge as exc:
        raise Invalid(str(exc)) from None
    except yaml.YAMLError as exc:
        raise Invalid(f"runbook_yaml is not YAML: {exc}") from None
    problems = check(data, source=source)
    return ValidateResponse(
        valid=not errors(problems),
        problems=[Diagnostic(level=p.level, code=p.code, message=p.message, location=p.location) for p in problems],
    )


__all__ = ["MESSAGE_TYPE", "compile_tsg", "dump_yaml", "publish_compiled", "to_response", "validate_document"]
