"""Optional Stage B over an OpenAI-compatible chat endpoint, under a fixed prompt contract.

Off unless a URL is configured. Whatever it answers goes through Stage C like the rules' output;
any failure (network, timeout, not JSON, not a runbook, an invented command) raises
:class:`LlmFailed` and the caller falls back to the rules. The exchange itself is :mod:`playbooks_platform.llm`.
"""

from __future__ import annotations

import json
from typing import Any

from playbooks_contracts.runbook import runbook_json_schema
from playbooks_platform.llm import LlmEndpoint, LlmFailed, chat_json

from . import ontology
from .ir import TsgIR

PROMPT_CONTRACT = """You compile a prose Markdown troubleshooting guide (TSG) into a governed runbook.
Inputs (JSON): the raw TSG, its extracted IR, the runbook JSON Schema, the command ontology, governance defaults.
Answer with ONE JSON object and nothing else: {"runbook": <runbook/v0 document>, "mapping": {"steps":
[{"step_id", "section", "why_manual"}], "todos": [...], "uncertainties": [...]}}.
Rules:
- The runbook must be valid against the schema (apiVersion "runbook/v0", meta, steps).
- If automation is unsafe or ambiguous, use type "manual". Only read-only commands of tools in the ontology may be
  "cli" steps; writes, deletes, restarts, scaling, failovers need a manual step with approvals {"min": 1}.
- Pipes, redirects, subshells, loops and heredocs are manual steps: argv never goes through a shell.
- Commands only when present in the TSG text; every argv token must come from the text or be a {{ .var }}.
- Never invent credentials, hosts, values or destructive commands.
- Uncertain values become meta.vars with an empty default and a TODO in mapping.todos.
- meta.governance.allowed_commands is exactly the set of argv[0] of the cli steps.
"""


# The compiler's LLM settings are the shared endpoint's (URL, model, key, timeout).
LlmConfig = LlmEndpoint


def _inputs(markdown: str, ir: TsgIR) -> dict[str, Any]:
    data = ontology.load()
    return {
        "tsg": markdown,
        "ir": ir.to_dict(),
        "schema": runbook_json_schema(),
        "ontology": data["tools"],
        "governance_defaults": {**data["governance_defaults"], "deny_commands": data["deny_commands"]},
    }


async def llm_compile(
    markdown: str, ir: TsgIR, *, config: LlmConfig, name: str | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(runbook document, mapping notes) from the LLM, or :class:`LlmFailed`."""
    answer = await chat_json(config, PROMPT_CONTRACT, json.dumps(_inputs(markdown, ir)))
    if not isinstance(answer, dict):
        raise LlmFailed("the answer is not a JSON object")
    runbook = answer.get("runbook")
    if not isinstance(runbook, dict):
        raise LlmFailed("the answer has no runbook object")
    if name and isinstance(runbook.get("meta"), dict):
        runbook["meta"]["name"] = name
    notes = answer.get("mapping") if isinstance(answer.get("mapping"), dict) else {}
    return runbook, notes  # type: ignore[return-value]
