"""A slow or failing LLM and embeddings endpoint: search still answers from the rules, within its budget.

The upstream is a real local OpenAI-compatible server (``/v1/embeddings`` answered by the real MiniLM,
``/v1/chat/completions`` answered with the rules' intent) whose behaviour the tests switch.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from agent_review import publish_doc

from playbooks_dev.testing import Infra, running_service
from recommendation_agent.intent import rules_intent
from recommendation_agent.library import LIBRARY_TENANT
from recommendation_agent.vector_index import TENANTS, IndexFilter

SLOW_S = 5.0


class Upstream:
    """The switchable server: each endpoint is ``healthy``, ``failing`` (HTTP 500) or ``slow`` (sleeps 5 s)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.embeddings = "healthy"
        self.llm = "healthy"
        self.calls = {"embeddings": 0, "llm": 0}
        self.release = threading.Event()  # set at teardown so sleeping handlers end at once
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path == "/v1/embeddings":
                    kind, mode = "embeddings", upstream.embeddings
                elif self.path == "/v1/chat/completions":
                    kind, mode = "llm", upstream.llm
                else:
                    self._send(404, {"error": "no such path"})
                    return
                upstream.calls[kind] += 1
                if mode == "failing":
                    self._send(500, {"error": {"message": "upstream exploded"}})
                    return
                if mode == "slow":
                    upstream.release.wait(SLOW_S)
                self._send(200, upstream.embed(body) if kind == "embeddings" else upstream.chat(body))

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                out = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up on a slow answer, as it should

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def embed(self, body: dict[str, Any]) -> dict[str, Any]:
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        vectors = self.model.encode(texts)
        return {
            "object": "list",
            "model": body["model"],
            "data": [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)],
        }

    def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        query = body["messages"][-1]["content"]
        content = rules_intent(query).model_dump(exclude={"parser"})
        return {"choices": [{"index": 0, "message": {"role": "assistant", "content": json.dumps(content)}}]}

    def __enter__(self) -> Upstream:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
async def upstream(minilm):
    with Upstream(minilm) as server:
        yield server


@pytest.fixture(scope="module")
async def remote_agent(infra: Infra, upstream: Upstream, tmp_path_factory: pytest.TempPathFactory):
    """An agent whose embeddings and LLM are the switchable upstream (healthy while it starts and indexes)."""
    upstream.embeddings = upstream.llm = "healthy"
    overrides = {
        "index_path": tmp_path_factory.mktemp("edge-remote"),
        "embedding_cache_path": tmp_path_factory.mktemp("embeddings-remote"),
        "embeddings_url": upstream.url,
        "llm_url": upstream.url,
        "llm_timeout_s": 0.5,
        "embed_timeout_s": 0.5,
        "role": "api",
    }
    async with running_service("recommendation-agent", infra, **overrides) as (client, runtime, _app):
        yield client, runtime


@pytest.fixture
def modes(upstream: Upstream):
    """Each test sets the modes it needs; both are healthy again afterwards."""
    yield upstream
    upstream.embeddings = upstream.llm = "healthy"


async def search(client, infra: Infra, org: str, query: str, **body) -> tuple[dict, float]:
    started = time.perf_counter()
    r = await client.post("/api/playbook/search", json={"query": query, **body}, headers=infra.auth(org))
    elapsed = time.perf_counter() - started
    assert r.status_code == 200, r.text
    return r.json(), elapsed


async def publish(client, infra: Infra, org: str, doc: dict) -> None:
    await publish_doc(client, infra, org, doc)


def ids(data: dict) -> list[str]:
    return [r["playbook_id"] for r in data["results"]]


async def test_healthy_upstream_is_used_for_indexing_intent_and_search(remote_agent, modes, infra: Infra, org: str):
    client, runtime = remote_agent
    engine = runtime.state["engine"]
    library = IndexFilter(tenant=LIBRARY_TENANT)  # the library's points, in the tenant collection
    assert await engine.index.count(TENANTS, library) == len(engine.library)
    assert modes.calls["embeddings"] >= 1  # the library was embedded by the upstream at start-up
    before = dict(modes.calls)
    data, _ = await search(client, infra, org, "stop production RDS for the weekend", limit=3)
    # the LLM is asked twice: the intent (seed 002 STEP 1) and the ranking (STEP 3); this upstream answers the
    # ranking with an intent, which the validation refuses: the deterministic order stands
    assert modes.calls["embeddings"] == before["embeddings"] + 1 and modes.calls["llm"] == before["llm"] + 2
    assert data["degraded"] is None and data["intent"]["parser"] == "llm" and data["ranked_by"] == "rules"
    assert ids(data)[0] == "aws-rds-stop"
    assert data["results"][0]["similarity"] > 0.3 and "text similarity" in data["results"][0]["reason"]


