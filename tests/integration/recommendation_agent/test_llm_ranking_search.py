"""Seed 002's STEP 3 through the service: with PLAYBOOKS_LLM_URL the LLM orders the results (validated), and any
failure of its answer leaves the deterministic order, marked ``ranked_by: rules``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from playbooks_dev.fake_llm import FakeChatCompletions
from playbooks_dev.testing import Infra, running_service
from recommendation_agent.intent import rules_intent

QUERY = "stop idle dev EC2 instances over the weekend"


class Upstream(FakeChatCompletions):
    """Answers the intent prompt with the rules' intent, and the ranking prompt with ``self.ranking``."""

    def __init__(self) -> None:
        super().__init__()
        self.ranking: Any = None
        self.answer_with(self._content)

    def _content(self, body: dict[str, Any]) -> Any:
        system, user = body["messages"][0]["content"], body["messages"][1]["content"]
        if "Rank the candidate playbooks" in system:
            offered = json.loads(user)["candidates"]
            return self.ranking(offered) if callable(self.ranking) else "nonsense"
        return rules_intent(user).model_dump(exclude={"parser"})


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    with Upstream() as up:
        yield up


@pytest.fixture(scope="module")
async def llm_agent(infra: Infra, minilm, embedding_cache, upstream: Upstream, tmp_path_factory):
    overrides = {
        "index_path": tmp_path_factory.mktemp("edge-llm"),
        "embedding_cache_path": embedding_cache,
        "llm_url": upstream.url,
        "llm_timeout_s": 5.0,
        "role": "api",
    }
    async with running_service("recommendation-agent", infra, **overrides) as (client, _runtime, _app):
        yield client


async def search(client, infra: Infra, org: str) -> dict:
    r = await client.post("/api/playbook/search", json={"query": QUERY, "limit": 5}, headers=infra.auth(org))
    assert r.status_code == 200, r.text
    return r.json()


async def test_the_llm_orders_the_results_and_its_words_stay_apart(llm_agent, upstream: Upstream, infra, org):
    def second_first(offered: list[dict[str, Any]]) -> dict[str, Any]:
        strong = [c for c in offered if c["match"] == "strong"]
        picks = [strong[1], strong[0]]
        return {"ranking": [{"id": c["id"], "confidence": 0.8, "reason": f"{c['name']} fits."} for c in picks]}

    upstream.ranking = None
    baseline = await search(llm_agent, infra, org)
    assert baseline["ranked_by"] == "rules" and baseline["intent"]["parser"] == "llm"
    upstream.ranking = second_first
    data = await search(llm_agent, infra, org)
    assert data["ranked_by"] == "llm"
    first, second = data["results"][0], data["results"][1]
    assert [first["playbook_id"], second["playbook_id"]] == [r["playbook_id"] for r in baseline["results"][1::-1]]
    assert first["rank"] == 1 and first["confidence"] == 0.8
    assert first["assessment"] == f"{first['name']} fits." and first["assessment"] not in first["reason"]
    assert baseline["results"][0]["reason"] == second["reason"]  # the facts do not change with the order
    assert all(r["assessment"] is None for r in data["results"][2:])


async def test_an_answer_naming_foreign_ids_leaves_the_rules_order(llm_agent, upstream: Upstream, infra, org):
    upstream.ranking = lambda offered: {"ranking": [{"id": "aws-ec2-start-by-tag", "confidence": 1, "reason": "x"}]}
    data = await search(llm_agent, infra, org)
    assert data["ranked_by"] == "rules" and data["results"][0]["playbook_id"] == "aws-ec2-stop-idle"
    assert all(r["assessment"] is None for r in data["results"])
