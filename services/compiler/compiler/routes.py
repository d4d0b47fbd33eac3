"""HTTP API of the compiler: ``POST /api/compile`` and ``POST /api/validate``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from playbooks_contracts.compiler import CompileRequest, CompileResponse, ValidateRequest, ValidateResponse
from playbooks_platform.auth import CurrentPrincipal
from playbooks_platform.service import RuntimeDep

from .service import compile_tsg, publish_compiled, to_response, validate_document
from .settings import CompilerSettings
from .workers import WorkerPool

WORKERS = "workers"  # runtime.state key of the WorkerPool

router = APIRouter(prefix="/api", tags=["compiler"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid bearer token"},
    422: {
        "description": "Invalid body, a document over a size or nesting limit or the processing deadline, "
        "or publish asked for a runbook that does not validate"
    },
    503: {"description": "Every compiler worker is busy; retry after the Retry-After seconds"},
}


@router.post("/compile", response_model=CompileResponse, responses=_RESPONSES)
async def compile_(body: CompileRequest, principal: CurrentPrincipal, runtime: RuntimeDep) -> CompileResponse:
    """Compile a Markdown TSG: the runbook, the mapping report and diagnostics; optionally publish it for review."""
    settings: CompilerSettings = runtime.settings  # type: ignore[assignment]
    llm = settings.llm() if body.engine == "auto" else None
    pool: WorkerPool = runtime.state[WORKERS]
    result = await compile_tsg(
        markdown=body.markdown, name=body.name, source_name=body.source_name, llm=llm, offload=pool.run
    )
    published = None
    if body.publish:
        published = await publish_compiled(
            publisher=runtime.publisher,
            org_id=principal.org_id,
            result=result,
            playbook_id=body.playbook_id,
            version=body.version,
            source=f"http:{principal.user_id}",
        )
    return to_response(result, published)


@router.post("/validate", response_model=ValidateResponse, responses=_RESPONSES)
async def validate(body: ValidateRequest, principal: CurrentPrincipal, runtime: RuntimeDep) -> ValidateResponse:
    """Validate a runbook (schema, governance, replay); with the source TSG, also that no command is invented."""
    pool: WorkerPool = runtime.state[WORKERS]
    return await pool.run(
        validate_document, runbook=body.runbook, runbook_yaml=body.runbook_yaml, source=body.source_markdown
    )
