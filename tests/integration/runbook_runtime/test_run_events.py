"""GET /v1/runs/{id}/events on a real server: order and completeness across a reconnect, live wake-ups from
this process and from another replica, filters and pages of GET /v1/runs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from playbooks_dev.testing import Infra, running_service, serving


@pytest.fixture(scope="module")
async def rt(infra: Infra) -> AsyncIterator[tuple[httpx.AsyncClient, Any, str]]:
    service = running_service("runbook-runtime", infra, real_mode_commands=["echo"])
    async with service as (client, runtime, app), serving(app) as url:
        yield client, runtime, url


def gated(name: str = "gated") -> dict[str, Any]:
    """echo, a manual step waiting for a link, echo: a run that stops half-way until a person acts."""
    return {
        "apiVersion": "runbook/v0",
        "meta": {"name": name, "governance": {"allowed_commands": ["echo"]}},
        "steps": [
            {"id": "before", "type": "cli", "with": {"argv": ["echo", "one"]}},
            {
                "id": "confirm",
                "type": "manual",
                "title": "Check",
                "required_evidence": [{"kind": "text", "name": "link"}],
            },
            {"id": "after", "type": "cli", "with": {"argv": ["echo", "two"]}},
        ],
    }


class Stream:
    """The raw SSE wire, parsed as a browser's EventSource would (id, event, data; comments skipped)."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.aiter_lines()

    async def next(self) -> dict[str, Any]:
        event: dict[str, Any] = {}
        async for line in self.lines:
            if line == "":
                if "data" in event:
                    return event
                event = {}
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "data":
                event["data"] = json.loads(value)
            elif field in ("id", "event"):
                event[field] = value
        raise EOFError("the stream closed")

    async def until(self, kind: str, **match: Any) -> list[dict[str, Any]]:
        seen = []
        while True:
            e = await self.next()
            seen.append(e)
            if e.get("event") == kind and all(e["data"].get(k) == v for k, v in match.items()):
                return seen


async def start(client: httpx.AsyncClient, headers: dict[str, str], name: str = "gated") -> str:
    r = await client.post("/v1/runs", json={"runbook": gated(name), "mode": "real", "start": True}, headers=headers)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "waiting"
    return r.json()["run_id"]


async def finish(client: httpx.AsyncClient, run_id: str, headers: dict[str, str], approver: dict[str, str]) -> None:
    """The evidence, an approval by someone else (the org's floor asks one of a real run's manual step), continue."""
    r = await client.post(f"/v1/runs/{run_id}/evidence", json={"name": "link", "value": "https://x"}, headers=headers)
    assert r.status_code == 200, r.text
    r = await client.post(f"/v1/runs/{run_id}/approvals", json={}, headers=approver)
    assert r.status_code == 200, r.text
    r = await client.post(f"/v1/runs/{run_id}/continue", headers=headers)
    assert r.json()["run"]["status"] == "passed", r.text


def approver(infra: Infra, org: str) -> dict[str, str]:
    return infra.auth(org, user_id="alice", roles=["approver"])


def records(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if "id" in e]


async def test_reconnect_with_last_event_id_gets_exactly_the_rest_then_end(rt, infra: Infra, org: str) -> None:
    client, _, url = rt
    auth = infra.auth(org)
    run_id = await start(client, auth)
    async with httpx.AsyncClient(base_url=url, headers=auth, timeout=30) as sse:
        async with sse.stream("GET", f"/v1/runs/{run_id}/events") as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            stream = Stream(r)
            first = [await stream.next(), await stream.next()]  # read some, then drop the connection
        await finish(client, run_id, auth, approver(infra, org))
        last = first[-1]["id"]
        async with sse.stream("GET", f"/v1/runs/{run_id}/events", headers={"Last-Event-ID": last}) as r:
            stream = Stream(r)
            rest = await stream.until("end")
            with pytest.raises(EOFError):  # the server closes after end
                await stream.next()
    trace = (await client.get(f"/v1/runs/{run_id}/trace", headers=auth)).json()
    got = records(first) + records(rest)
    # every record once, in the trace's order, ids 0..n-1, each as /trace returns it, its kind as the event
    assert [int(e["id"]) for e in got] == list(range(len(trace)))
    assert [e["data"] for e in got] == trace
    assert [e["event"] for e in got] == [t["event"] for t in trace]
    tail = [e for e in rest if "id" not in e]
    assert tail[-2:] == [
        {"event": "status", "data": {"status": "passed", "current_step": None}},
        {"event": "end", "data": {"status": "passed"}},
    ]
    # ?after= resumes the same way; a stream of an ended run sends what is left and ends
    resume = f"/v1/runs/{run_id}/events?after={len(trace) - 2}"
    async with httpx.AsyncClient(base_url=url, headers=auth, timeout=30) as sse, sse.stream("GET", resume) as r:
        again = await Stream(r).until("end")
    assert [int(e["id"]) for e in records(again)] == [len(trace) - 1]


