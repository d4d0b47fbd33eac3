"""The compiler's API cannot be stalled or crashed by what a caller sends (issue 18, part 4).

Each hostile document is sent to the real service in-process while a loop of ``GET /healthz``
requests measures how long the event loop takes to answer: the worst of them stays under 100 ms,
whatever the document costs, because parsing, compiling and validating run in worker processes.
Each answer is either the check's result or a 4xx/503 problem+json that names the limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from healthz_probe import HEALTHZ_BOUND_S, healthz_watch  # tests/hostile is on sys.path (no __init__.py)
from typer.testing import CliRunner

from compiler import cli as compiler_cli
from playbooks_contracts.documents import MAX_DOCUMENT_CHARS, MAX_DOCUMENT_DEPTH, MAX_DOCUMENT_NODES
from playbooks_contracts.topics import RUNBOOKS_COMPILED
from playbooks_dev.testing import Infra, collect, running_service
from runbook_runtime import cli as runbook_cli


@pytest.fixture(scope="module")
async def compiler(infra: Infra) -> AsyncIterator[httpx.AsyncClient]:
    # A deadline of 8 s keeps each large document's window short; what it cuts off is a 422 naming it.
    async with running_service("compiler", infra, worker_deadline_s=8.0) as (client, _runtime, _app):
        await warm_up(client, infra)
        yield client


async def warm_up(client: httpx.AsyncClient, infra: Infra) -> None:
    """One request per route first: FastAPI builds a route's handling on its first request
    (1-2 s on a busy host), once per process, which is not what these tests measure."""
    auth = infra.auth("warm-up")
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.post("/api/validate", json={"runbook_yaml": "a: 1\n"}, headers=auth)).status_code == 200
    r = await client.post("/api/compile", json={"markdown": "# Warm\n\n`date`\n", "engine": "rules"}, headers=auth)
    assert r.status_code == 200, r.text


def assert_problem(r: httpx.Response, status: int, *words: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    for word in words:
        assert word in r.json()["detail"], r.json()["detail"]


def provenance_attack(parts: int, guide_bytes: int = 362) -> dict[str, Any]:
    """A runbook whose argv item has ``parts`` literal parts around templates, and a guide of
    ``guide_bytes`` that holds every part but the last: the chained ``.+?`` regex backtracked over
    every way to place them (4 parts: 31 s; 8 parts: days)."""
    head = "# Attack\n\n```\n"
    tail = "\n```\n"
    guide = head + "a" * (guide_bytes - len(head) - len(tail)) + tail
    assert len(guide.encode()) == guide_bytes
    item = "{{ .x }}".join(["a"] * (parts - 1) + ["b"])
    runbook = {
        "apiVersion": "runbook/v0",
        "meta": {"name": "attack", "vars": {"x": ""}, "governance": {"allowed_commands": ["kubectl"]}},
        "steps": [{"id": "s1", "type": "cli", "with": {"argv": ["kubectl", "get", item]}}],
    }
    return {"runbook": runbook, "source_markdown": guide}


@pytest.mark.parametrize("parts", [4, 8])
async def test_provenance_attack_is_linear(compiler, infra: Infra, org: str, parts: int) -> None:
    async with healthz_watch(compiler) as worst:
        r = await compiler.post("/api/validate", json=provenance_attack(parts), headers=infra.auth(org))
    assert r.status_code == 200, r.text
    problems = r.json()["problems"]
    assert ("provenance", "steps[0].with.argv[2]") in [(p["code"], p["location"]) for p in problems]
    assert worst[0] < HEALTHZ_BOUND_S, f"/healthz took {worst[0] * 1000:.0f} ms; {r.status_code} {r.text[:300]}"


def big_runbook_yaml(limit: int = 500_000) -> str:
    """A valid-looking runbook of just under ``limit`` characters (about 4,000 cli steps)."""
    head = "apiVersion: runbook/v0\nmeta:\n  name: big\n  governance:\n    allowed_commands: [kubectl]\nsteps:\n"
    step = "- id: s{i}\n  type: cli\n  with:\n    argv: [kubectl, get, pods, step-{i}-xxxxxxxxxxxxxxxxxxxxxxxxx]\n"
    parts, size, i = [head], len(head), 0
    while size + len(step.format(i=i)) < limit:
        parts.append(step.format(i=i))
        size += len(parts[-1])
        i += 1
    return "".join(parts)


async def test_500kb_runbook_yaml_is_checked_off_the_event_loop(compiler, infra: Infra, org: str) -> None:
    text = big_runbook_yaml()
    assert len(text) > 490_000
    async with healthz_watch(compiler) as worst:
        r = await compiler.post("/api/validate", json={"runbook_yaml": text}, headers=infra.auth(org))
    # Checked (2-6 s here), or cut off at the deadline on a loaded host: either way the service kept answering.
    if r.status_code == 200:
        assert "valid" in r.json()
    else:
        assert_problem(r, 422, "longer than the limit of 8 s")
    assert worst[0] < HEALTHZ_BOUND_S, f"/healthz took {worst[0] * 1000:.0f} ms; {r.status_code} {r.text[:300]}"


async def test_500kb_guide_compiles_off_the_event_loop(compiler, infra: Infra, org: str) -> None:
    section = "## Check {i}\n\n```bash\nkubectl get pods -n <ns> -l app=web-{i}\n```\n\nLook at the pods.\n\n"
    guide = "# Big guide\n\n" + "".join(section.format(i=i) for i in range(500_000 // len(section.format(i=999))))
    assert 450_000 < len(guide) < 512_000
    async with healthz_watch(compiler) as worst:
        r = await compiler.post("/api/compile", json={"markdown": guide, "engine": "rules"}, headers=infra.auth(org))
    # A guide this size compiles, or hits the deadline: either way the service kept answering.
    if r.status_code != 200:
        assert_problem(r, 422, "longer than the limit of 8 s")
    assert worst[0] < HEALTHZ_BOUND_S, f"/healthz took {worst[0] * 1000:.0f} ms; {r.status_code} {r.text[:300]}"


DEEP_YAML = {
    "block sequences": "- " * 20_000 + "x",
    "flow sequences": "[" * 20_000 + "]" * 20_000,
    "flow mappings": "{a: " * 20_000 + "}" * 20_000,
    "indented mappings": "".join(" " * i + "a:\n" for i in range(MAX_DOCUMENT_DEPTH + 1)) + "x: 1\n",
}


@pytest.mark.parametrize("name", list(DEEP_YAML))
async def test_deep_yaml_is_422_naming_the_limit(compiler, infra: Infra, org: str, name: str) -> None:
    async with healthz_watch(compiler) as worst:
        r = await compiler.post("/api/validate", json={"runbook_yaml": DEEP_YAML[name]}, headers=infra.auth(org))
    assert_problem(r, 422, f"limit of {MAX_DOCUMENT_DEPTH} levels")
    assert worst[0] < HEALTHZ_BOUND_S, f"/healthz took {worst[0] * 1000:.0f} ms; {r.status_code} {r.text[:300]}"


def billion_laughs() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 10) + "]")
    return "\n".join(lines) + "\n"


async def test_billion_laughs_and_recursive_aliases_are_refused(compiler, infra: Infra, org: str) -> None:
    async with healthz_watch(compiler) as worst:
        r = await compiler.post("/api/validate", json={"runbook_yaml": billion_laughs()}, headers=infra.auth(org))
        assert_problem(r, 422, f"{MAX_DOCUMENT_NODES} nodes")
        r = await compiler.post("/api/validate", json={"runbook_yaml": "a: &a [*a]\n"}, headers=infra.auth(org))
        assert_problem(r, 422, "recursive alias")
    assert worst[0] < HEALTHZ_BOUND_S, f"/healthz took {worst[0] * 1000:.0f} ms; {r.status_code} {r.text[:300]}"


async def test_deep_json_runbook_is_refused(compiler, infra: Infra, org: str) -> None:
    deep: dict[str, Any] = {}
    for _ in range(900):  # under the JSON parser's own ceiling: our limit names itself
        deep = {"a": deep}
    r = await compiler.post("/api/validate", json={"runbook": deep}, headers=infra.auth(org))
    assert_problem(r, 422, f"limit of {MAX_DOCUMENT_DEPTH} levels")
    body = '{"runbook": ' + '{"a": ' * 20_000 + "{}" + "}" * 20_000 + "}"
    r = await compiler.post(
        "/api/validate", content=body, headers=infra.auth(org) | {"content-type": "application/json"}
    )
    assert 400 <= r.status_code < 500, r.text  # the JSON parser's own ceiling, not a 500


async def test_a_job_past_the_deadline_is_killed_and_busy_workers_give_503(infra: Infra, org: str) -> None:
    # 1 s: far below what the 500 KB runbook needs (2 s or more), far above what the warm-up needs.
    settings = {"worker_processes": 1, "worker_deadline_s": 1.0, "worker_queue_wait_s": 0.0}
    async with running_service("compiler", infra, **settings) as (client, runtime, _app):
        await warm_up(client, infra)
        pool = runtime.state["workers"]
        slow = {"runbook_yaml": big_runbook_yaml()}
        async with healthz_watch(client) as worst:
            first, second = await asyncio.gather(
                client.post("/api/validate", json=slow, headers=infra.auth(org)),
                client.post("/api/validate", json=slow, headers=infra.auth(org)),
            )
        answers = sorted([first, second], key=lambda r: r.status_code)
        assert_problem(answers[0], 422, "longer than the limit of 1 s")
        assert_problem(answers[1], 503, "busy")
        assert int(answers[1].headers["Retry-After"]) >= 1
        assert worst[0] < HEALTHZ_BOUND_S, f"/healthz took {worst[0] * 1000:.0f} ms"
        # The killed worker is gone, not left running; a small document is answered by a new one.
        assert pool._idle == []
        r = await client.post(
            "/api/validate", json={"runbook_yaml": "apiVersion: runbook/v0\n"}, headers=infra.auth(org)
        )
        assert r.status_code == 200, r.text


# -- the CLI paths share the code and the limits ---------------------------------------------------


@pytest.mark.parametrize(
    "text, limit",
    [
        (DEEP_YAML["block sequences"], f"limit of {MAX_DOCUMENT_DEPTH} levels"),
        (DEEP_YAML["flow sequences"], f"limit of {MAX_DOCUMENT_DEPTH} levels"),
        (billion_laughs(), f"{MAX_DOCUMENT_NODES} nodes"),
        ("x" * (MAX_DOCUMENT_CHARS + 1), f"limit of {MAX_DOCUMENT_CHARS}"),
    ],
)
def test_runbook_validate_cli_has_the_same_limits(tmp_path: Path, text: str, limit: str) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    result = CliRunner().invoke(runbook_cli.app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert limit in " ".join(result.output.split()), result.output


def test_runbook_compile_cli_has_the_same_limits(tmp_path: Path) -> None:
    path = tmp_path / "huge.md"
    path.write_text("# Huge\n\n" + "word " * (MAX_DOCUMENT_CHARS // 5 + 1))
    result = CliRunner().invoke(compiler_cli.app, [str(path)])
    assert result.exit_code == 2, result.output
    assert f"limit of {MAX_DOCUMENT_CHARS}" in " ".join(result.output.split()), result.output


async def test_a_publisher_name_too_long_for_a_message_is_a_422_and_nothing_is_published(
    compiler: httpx.AsyncClient, infra: Infra, org: str
) -> None:
    """A token's subject becomes the published message's source, which recommendation-agent reads back as the
    author its four-eyes review compares against: one too long is refused up front, never clipped into another
    name nor failed in the worker as a 500."""
    long_user = "u" * 300
    body = {"markdown": "# Long name\n\n`date`\n", "engine": "rules", "publish": True, "version": "1.0.0"}
    r = await compiler.post("/api/compile", json=body, headers=infra.auth(org, user_id=long_user))
    assert r.status_code == 422, r.text
    assert "publisher" in r.json()["detail"] and "305 characters" in r.json()["detail"]  # "http:" + the subject
    assert (await compiler.post("/api/compile", json=body, headers=infra.auth(org))).status_code == 200
    [message] = await collect(infra.kafka_bootstrap, RUNBOOKS_COMPILED.name, where=lambda m: m.key == org)
    assert long_user not in message.value["source"]
