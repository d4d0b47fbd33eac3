"""The dedupe claim against a real PostgreSQL: which events of a batch are new, exactly."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from playbooks_dev.testing import Infra, running_service
from trigger_ingest.service import claim_new, purge_expired

TTL = timedelta(hours=1)


@pytest.fixture(scope="module")
async def database(infra: Infra):
    async with running_service("trigger-ingest", infra) as (_client, runtime, _app):
        yield runtime.database


def keys(org: str, ids: list[uuid.UUID]) -> dict[str, list]:
    return {"orgs": [org] * len(ids), "ids": ids}


async def test_all_new_all_seen_and_the_mixed_batch_in_between(database, org: str) -> None:
    seen, a, b = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with database.transaction() as session:
        assert await claim_new(session=session, **keys(org, [seen]), ttl=TTL) == [0]
    async with database.transaction() as session:
        assert await claim_new(session=session, **keys(org, [seen]), ttl=TTL) == []
    # Seen before, new, repeated within the batch, new, and the same id of another org: the
    # first occurrence of each new id, in order.
    mine, other = keys(org, [seen, a, seen, b, a, b]), keys(f"{org}-other", [seen])
    batch = {"orgs": mine["orgs"] + other["orgs"], "ids": mine["ids"] + other["ids"]}
    async with database.transaction() as session:
        assert await claim_new(session=session, **batch, ttl=TTL) == [1, 3, 6]
    async with database.transaction() as session:
        assert await claim_new(session=session, **batch, ttl=TTL) == []


async def test_a_batch_that_repeats_one_new_id(database, org: str) -> None:
    once = uuid.uuid4()
    async with database.transaction() as session:
        assert await claim_new(session=session, **keys(org, [once, once]), ttl=TTL) == [0]


async def test_a_rolled_back_claim_leaves_the_ids_new(database, org: str) -> None:
    ids = [uuid.uuid4(), uuid.uuid4()]
    with pytest.raises(RuntimeError, match="publish failed"):
        async with database.transaction() as session:
            assert await claim_new(session=session, **keys(org, ids), ttl=TTL) == [0, 1]
            raise RuntimeError("publish failed")
    async with database.transaction() as session:
        assert await claim_new(session=session, **keys(org, ids), ttl=TTL) == [0, 1]


async def test_inside_a_savepoint_a_mixed_batch_fails_rather_than_guess(database, org: str) -> None:
    seen, new = uuid.uuid4(), uuid.uuid4()
    async with database.transaction() as session:
        await claim_new(session=session, **keys(org, [seen]), ttl=TTL)
    async with database.transaction() as session, session.begin_nested():
        with pytest.raises(RuntimeError, match="savepoint"):
            await claim_new(session=session, **keys(org, [seen, new]), ttl=TTL)


async def test_expired_ids_are_purged_and_then_new_again(database, org: str) -> None:
    expired, live = uuid.uuid4(), uuid.uuid4()
    async with database.transaction() as session:
        await claim_new(session=session, **keys(org, [expired]), ttl=-TTL)
        await claim_new(session=session, **keys(org, [live]), ttl=TTL)
    async with database.transaction() as session:
        assert await purge_expired(session=session) >= 1
    async with database.transaction() as session:
        assert await claim_new(session=session, **keys(org, [expired, live]), ttl=TTL) == [0]
