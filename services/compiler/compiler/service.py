"""Domain functions of the compiler service: compile, validate, publish for review."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import orjson
import yaml

from playbooks_contracts.compiler import CompileResponse, Diagnostic, Published, ValidateResponse
from playbooks_contracts.documents import DocumentTooLarge, check_text, check_tree, load_yaml
from playbooks_contracts.envelope import MAX_SOURCE_LENGTH, derived_id
from playbooks_contracts.messages import RunbookCompiled
from playbooks_contracts.topics import RUNBOOKS_COMPILED
from playbooks_platform import messages
from playbooks_platform.bus import Publisher
from playbooks_platform.errors import Invalid

from .llm import LlmConfig
from .pipeline import CompileResult, compile_document, compile_rules, dump_yaml
from .validate import check, errors

MESSAGE_TYPE = "runbook.compiled"


@dataclass(frozen=True)
class CompileJob:
    """What a worker hands back: bytes only (unpickling an object graph of a large runbook, and
    serialising it, held the event loop for long: docs/decisions/0005)."""

    response: bytes  # the CompileResponse JSON
    envelope: bytes | None  # the runbook.compiled message to publish, when asked


@dataclass(frozen=True)
class PublishAs:
    """Who publishes the compiled runbook, and under which id and version."""

    org_id: str
    source: str
    playbook_id: str | None
    version: str

    def __post_init__(self) -> None:
        # The source names the publisher, whom recommendation-agent's review reads back as the author
        # (four eyes): refused here, as a 422, rather than clipped into someone else's name or failed
        # in the worker as a 500.
        if len(self.source) > MAX_SOURCE_LENGTH:
            raise Invalid(
                f"the publisher {self.source[:40]!r}... is {len(self.source)} characters; a published "
                f"message names its publisher in at most {MAX_SOURCE_LENGTH}"
            )


def compile_job(
    *, markdown: str, name: str | None, source_name: str, llm: LlmConfig | None, publish: PublishAs | None
) -> CompileJob:
    """Compile one TSG (rules, or the LLM falling back to the rules), and when asked, the message
    that publishes it: run in a worker process, the LLM call included."""
    if llm is not None and llm.enabled:
        result = asyncio.run(compile_document(markdown, name=name, source_name=source_name, llm=llm))
    else:
        result = compile_rules(markdown, name=name, source_name=source_name)
    envelope, published = compiled_envelope(result, publish) if publish is not None else (None, None)
    response = to_response(result, published)
    message = messages.encode(envelope) if envelope is not None else None
    return CompileJob(response.__pydantic_serializer__.to_json(response), message)


def to_response(result: CompileResult, published: Published | None = None) -> CompileResponse:
    return CompileResponse(
        valid=result.valid,
        engine=result.engine,  # type: ignore[arg-type]
        runbook=result.runbook,
        runbook_yaml=dump_yaml(result.runbook),
        mapping_markdown=result.mapping_markdown,
        diagnostics=[Diagnostic(**d.to_dict()) for d in result.diagnostics],  # type: ignore[arg-type]
        stats=result.stats(),
        elapsed_ms=round(result.elapsed_ms, 3),
        published=published,
    )


def compiled_envelope(result: CompileResult, to: PublishAs) -> tuple[messages.Message, Published]:
    """The runbooks.compiled.v1 message of a valid compiled runbook (it becomes a pending_review
    playbook), and what the response says about it."""
    if not result.valid:
        first = "; ".join(str(p) for p in errors(result.problems)[:3])
        raise Invalid(f"the compiled runbook is not valid, so it was not published: {first}")
    name = result.runbook["meta"]["name"]
    pid = to.playbook_id or f"compiled-{derived_id(to.org_id, 'compiled-runbook', name).hex[:16]}"
    data = RunbookCompiled(
        playbook_id=pid,
        version=to.version,
        name=name,
        description=result.runbook["meta"].get("description", ""),
        runbook=result.runbook,
        mapping_markdown=result.mapping_markdown,
        source_name=result.mapping.source_name,
    )
    envelope = messages.new(
        id=derived_id(to.org_id, pid, to.version, "runbook.compiled"),
        type=MESSAGE_TYPE,
        org_id=to.org_id,
        source=to.source,
        data=data.model_dump(mode="json"),
    )
    published = Published(topic=RUNBOOKS_COMPILED.name, message_id=envelope["id"], playbook_id=pid, version=to.version)
    return envelope, published


async def publish_compiled(*, publisher: Publisher, org_id: str, job: CompileJob) -> None:
    """Publish the message a compile job prepared to runbooks.compiled.v1."""
    if job.envelope is not None:
        await publisher.publish(RUNBOOKS_COMPILED, job.envelope, key=org_id)


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


def validate_job(*, runbook_json: bytes | None, runbook_yaml: str | None, source: str | None) -> bytes:
    """:func:`validate_document`'s answer as JSON, in a worker process. Both ways travel as bytes:
    pickling a parsed document costs the event loop more, and recurses once per level."""
    runbook = orjson.loads(runbook_json) if runbook_json is not None else None
    response = validate_document(runbook=runbook, runbook_yaml=runbook_yaml, source=source)
    return response.__pydantic_serializer__.to_json(response)


def warm_up_worker() -> None:
    """What a worker runs once before its first job: a small compile and validation build the
    parsers, schema validators and caches that a first job would otherwise pay for."""
    compile_job(markdown="# Warm up\n\nRun `date`.\n", name=None, source_name="warm-up.md", llm=None, publish=None)
    validate_job(runbook_json=None, runbook_yaml="apiVersion: runbook/v0\n", source=None)


__all__ = [
    "MESSAGE_TYPE",
    "CompileJob",
    "PublishAs",
    "compile_job",
    "compiled_envelope",
    "dump_yaml",
    "publish_compiled",
    "to_response",
    "validate_document",
    "validate_job",
    "warm_up_worker",
]
