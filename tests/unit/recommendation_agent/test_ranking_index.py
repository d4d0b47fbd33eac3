"""Ranking order and reasons; the two vector index implementations behave the same."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import numpy as np
import pytest

from playbooks_contracts.recommendation import SEARCHABLE_STATUSES
from recommendation_agent.intent import rules_intent
from recommendation_agent.library import library_by_key
from recommendation_agent.ranking import Candidate, rank, reason, stats_of, warnings
from recommendation_agent.search import _passes, payload_of
from recommendation_agent.vector_index import (
    LIBRARY,
    TENANTS,
    EdgeIndex,
    IndexFilter,
    IndexPoint,
    QdrantServerIndex,
    point_id,
)

NOW = datetime(2026, 11, 20, tzinfo=UTC)
QUERY = "Stop production RDS for weekend"


def doc(version: str = "1.0.0") -> dict:
    raw = copy.deepcopy(library_by_key()[("aws-rds-stop", "1.0.0")].raw)
    raw["metadata"]["version"] = version
    return raw


def cand(source: str, status: str = "active", version: str = "1.0.0", sim: float = 0.6, **kw) -> Candidate:
    return Candidate(source, f"{source}-rds-stop", version, status, sim, doc(version), **kw)


def order(cands: list[Candidate]) -> list[tuple[str, str, str]]:
    return [(c.source, c.status, c.version) for c in rank(cands, rules_intent(QUERY), QUERY, NOW)]


def test_source_precedence_tenant_library_ai():
    assert [s for s, _, _ in order([cand("ai_generated"), cand("library"), cand("tenant")])] == [
        "tenant",
        "library",
        "ai_generated",
    ]


def test_status_bonus_order():
    statuses = ["pending_review", "deprecated", "needs_update", "approved"]
    cands = [Candidate("tenant", f"p-{s}", "1.0.0", s, 0.6, doc()) for s in statuses]
    assert [s for _, s, _ in order(cands)] == ["approved", "needs_update", "deprecated", "pending_review"]


def test_success_record_and_newer_version_win_ties():
    good = cand("tenant", stats=stats_of(12, 0, 0, NOW))
    bad = Candidate("tenant", "other", "1.0.0", "active", 0.6, doc(), stats=stats_of(3, 9, 2, NOW))
    assert rank([bad, good], rules_intent(QUERY), QUERY, NOW)[0] is good
    old, new = cand("tenant", version="1.2.0"), cand("tenant", version="1.10.0")
    assert rank([old, new], rules_intent(QUERY), QUERY, NOW)[0] is new


def test_relevance_beats_status():
    relevant = cand("tenant", status="pending_review", sim=0.75)
    other = copy.deepcopy(library_by_key()[("k8s-cleanup-failed-pods", "1.0.0")].raw)
    irrelevant = Candidate("library", "k8s-cleanup-failed-pods", "1.0.0", "active", 0.2, other)
    assert rank([irrelevant, relevant], rules_intent(QUERY), QUERY, NOW)[0] is relevant


def test_reason_and_warnings_name_the_real_factors():
    intent = rules_intent(QUERY)
    c = cand("tenant", status="deprecated", stats=stats_of(2, 3, 3, NOW))
    rank([c], intent, QUERY, NOW)
    text = reason(c, intent)
    assert "your team's playbook" in text.lower() and "2/5 successful runs" in text and "does 'stop'" in text
    assert "on rds::instance" in text
    found = " ".join(warnings(c, intent))
    assert "Deprecated" in found and "Low success rate" in found and "last 3 run(s) failed" in found
    assert 0 <= c.confidence <= 1
    pending = cand("library", status="pending_review")
    rank([pending], intent, QUERY, NOW)
    assert any("Pending review" in w for w in warnings(pending, intent))


@pytest.fixture(params=["edge", "server-local"])
async def index(request, tmp_path):
    idx = EdgeIndex(tmp_path / "edge", 4) if request.param == "edge" else QdrantServerIndex(4, location=":memory:")
    await idx.ensure()
    yield idx
    await idx.close()


def _point(tenant: str, pid: str, vector: list[float], status: str = "active", provider: str = "aws") -> IndexPoint:
    payload = {
        "tenant": tenant,
        "playbook_id": pid,
        "version": "1.0.0",
        "status": status,
        "source": "tenant",
        "cloud_provider": [provider],
        "resource_types": ["rds::instance"],
        "content_hash": pid,
    }
    return IndexPoint(point_id(pid, "1.0.0", tenant), np.asarray(vector, dtype=np.float32), payload)


async def test_index_filters_by_tenant_status_and_provider(index):
    await index.upsert(
        TENANTS,
        [
            _point("a", "a-one", [1, 0, 0, 0]),
            _point("b", "b-one", [1, 0, 0, 0]),
            _point("a", "a-draft", [1, 0, 0, 0], status="draft"),
            _point("a", "a-gcp", [0.9, 0.1, 0, 0], provider="gcp"),
        ],
    )
    q = np.asarray([1, 0, 0, 0], dtype=np.float32)
    hits = await index.search(TENANTS, q, IndexFilter(tenant="a", statuses=["active"]), 10)
    assert {h.payload["playbook_id"] for h in hits} == {"a-one", "a-gcp"}
    hits = await index.search(TENANTS, q, IndexFilter(tenant="a", statuses=["active"], cloud_providers=["gcp"]), 10)
    assert [h.payload["playbook_id"] for h in hits] == ["a-gcp"]
    pid = point_id("a-one", "1.0.0", "a")
    await index.set_payload(TENANTS, [pid], {"status": "broken"})
    hits = await index.search(TENANTS, q, IndexFilter(tenant="a", statuses=["active"]), 10)
    assert [h.payload["playbook_id"] for h in hits] == ["a-gcp"]
    assert (await index.payloads(TENANTS, [pid]))[pid]["status"] == "broken"
    await index.delete(TENANTS, [pid])
    assert await index.payloads(TENANTS, [pid]) == {}
    assert await index.count(TENANTS) == 3 and await index.count(LIBRARY) == 0
    assert await index.count(TENANTS, IndexFilter(tenant="a")) == 2
    # Several searches of one vector in one call, each with its own tenant: the same hits as one by one.
    both = await index.search_batch(TENANTS, q, [(IndexFilter(tenant="a"), 10), (IndexFilter(tenant="b"), 10)])
    assert [[h.payload["tenant"] for h in hits] for hits in both] == [["a", "a"], ["b"]]
    for flt, hits in zip([IndexFilter(tenant="a"), IndexFilter(tenant="b")], both, strict=True):
        assert [(h.id, h.score) for h in hits] == [(h.id, h.score) for h in await index.search(TENANTS, q, flt, 10)]


def test_point_ids_are_uuid5_of_id_and_version():
    assert point_id("aws-rds-stop", "1.0.0") == point_id("aws-rds-stop", "1.0.0")
    assert point_id("aws-rds-stop", "1.0.0") != point_id("aws-rds-stop", "1.0.1")
    assert point_id("x", "1.0.0", "org-a") != point_id("x", "1.0.0", "org-b")


_meta = {p.key[0]: p.raw["metadata"] for p in library_by_key().values()}


async def test_in_memory_filter_agrees_with_the_index(index):
    """The fallback without vectors filters exactly as the index does (providers, resource types, category)."""
    library = list(library_by_key().values())
    rng = np.random.default_rng(7)
    points = []
    for i, p in enumerate(library):
        status = "draft" if i % 7 == 0 else "active"  # a few unsearchable ones
        payload = payload_of("t", "tenant", p.raw, status, str(i))
        points.append(IndexPoint(point_id(p.key[0], p.key[1], "t"), rng.normal(size=4).astype(np.float32), payload))
    await index.upsert(TENANTS, points)
    filters = [
        IndexFilter(statuses=SEARCHABLE_STATUSES),
        IndexFilter(statuses=SEARCHABLE_STATUSES, cloud_providers=["gcp"]),
        IndexFilter(statuses=SEARCHABLE_STATUSES, cloud_providers=["aws", "kubernetes"]),
        IndexFilter(statuses=SEARCHABLE_STATUSES, resource_types=["rds::instance", "azure::vm"]),
        IndexFilter(statuses=SEARCHABLE_STATUSES, category="security"),
        IndexFilter(statuses=SEARCHABLE_STATUSES, cloud_providers=["azure"], category="cost-optimization"),
    ]
    for flt in filters:
        flt.tenant = "t"
        hits = await index.search(TENANTS, np.ones(4, dtype=np.float32), flt, len(points))
        by_index = {h.payload["playbook_id"] for h in hits}
        in_memory = {
            pt.payload["playbook_id"]
            for pt in points
            if _passes(flt, _meta[pt.payload["playbook_id"]], pt.payload["status"])
        }
        assert by_index == in_memory and by_index, flt


def test_reason_without_semantic_search_claims_no_similarity():
    intent = rules_intent(QUERY)
    c = cand("library", sim=0.0)
    rank([c], intent, QUERY, NOW)
    text = reason(c, intent, semantic=False)
    assert "text similarity" not in text and "semantic search unavailable" in text
    assert f"keyword match {c.lexical:.2f}" in text and c.lexical > 0
    assert "text similarity 0.00" in reason(c, intent)
