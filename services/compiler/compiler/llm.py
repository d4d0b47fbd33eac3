"""Optional Stage B over an OpenAI-compatible chat endpoint, under a fixed prompt contract.

Off unless a URL is configured. Whatever it answers goes through Stage C like the rules' output;
any failure (network, timeout, not JSON, not a runbook, an invented command) raises
:class:`LlmFailed` and the caller falls back to the rules.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import httpx

from playbooks_contracts.runbook import runbook_json_schema

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
- Braces of another tool's template (kubectl --template='{{range .items}}...') are written {{ "{{" }}: a literal
  {{ that is never a runbook var; a $x inside single quotes is never a var.
- Lines typed inside a session (after oc debug node/x, kubectl exec -it ... bash, ssh host, psql) go in ONE
  manual step: "In the session opened by <command>, run:" and every line, with approvals when any may write.
- Every instruction sentence of the guide becomes a manual step (a checklist item) or a TODO.
- Never invent credentials, hosts, values or destructive commands.
- Uncertain values become meta.vars with an empty default and a TODO in mapping.todos.
- meta.governance.allowed_commands is exactly the set of argv[0] of the cli steps.
"""


class LlmFailed(Exception):
    """The LLM could not give a usable answer; the rules take over."""


@dataclass(frozen=True)
class LlmConfig:
    url: str | None = None
    model: str = "gpt-4o-mini"
    api_key: str | None = None
    timeout_s: float = 30.0

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    @property
    def endpoint(self) -> str:
        url = (self.url or "").rstrip("/")
        return url if url.endswith("/chat/completions") else url + "/chat/completions"


def _inputs(markdown: str, ir: TsgIR) -> dict[str, Any]:
    data = ontology.load()
    return {
        "tsg": markdown,
        "ir": ir.to_dict(),
        "schema": runbook_json_schema(),
        "ontology": data["tools"],
        "governance_defaults": {**data["governance_defaults"], "deny_commands": data["deny_commands"]},
    }


def _json_object(content: str) -> dict[str, Any]:
    text = content.strip()
    fenced = re.search(r"```(?:json)?\s*(\{.*\})\s*```", text, re.S)
    if fenced:
        text = fenced.group(1)
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise LlmFailed(f"the answer is not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise LlmFailed("the answer is not a JSON object")
    return value


async def llm_compile(
    markdown: str, ir: TsgIR, *, config: LlmConfig, name: str | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(runbook document, mapping notes) from the LLM, or :class:`LlmFailed`."""
    body = {
        "model": config.model,
        "temperature": 0,
        "response_format": {"type": "json_object"},
        "messages": [
            {"role": "system", "content": PROMPT_CONTRACT},
            {"role": "user", "content": json.dumps(_inputs(markdown, ir))},
        ],
    }
    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    try:
        async with httpx.AsyncClient(timeout=config.timeout_s) as client:
            response = await client.post(config.endpoint, json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise LlmFailed(f"the endpoint did not answer ({type(exc).__name__}: {exc})") from None
    if response.status_code != 200:
        raise LlmFailed(f"the endpoint answered HTTP {response.status_code}")
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise LlmFailed("the answer is not an OpenAI-style chat completion") from None
    if not isinstance(content, str):
        raise LlmFailed("the completion has no text content")
    answer = _json_object(content)
    runbook = answer.get("runbook")
    if not isinstance(runbook, dict):
        raise LlmFailed("the answer has no runbook object")
    if name and isinstance(runbook.get("meta"), dict):
        runbook["meta"]["name"] = name
    notes = answer.get("mapping") if isinstance(answer.get("mapping"), dict) else {}
    return runbook, notes  # type: ignore[return-value]