async def test_a_waiting_stream_wakes_when_the_run_moves_here_or_on_another_replica(rt, infra: Infra, org: str) -> None:
    client, _, url = rt
    auth = infra.auth(org)
    for replica in ("this process", "another replica"):
        run_id = await start(client, auth)
        async with (
            httpx.AsyncClient(base_url=url, headers=auth, timeout=30) as sse,
            sse.stream("GET", f"/v1/runs/{run_id}/events") as r,
        ):
            stream = Stream(r)
            waiting = await stream.until("status", status="waiting")
            assert waiting[-1]["data"] == {"status": "waiting", "current_step": "confirm"}
            if replica == "this process":
                await finish(client, run_id, auth, approver(infra, org))
            else:  # written by a second instance: only the poller can see it
                second = running_service("runbook-runtime", infra, real_mode_commands=["echo"], role="api")
                async with second as (other, _, _):
                    await finish(other, run_id, auth, approver(infra, org))
            rest = await stream.until("end")
        kinds = [e["event"] for e in rest]
        assert "evidence_submitted" in kinds and "run_finished" in kinds, replica
        assert kinds[-2:] == ["status", "end"] and rest[-1]["data"] == {"status": "passed"}
        ids = [int(e["id"]) for e in records(waiting + rest)]
        assert ids == list(range(len(ids))), replica


async def test_dry_run_stream_ends_at_once_and_bad_resume_ids_are_refused(rt, infra: Infra, org: str) -> None:
    client, _, url = rt
    auth = infra.auth(org)
    r = await client.post("/v1/runs", json={"runbook": gated(), "mode": "dry-run"}, headers=auth)
    run_id = r.json()["run_id"]
    async with httpx.AsyncClient(base_url=url, headers=auth, timeout=30) as sse:
        async with sse.stream("GET", f"/v1/runs/{run_id}/events") as resp:
            events = await Stream(resp).until("end")
        assert events[-1] == {"event": "end", "data": {"status": "planned"}}
        bad = await sse.get(f"/v1/runs/{run_id}/events", headers={"Last-Event-ID": "x1"})
        assert bad.status_code == 422 and "Last-Event-ID" in bad.json()["detail"]


async def test_run_list_filters_pages_and_counts(rt, infra: Infra, org: str) -> None:
    client, _, _ = rt
    auth = infra.auth(org)
    waiting = [await start(client, auth, name="alpha") for _ in range(3)]
    await finish(client, waiting[0], auth, approver(infra, org))
    r = await client.post("/v1/runs", json={"runbook": gated("beta"), "mode": "dry-run"}, headers=auth)
    assert r.status_code == 201

    page = (await client.get("/v1/runs", headers=auth)).json()
    assert page["count"] == 4 and len(page["items"]) == 4 and page["next_cursor"] is None
    assert [x["runbook_name"] for x in page["items"]] == ["beta", "alpha", "alpha", "alpha"]  # newest first

    def ids(p: dict[str, Any]) -> list[str]:
        return [x["run_id"] for x in p["items"]]

    only = (await client.get("/v1/runs", params={"status": "waiting"}, headers=auth)).json()
    assert only["count"] == 2 and set(ids(only)) == set(waiting[1:])
    both = (await client.get("/v1/runs", params=[("status", "waiting"), ("status", "passed")], headers=auth)).json()
    assert both["count"] == 3
    alpha = (await client.get("/v1/runs", params={"runbook": "alpha"}, headers=auth)).json()
    assert alpha["count"] == 3 and set(ids(alpha)) == set(waiting)
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await client.get("/v1/runs", params={"since": future}, headers=auth)).json()["count"] == 0
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert (await client.get("/v1/runs", params={"since": past}, headers=auth)).json()["count"] == 4

    # pages of 3 then 1: every run once, in order, the count the same on each page
    first = (await client.get("/v1/runs", params={"limit": 3}, headers=auth)).json()
    second = (await client.get("/v1/runs", params={"limit": 3, "cursor": first["next_cursor"]}, headers=auth)).json()
    assert first["count"] == second["count"] == 4 and second["next_cursor"] is None
    assert ids(first) + ids(second) == ids(page)

    bad = await client.get("/v1/runs", params={"cursor": "not-a-cursor"}, headers=auth)
    assert bad.status_code == 422 and "cursor" in bad.json()["detail"]
    assert (await client.get("/v1/runs", params={"status": "nonsense"}, headers=auth)).status_code == 422
    assert (await client.get("/v1/runs", params={"limit": 201}, headers=auth)).status_code == 422


async def test_streams_close_after_their_time_limit_and_resume(infra: Infra, org: str) -> None:
    async with running_service("runbook-runtime", infra, real_mode_commands=["echo"], event_stream_max_seconds=0.5) as (
        client,
        _,
        app,
    ):
        auth = infra.auth(org)
        run_id = await start(client, auth)
        async with serving(app) as url, httpx.AsyncClient(base_url=url, headers=auth, timeout=30) as sse:
            async with sse.stream("GET", f"/v1/runs/{run_id}/events") as r:
                stream = Stream(r)
                seen = await stream.until("status", status="waiting")
                with pytest.raises(EOFError):  # closed by the limit, with no end: the run is still waiting
                    await stream.next()
            await finish(client, run_id, auth, approver(infra, org))
            resume = {"Last-Event-ID": records(seen)[-1]["id"]}
            async with sse.stream("GET", f"/v1/runs/{run_id}/events", headers=resume) as r:
                rest = await Stream(r).until("end")
        ids = [int(e["id"]) for e in records(seen + rest)]
        assert ids == list(range(len(ids)))
