"""HTTP API of the compiler: ``POST /api/compile`` and ``POST /api/validate``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from playbooks_contracts.compiler import CompileRequest, CompileResponse, ValidateRequest, ValidateResponse
from playbooks_platform.permissions import Reader, Writer
from playbooks_platform.service import RuntimeDep

from .service import compile_tsg, publish_compiled, to_response, validate_document
from .settings import CompilerSettings

router = APIRouter(prefix="/api", tags=["compiler"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid bearer token"},
    403: {"description": "The token lacks the permission the operation names (x-permission)"},
    422: {"description": "Invalid body, or publish asked for a runbook that does not validate"},
}


@router.post("/compile", response_model=CompileResponse, responses=_RESPONSES)
async def compile_(body: CompileRequest, principal: Writer, runtime: RuntimeDep) -> CompileResponse:
    """Compile a Markdown TSG: the runbook, the mapping report and diagnostics; optionally publish it for review."""
    settings: CompilerSettings = runtime.settings  # type: ignore[assignment]
    llm = settings.llm() if body.engine == "auto" else None
    result = await compile_tsg(markdown=body.markdown, name=body.name, source_name=body.source_name, llm=llm)
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
async def validate(body: ValidateRequest, principal: Reader) -> ValidateResponse:
    """Validate a runbook (schema, governance, replay); with the source TSG, also that no command is invented."""
    return validate_document(runbook=body.runbook, runbook_yaml=body.runbook_yaml, source=body.source_markdown)
