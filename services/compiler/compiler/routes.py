"""HTTP API of the compiler: ``POST /api/compile`` and ``POST /api/validate``."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Response

from playbooks_contracts.compiler import CompileRequest, CompileResponse, ValidateRequest, ValidateResponse
from playbooks_contracts.documents import MAX_DOCUMENT_DEPTH
from playbooks_platform.errors import Invalid
from playbooks_platform.permissions import Reader, Writer
from playbooks_platform.service import RuntimeDep

from .process_pool import WorkerPool
from .service import PublishAs, compile_job, publish_compiled, validate_job
from .settings import SettingsDep

WORKERS = "workers"  # runtime.state key of the WorkerPool

router = APIRouter(prefix="/api", tags=["compiler"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid bearer token"},
    403: {"description": "The token lacks the permission the operation names (x-permission)"},
    422: {
        "description": "Invalid body, a document over a size or nesting limit or the processing deadline, "
        "or publish asked for a runbook that does not validate"
    },
    503: {"description": "Every compiler worker is busy; retry after the Retry-After seconds"},
}


@router.post("/compile", response_model=CompileResponse, responses=_RESPONSES)
async def compile_(body: CompileRequest, principal: Writer, runtime: RuntimeDep, settings: SettingsDep) -> Response:
    """Compile a Markdown TSG: the runbook, the mapping report and diagnostics; optionally publish it for review."""
    llm = settings.llm() if body.engine == "auto" else None
    publish = (
        PublishAs(principal.org_id, f"http:{principal.user_id}", body.playbook_id, body.version)
        if body.publish
        else None
    )
    pool: WorkerPool = runtime.state[WORKERS]
    # With an LLM, its call runs in the worker too, and the deadline allows for it.
    deadline = settings.worker_deadline_s + (2 * llm.timeout_s if llm is not None and llm.enabled else 0)
    job = await pool.run(
        compile_job,
        markdown=body.markdown,
        name=body.name,
        source_name=body.source_name,
        llm=llm,
        publish=publish,
        deadline_s=deadline,
    )
    await publish_compiled(publisher=runtime.publisher, org_id=principal.org_id, job=job)
    return Response(job.response, media_type="application/json")


@router.post("/validate", response_model=ValidateResponse, responses=_RESPONSES)
async def validate(body: ValidateRequest, principal: Reader, runtime: RuntimeDep) -> Response:
    """Validate a runbook (schema, governance, replay); with the source TSG, also that no command is invented."""
    pool: WorkerPool = runtime.state[WORKERS]
    try:
        runbook_json = orjson.dumps(body.runbook) if body.runbook is not None else None
    except orjson.JSONEncodeError:  # past orjson's 254 levels; the worker names the limit below that
        raise Invalid(f"runbook is nested deeper than the limit of {MAX_DOCUMENT_DEPTH} levels") from None
    answer = await pool.run(
        validate_job, runbook_json=runbook_json, runbook_yaml=body.runbook_yaml, source=body.source_markdown
    )
    return Response(answer, media_type="application/json")