async def test_failing_embeddings_rank_by_the_rules(remote_agent, modes, infra: Infra, org: str, make_doc):
    client, _ = remote_agent
    await publish(client, infra, org, make_doc("team-weekend-rds"))
    await publish(client, infra, org, make_doc("draft-rds", status="draft"))
    await publish(client, infra, f"{org}-other", make_doc("other-org-rds"))
    modes.embeddings = "failing"
    before = modes.calls["embeddings"]
    data, _ = await search(client, infra, org, "stop production RDS for the weekend", limit=5)
    assert modes.calls["embeddings"] == before + 1  # the upstream was asked and failed
    assert data["degraded"] == "semantic search unavailable (HTTPStatusError): ranked by keywords and intent only"
    assert data["intent"]["parser"] == "llm"  # the LLM is still healthy
    found = ids(data)
    # The tenant's own active version first, the library one next; drafts and other orgs never.
    assert found[:2] == ["team-weekend-rds", "aws-rds-stop"]
    assert "draft-rds" not in found and "other-org-rds" not in found
    for r in data["results"]:
        assert r["similarity"] == 0
        assert "text similarity" not in r["reason"] and "semantic search unavailable" in r["reason"]
        assert r["confidence"] <= 0.5  # no semantic evidence: at most half the confidence
    top = data["results"][0]
    assert "does 'stop'" in top["reason"] and top["scripts"]["shell"]["content"].startswith("#!/usr/bin/env bash")
    assert "Production: this playbook takes no snapshot" not in " ".join(top["warnings"])

    # Filters hold without vectors, as in the index.
    data, _ = await search(
        client, infra, org, "stop the virtual machines", limit=10, filters={"cloud_provider": ["gcp"]}
    )
    assert data["degraded"] and ids(data)[0] == "gcp-compute-stop"
    assert all("gcp" in r["metadata"]["cloud_provider"] for r in data["results"])
    data, _ = await search(client, infra, org, "stop rds", limit=10, filters={"sources": ["library"]})
    assert ids(data)[0] == "aws-rds-stop" and all(r["source"] == "library" for r in data["results"])
    # Nothing in the words or the intent matches: no result rather than arbitrary ones.
    data, _ = await search(client, infra, org, "zzqx flibbertigibbet")
    assert data["degraded"] and data["results"] == []


async def test_slow_embeddings_are_cut_at_the_timeout(remote_agent, modes, infra: Infra, org: str):
    client, _ = remote_agent
    modes.embeddings = "slow"
    data, elapsed = await search(client, infra, org, "stop production RDS for the weekend", limit=3)
    assert data["degraded"] == "semantic search unavailable (TimeoutError): ranked by keywords and intent only"
    assert "aws-rds-stop" in ids(data)[:3]
    assert elapsed < SLOW_S - 2  # bounded by embed_timeout_s (0.5 s), not by the upstream's 5 s
    modes.embeddings = "healthy"
    data, _ = await search(client, infra, org, "stop production RDS for the weekend", limit=3)
    assert data["degraded"] is None and ids(data)[0] == "aws-rds-stop"  # recovers on the next request


async def test_slow_llm_falls_back_to_the_rules_intent(remote_agent, modes, infra: Infra, org: str):
    client, _ = remote_agent
    modes.llm = "slow"
    data, elapsed = await search(client, infra, org, "stop production RDS for the weekend", limit=3)
    assert data["intent"]["parser"] == "rules" and data["intent"]["resource_types"] == ["rds::instance"]
    assert data["degraded"] is None and ids(data)[0] == "aws-rds-stop"
    assert elapsed < SLOW_S - 2
    modes.embeddings = "slow"  # both late at once: still an answer from the rules, still bounded
    # Asked by another tenant: this one's vector of these words is in the query cache since the search above.
    data, elapsed = await search(client, infra, f"{org}-b", "stop production RDS for the weekend", limit=3)
    assert data["intent"]["parser"] == "rules" and data["degraded"]
    assert "aws-rds-stop" in ids(data)[:3]
    assert elapsed < SLOW_S - 2
