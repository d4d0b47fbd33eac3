"""The optional LLM path: its answers go through Stage C, and any failure falls back to the rules."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from compiler import compile_document, compile_rules
from compiler.llm import LlmConfig
from playbooks_dev.fake_llm import FakeChatCompletions

MD = "# Pods\n\nUse this.\n\n## Look\n\n```bash\nkubectl get pods -n <ns>\n```\n"


@pytest.fixture
def llm_server() -> Iterator[FakeChatCompletions]:
    with FakeChatCompletions() as server:
        yield server


async def test_garbage_answer_falls_back_to_the_rules(llm_server: FakeChatCompletions) -> None:
    llm_server.answer("I am a teapot <<<not json")
    result = await compile_document(MD, llm=LlmConfig(url=llm_server.url + "/v1", timeout_s=5))
    assert result.engine == "rules"
    assert result.runbook == compile_rules(MD).runbook
    assert result.valid
    assert result.diagnostics[0].code == "llm_fallback" and "not JSON" in result.diagnostics[0].message
    assert "not used" in result.mapping_markdown
    sent = llm_server.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    user = json.loads(sent["body"]["messages"][1]["content"])
    assert set(user) == {"tsg", "ir", "schema", "ontology", "governance_defaults"}


@pytest.mark.parametrize(
    ("status", "body"),
    [(500, b"{}"), (200, b"<html>"), (200, b'{"choices": []}')],
)
async def test_http_errors_and_non_completions_fall_back(
    llm_server: FakeChatCompletions, status: int, body: bytes
) -> None:
    llm_server.reply = lambda _: (status, body)
    result = await compile_document(MD, llm=LlmConfig(url=llm_server.url + "/v1", timeout_s=5))
    assert result.engine == "rules" and result.diagnostics[0].code == "llm_fallback"


async def test_unreachable_endpoint_falls_back() -> None:
    result = await compile_document(MD, llm=LlmConfig(url="http://127.0.0.1:9/v1", timeout_s=2))
    assert result.engine == "rules" and result.diagnostics[0].code == "llm_fallback"


async def test_llm_runbook_with_an_invented_command_is_rejected(llm_server: FakeChatCompletions) -> None:
    runbook = compile_rules(MD).runbook
    runbook["steps"][0]["with"]["argv"] = ["kubectl", "get", "secrets", "-A"]
    llm_server.answer(json.dumps({"runbook": runbook}))
    result = await compile_document(MD, llm=LlmConfig(url=llm_server.url + "/v1", timeout_s=5))
    assert result.engine == "rules"
    assert "provenance" in result.diagnostics[0].message


async def test_valid_llm_answer_is_used(llm_server: FakeChatCompletions) -> None:
    runbook = compile_rules(MD).runbook
    runbook["steps"][0]["title"] = "List the pods (from the LLM)"
    notes = {"steps": [{"step_id": runbook["steps"][0]["id"], "section": "Look"}], "todos": ["set ns"]}
    llm_server.answer("```json\n" + json.dumps({"runbook": runbook, "mapping": notes}) + "\n```")
    result = await compile_document(MD, llm=LlmConfig(url=llm_server.url + "/v1", timeout_s=5))
    assert result.engine == "llm" and result.valid
    assert result.runbook["steps"][0]["title"] == "List the pods (from the LLM)"
    assert result.mapping.steps[0].section.endswith("Look")
    assert "engine: llm" in result.mapping_markdown


async def test_llm_off_by_default() -> None:
    result = await compile_document(MD, llm=LlmConfig())
    assert result.engine == "rules" and not any(d.code == "llm_fallback" for d in result.diagnostics)
