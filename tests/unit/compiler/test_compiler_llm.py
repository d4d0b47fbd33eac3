"""The optional LLM path: its answers go through Stage C, and any failure falls back to the rules."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from compiler import compile_document, compile_rules
from compiler.llm import LlmConfig

MD = "# Pods\n\nUse this.\n\n## Look\n\n```bash\nkubectl get pods -n <ns>\n```\n"


class _Server:
    """A tiny OpenAI-compatible endpoint answering whatever the test sets."""

    def __init__(self) -> None:
        self.status = 200
        self.body: bytes = b""
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                outer.requests.append({"path": self.path, "body": json.loads(self.rfile.read(length))})
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def answer(self, content: str, status: int = 200) -> None:
        self.status = status
        self.body = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()


@pytest.fixture
def llm_server() -> Iterator[_Server]:
    server = _Server()
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


async def test_garbage_answer_falls_back_to_the_rules(llm_server: _Server) -> None:
    llm_server.answer("I am a teapot <<<not json")
    result = await compile_document(MD, llm=LlmConfig(url=llm_server.url, timeout_s=5))
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
async def test_http_errors_and_non_completions_fall_back(llm_server: _Server, status: int, body: bytes) -> None:
    llm_server.status, llm_server.body = status, body
    result = await compile_document(MD, llm=LlmConfig(url=llm_server.url, timeout_s=5))
    assert result.engine == "rules" and result.diagnostics[0].code == "llm_fallback"


async def test_unreachable_endpoint_falls_back() -> None:
    result = await compile_document(MD, llm=LlmConfig(url="http://127.0.0.1:9/v1", timeout_s=2))
    assert result.engine == "rules" and result.diagnostics[0].code == "llm_fallback"


async def test_llm_runbook_with_an_invented_command_is_rejected(llm_server: _Server) -> None:
    runbook = compile_rules(MD).runbook
    runbook["steps"][0]["with"]["argv"] = ["kubectl", "get", "secrets", "-A"]
    llm_server.answer(json.dumps({"runbook": runbook}))
    result = await compile_document(MD, llm=LlmConfig(url=llm_server.url, timeout_s=5))
    assert result.engine == "rules"
    assert "provenance" in result.diagnostics[0].message


async def test_valid_llm_answer_is_used(llm_server: _Server) -> None:
    runbook = compile_rules(MD).runbook
    runbook["steps"][0]["title"] = "List the pods (from the LLM)"
    notes = {"steps": [{"step_id": runbook["steps"][0]["id"], "section": "Look"}], "todos": ["set ns"]}
    llm_server.answer("```json\n" + json.dumps({"runbook": runbook, "mapping": notes}) + "\n```")
    result = await compile_document(MD, llm=LlmConfig(url=llm_server.url, timeout_s=5))
    assert result.engine == "llm" and result.valid
    assert result.runbook["steps"][0]["title"] == "List the pods (from the LLM)"
    assert result.mapping.steps[0].section.endswith("Look")
    assert "engine: llm" in result.mapping_markdown


async def test_llm_off_by_default() -> None:
    result = await compile_document(MD, llm=LlmConfig())
    assert result.engine == "rules" and not any(d.code == "llm_fallback" for d in result.diagnostics)
