"""The tests never collide with `make dev`: with a dev-like recommendation-agent holding its Qdrant Edge folder
(``.data/qdrant-edge`` of the folder the tests run in, as `playbooks dev` does with the default data folder),
the poison test and an agent process of the fault tests still pass, and leave the dev stack's files alone.

This once failed with "Can't init WAL: WouldBlock": services the tests started in-process used the default
``.data`` relative to the working folder, the one `make dev` uses. The dev-like stack here has its own
database and its own embedded broker, as `make dev` does; the tests use theirs (ports and consumer groups
are free or fresh per test, so only the files could meet).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from test_poison import test_poison_is_dead_lettered_and_the_partition_flows as poison_scenario

from playbooks_dev.testing import Infra, ServiceProcess, start_infra

SERVICE = "recommendation-agent"


def tree(folder: Path) -> set[str]:
    """The dev stack's file names, down to its Edge index's top level (the index changes its own files)."""
    return {p.relative_to(folder).as_posix() for p in folder.glob("*")} | {
        p.relative_to(folder).as_posix() for p in (folder / ".data").glob("*")
    }


@pytest.fixture
async def dev_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Path, ServiceProcess]]:
    """recommendation-agent as `playbooks dev` runs it (its data in ./.data, the default consumer groups),
    on a database and broker of its own; the test then works from the same folder."""
    folder = tmp_path / "checkout"
    folder.mkdir()
    (tmp_path / "dev-infra").mkdir()
    with monkeypatch.context() as env:
        env.delenv("PLAYBOOKS_KAFKA_BOOTSTRAP", raising=False)  # `make dev` starts its own broker
        dev_infra = await asyncio.to_thread(start_infra, tmp_path / "dev-infra")
    dev = ServiceProcess(
        SERVICE,
        dev_infra,
        tmp_path,
        PLAYBOOKS_DATA_DIR=str(folder / ".data"),
        PLAYBOOKS_CONSUMER_GROUP_PREFIX="",
        PLAYBOOKS_ENV="dev",
    )
    try:
        await dev.start()
        await dev.ready(timeout=180)
        assert (folder / ".data" / "qdrant-edge").is_dir(), "the dev-like agent holds its Edge index"
        monkeypatch.chdir(folder)
        yield folder, dev
    finally:
        dev.stop()
        await asyncio.to_thread(dev_infra.close)


async def test_the_tests_pass_beside_a_running_dev_stack(dev_stack, infra: Infra, tmp_path: Path) -> None:
    folder, dev = dev_stack
    before = tree(folder)
    assert Path.cwd() == folder and Path(".data/qdrant-edge").resolve().is_dir()

    # The test that collided: recommendation-agent in-process, its poison dead-lettered on the tests' broker.
    await poison_scenario(infra, SERVICE)
    # A fault-test style agent process (own port, own consumer groups, own files) starts and serves.
    process = ServiceProcess(SERVICE, infra, tmp_path)
    try:
        await process.start()
        await process.ready(timeout=180)
    finally:
        process.stop()

    # The dev stack is still up and its folder holds only what it wrote itself.
    async with httpx.AsyncClient(base_url=dev.url, timeout=5) as client:
        assert (await client.get("/readyz")).status_code == 200
    assert dev.proc is not None and dev.proc.poll() is None
    assert tree(folder) == before, sorted(tree(folder) ^ before)
    assert os.listdir(folder) == [".data"]
