"""The search's query-vector cache against the tenants that share it: one tenant's queries never answer another's
(a hit would tell it what the other searched for), a flood of distinct long queries stays within the bounds and
evicts the flooder's own entries, a cached answer is the uncached one, and no search stalls the event loop."""

from __future__ import annotations

import numpy as np
import pytest
from healthz_probe import HEALTHZ_BOUND_S, healthz_watch  # tests/hostile is on sys.path (no __init__.py)

from playbooks_dev.testing import Infra, running_service
from recommendation_agent.embeddings import QueryVectorCache

ENTRIES, PER_TENANT = 6, 3
QUERY = "stop production RDS for the weekend"


@pytest.fixture(scope="module")
async def agent(infra: Infra, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("query-cache")
    async with running_service(
        "recommendation-agent",
        infra,
        index_path=folder / "edge",
        embedding_cache_path=folder / "embeddings",
        query_cache_entries=ENTRIES,
        query_cache_per_tenant=PER_TENANT,
    ) as (client, runtime, _app):
        yield client, runtime


async def search(client, infra: Infra, org: str, query: str) -> dict:
    r = await client.post("/api/playbook/search", json={"query": query, "limit": 5}, headers=infra.auth(org))
    assert r.status_code == 200, r.text
    body = r.json()
    body.pop("took_ms")
    return body


async def test_a_tenant_never_finds_another_tenants_query(agent, infra: Infra, org: str):
    client, runtime = agent
    cache: QueryVectorCache = runtime.state["engine"].query_cache
    first = await search(client, infra, org, QUERY)
    hits, misses = cache.hits, cache.misses
    again = await search(client, infra, org, QUERY)
    assert (cache.hits, cache.misses) == (hits + 1, misses)
    assert again == first  # ranking, reasons, scores: the cached vector is the vector
    # What the model cannot tell apart is one entry (case and spacing), and answers the same.
    assert await search(client, infra, org, "  Stop PRODUCTION rds for the   Weekend ") == {
        **first,
        "query": "Stop PRODUCTION rds for the   Weekend",
    }
    assert cache.hits == hits + 2
    other = await search(client, infra, f"{org}-other", QUERY)
    assert (cache.hits, cache.misses) == (hits + 2, misses + 1)  # the same text, another tenant: its own miss
    assert other == first  # and the same answer (the library is all either of them has)


async def test_a_flood_of_distinct_long_queries_stays_bounded(agent, infra: Infra, org: str):
    client, runtime = agent
    cache: QueryVectorCache = runtime.state["engine"].query_cache
    bystander = f"{org}-bystander"
    await search(client, infra, bystander, QUERY)
    async with healthz_watch(client) as worst:
        for i in range(3 * PER_TENANT):
            # Distinct from their first words on (the model reads the first 256 tokens only), as long as allowed.
            text = f"{i} {'x' * i} " + " ".join(f"resize the rds database {i}-{n}" for n in range(40))
            await search(client, infra, org, text[:500])
    assert cache.entries_of(org) == PER_TENANT and len(cache) <= ENTRIES
    # Keys are the model's token ids, at most 256 of them whatever the text: bounded bytes per entry.
    keys = [k for entries in cache._tenants.values() for k in entries]
    assert keys and max(len(k) for k in keys) <= 512
    # The flood evicted the flooder's own entries, not the bystander's.
    hits = cache.hits
    await search(client, infra, bystander, QUERY)
    assert cache.hits == hits + 1
    print(f"worst /healthz during {3 * PER_TENANT} long searches: {worst[0] * 1000:.0f} ms")
    assert worst[0] < HEALTHZ_BOUND_S  # the forward passes run off the event loop


def test_bounds_hold_whatever_the_mix_of_tenants():
    cache = QueryVectorCache(max_entries=100, per_tenant=10)
    rng = np.random.default_rng(5)
    for i in range(5_000):
        tenant = f"org-{rng.integers(60)}"
        cache.put(tenant, f"query {i}".encode(), rng.normal(size=4).astype(np.float32))
        assert len(cache) <= 100 and cache.entries_of(tenant) <= 10
    assert len(cache) == sum(len(e) for e in cache._tenants.values()) == 100
    cache.put("org-a", b"same words", np.ones(4, dtype=np.float32))
    assert cache.get("org-b", b"same words") is None
    vector = cache.get("org-a", b"same words")
    assert vector is not None and not vector.flags.writeable  # no caller can change what another one reads
    off = QueryVectorCache(max_entries=0, per_tenant=0)
    off.put("org-a", b"k", np.ones(4, dtype=np.float32))
    assert len(off) == 0 and off.get("org-a", b"k") is None
