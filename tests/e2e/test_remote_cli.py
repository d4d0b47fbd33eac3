"""``playbooks`` remote commands against the real services (each on a real port, real PostgreSQL and broker).

Every subcommand once, as a person would use it, with its exit code; and the expected failures as one
line naming the service and carrying the API's own message: unreachable, 401, 403, 404, 422.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from playbooks_dev.embedded import free_port
from playbooks_dev.testing import Infra, running_service, serving
from playbooks_platform.cli import app
from playbooks_platform.remote.config import url_var

SERVICES = {
    "runbook-runtime": {"real_mode_commands": ["echo"]},
    "trigger-ingest": {},
    "condition-engine": {"role": "api"},
    "exception-playbook": {"role": "api"},
}

GATED = """
apiVersion: runbook/v0
meta:
  name: restart-cache
  vars: {target: cache-1}
  governance: {allowed_commands: [echo]}
steps:
  - {id: drain, type: cli, with: {argv: [echo, "draining {{ .target }}"]}}
  - id: confirm
    type: manual
    title: Confirm the cache is empty
    required_evidence:
      - {kind: text, name: link}
      - {kind: attachment, name: shot}
  - {id: restart, type: cli, with: {argv: [echo, restarted]}}
"""

PLAIN = """
apiVersion: runbook/v0
meta: {name: say-hi, governance: {allowed_commands: [echo]}}
steps:
  - {id: hi, type: cli, with: {argv: [echo, hi]}}
"""


@pytest.fixture(scope="module")
async def stack(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    """The five services the CLI talks to, each served on a port of its own."""
    from recommendation_agent.embeddings import load_minilm

    await asyncio.to_thread(load_minilm)
    urls: dict[str, str] = {}
    clients: dict[str, Any] = {}
    overrides = SERVICES | {
        "recommendation-agent": {
            "role": "api",
            "index_path": tmp_path_factory.mktemp("edge"),
            "embedding_cache_path": tmp_path_factory.mktemp("embeddings"),
        }
    }
    async with contextlib.AsyncExitStack() as stack:
        for name, settings in overrides.items():
            client, _runtime, svc_app = await stack.enter_async_context(running_service(name, infra, **settings))
            urls[name] = await stack.enter_async_context(serving(svc_app))
            clients[name] = client
        yield {"urls": urls, "clients": clients}


class Cli:
    """``playbooks`` invoked in-process (in a thread: the services answer on this test's event loop)."""

    def __init__(self, urls: dict[str, str], token: str, home: Path) -> None:
        self.env = {url_var(name): url for name, url in urls.items()} | {
            "PLAYBOOKS_TOKEN": token,
            "PLAYBOOKS_URL": "",
            "XDG_CONFIG_HOME": str(home),
            "COLUMNS": "250",
        }

    async def __call__(self, *args: str, input: str | None = None, **env: str) -> Any:
        result = await asyncio.to_thread(
            CliRunner().invoke, app, list(args), env=self.env | env, input=input, catch_exceptions=False
        )
        return result

    async def process(self, *args: str) -> tuple[int, str, str]:
        """``playbooks`` as a process of its own, for a command that runs beside another: CliRunner swaps
        the process-wide sys.stdout, so two in-process invocations at once capture each other's output."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from playbooks_platform.cli import app; app()",
            *args,
            env=os.environ | self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    async def json(self, *args: str, **kw: Any) -> Any:
        result = await self(*args, "--json", **kw)
        return result.exit_code, json.loads(result.stdout)


@pytest.fixture
def cli(stack: dict[str, Any], infra: Infra, org: str, tmp_path: Path) -> Cli:
    return Cli(stack["urls"], infra.token(org, user_id="rita", roles=["runner"]), tmp_path)


def one_line_error(result: Any, *words: str) -> None:
    """An expected failure: nothing on stdout, one line on stderr naming what failed, no traceback."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


async def test_runs_start_evidence_approve_tail_and_list(cli: Cli, infra: Infra, org: str, tmp_path: Path) -> None:
    runbook = tmp_path / "restart.yaml"
    runbook.write_text(GATED)
    code, run = await cli.json("runs", "start", str(runbook), "--mode", "real", "--var", "target=cache-9")
    assert code == 3 and run["status"] == "waiting" and run["current_step"] == "confirm"  # 3: waits for a person
    run_id = run["run_id"]

    shown = await cli("runs", "show", run_id)
    assert shown.exit_code == 3 and "waiting at confirm for: link, shot" in shown.stdout
    listed = await cli("runs", "list", "--status", "waiting")
    assert listed.exit_code == 0 and run_id in listed.stdout and "1 of 1 run(s)" in listed.stdout
    code, page = await cli.json("runs", "list", "--runbook", "restart-cache")
    assert code == 0 and page["count"] == 1 and page["items"][0]["vars"] == {"target": "cache-9"}

    done = await cli("runs", "evidence", run_id, "link", "--text", "https://dash/cache-9")
    assert done.exit_code == 0 and "still needs: shot" in done.stdout
    shot = tmp_path / "shot.png"
    shot.write_bytes(b"\x89PNG fake")
    done = await cli("runs", "evidence", run_id, "shot", "--file", str(shot))
    sha = hashlib.sha256(b"\x89PNG fake").hexdigest()
    assert done.exit_code == 0 and f"sha256 {sha}" in done.stdout

    # without the permission, or as the run's own requester: the service's reason, one line, exit 2
    own = await cli("runs", "approve", run_id)
    assert own.exit_code == 2
    one_line_error(own, "runbook-runtime: 403", "you need the permission 'approve'")
    rita_approver = infra.token(org, user_id="rita", roles=["runner", "approver"])
    own = await cli("runs", "approve", run_id, PLAYBOOKS_TOKEN=rita_approver)
    assert own.exit_code == 2
    one_line_error(own, "runbook-runtime: 403", "cannot approve")
    approver = infra.token(org, user_id="alice", roles=["approver"])
    approved = await cli("runs", "approve", run_id, PLAYBOOKS_TOKEN=approver)
    assert approved.exit_code == 0 and "approved; run" in approved.stdout

    # tail follows the run while another command moves it, to the end
    tail = asyncio.create_task(cli.process("runs", "tail", run_id))
    advanced = await cli("runs", "continue", run_id)
    assert advanced.exit_code == 0
    tail_code, tailed, tail_err = await tail
    assert tail_code == 0, tail_err
    lines = tailed.splitlines()
    assert lines[-1].strip() == "end: the run passed"
    assert any("step_result" in line and "drain passed" in line for line in lines)
    assert any("restart passed" in line for line in lines)
    again = await cli("runs", "tail", run_id, "--json")  # an ended run: its whole trace, one JSON event a line
    events = [json.loads(line) for line in again.stdout.splitlines()]
    assert again.exit_code == 0 and events[0]["event"] == "run_started" and events[0]["id"] == "0"
    assert events[-1] == {"id": None, "event": "end", "data": {"status": "passed"}}


async def test_runs_reject_cancel_dry_run_and_tail_on_start(cli: Cli, infra: Infra, org: str, tmp_path: Path) -> None:
    runbook = tmp_path / "restart.yaml"
    runbook.write_text(GATED)
    approver = infra.token(org, user_id="alice", roles=["approver"])

    _, run = await cli.json("runs", "start", str(runbook), "--mode", "real")
    rejected = await cli("runs", "reject", run["run_id"], "--reason", "not during the freeze", PLAYBOOKS_TOKEN=approver)
    assert rejected.exit_code == 0 and "is rejected" in rejected.stdout
    shown = await cli("runs", "show", run["run_id"])
    assert shown.exit_code == 1 and "ended by alice: not during the freeze" in shown.stdout

    _, run = await cli.json("runs", "start", str(runbook), "--mode", "real")
    kept = await cli("runs", "cancel", run["run_id"], input="n\n")  # asked, and declined: nothing happens
    assert kept.exit_code == 2 and (await cli.json("runs", "show", run["run_id"]))[1]["status"] == "waiting"
    cancelled = await cli("runs", "cancel", run["run_id"], "--yes", "--reason", "wrong cache")
    assert cancelled.exit_code == 0 and "is cancelled" in cancelled.stdout

    planned = await cli("runs", "start", str(runbook))  # dry-run by default
    assert planned.exit_code == 0 and "planned" in planned.stdout
    plain = tmp_path / "plain.yaml"
    plain.write_text(PLAIN)
    followed = await cli("runs", "start", str(plain), "--mode", "real", "--tail")
    assert followed.exit_code == 0 and followed.stdout.splitlines()[-1].strip() == "end: the run passed"


async def test_expected_errors_are_one_line_with_the_services_message(
    cli: Cli, infra: Infra, org: str, tmp_path: Path
) -> None:
    missing = await cli("runs", "show", "no-such-run")
    assert missing.exit_code == 2
    one_line_error(missing, "runbook-runtime: 404", "no run no-such-run in this org")

    runbook = tmp_path / "restart.yaml"
    runbook.write_text(GATED)
    viewer = infra.token(org, user_id="vic", roles=["viewer"])
    refused = await cli("runs", "start", str(runbook), "--mode", "real", PLAYBOOKS_TOKEN=viewer)
    assert refused.exit_code == 2
    one_line_error(refused, "runbook-runtime: 403", "permission 'operate'")

    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: runbook/v0\nmeta: {name: x}\nsteps: [{id: a, type: shell}]\n")
    invalid = await cli("runs", "start", str(bad))
    assert invalid.exit_code == 2
    one_line_error(invalid, "runbook-runtime: 422", "invalid runbook")

    forged = await cli("runs", "list", PLAYBOOKS_TOKEN="not-a-token")
    assert forged.exit_code == 2
    one_line_error(forged, "runbook-runtime: 401")

    dead = f"http://127.0.0.1:{free_port()}"
    for args, service in (
        (["runs", "list"], "runbook-runtime"),
        (["exceptions", "list"], "exception-playbook"),
        (["search", "restart a database"], "recommendation-agent"),
    ):
        gone = await cli(*args, **{url_var(service): dead})
        assert gone.exit_code == 4, gone.output
        one_line_error(gone, f"{service} is unreachable at {dead}")

    nothing = await cli("runs", "list", PLAYBOOKS_TOKEN="", XDG_CONFIG_HOME=str(tmp_path / "empty"))
    assert nothing.exit_code == 2
    one_line_error(nothing, "no token", "playbooks login")


async def test_login_keeps_the_token_for_its_owner_only(cli: Cli, infra: Infra, org: str, tmp_path: Path) -> None:
    token = infra.token(org, user_id="lou", roles=["viewer"])
    home = tmp_path / "config"
    signed = await cli("login", "--token", token, PLAYBOOKS_TOKEN="", XDG_CONFIG_HOME=str(home))
    assert signed.exit_code == 0 and f"signed in as lou of {org}" in signed.stdout
    path = home / "playbooks" / "token"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and path.read_text().strip() == token
    listed = await cli("runs", "list", "--json", PLAYBOOKS_TOKEN="", XDG_CONFIG_HOME=str(home))
    assert listed.exit_code == 0 and json.loads(listed.stdout)["count"] == 0
    out = await cli("logout", PLAYBOOKS_TOKEN="", XDG_CONFIG_HOME=str(home))
    assert out.exit_code == 0 and not path.exists()


async def test_events_send_from_a_file_and_stdin(cli: Cli, infra: Infra, org: str, tmp_path: Path) -> None:
    publisher = infra.token(org, user_id="crm", roles=["publisher"])
    lines = tmp_path / "events.jsonl"
    lines.write_text(
        "\n".join(json.dumps({"activity": {"type": "contract_signed", "doc_id": f"d-{i}"}}) for i in range(3)) + "\n"
    )
    sent = await cli("events", "send", str(lines), "--trigger", "activity_event", PLAYBOOKS_TOKEN=publisher)
    assert sent.exit_code == 0 and "3 event(s) accepted, 0 duplicate(s)" in sent.stdout
    batch = {"events": [{"trigger": "activity_event", "activity": {"type": "noted"}}]}
    code, answer = await cli.json("events", "send", "-", input=json.dumps(batch), PLAYBOOKS_TOKEN=publisher)
    assert code == 0 and answer["accepted"] == 1 and len(answer["events"]) == 1
    untyped = await cli("events", "send", str(lines), PLAYBOOKS_TOKEN=publisher)
    assert untyped.exit_code == 2
    one_line_error(untyped, "event 1 names no trigger")
    wrong = await cli("events", "send", "-", input='{"trigger": "activity_event"}', PLAYBOOKS_TOKEN=publisher)
    assert wrong.exit_code == 2
    one_line_error(wrong, "trigger-ingest: 422")


async def test_playbooks_list_and_dry_run(cli: Cli, stack: dict[str, Any], infra: Infra, org: str) -> None:
    body = {
        "name": "Signed -> note",
        "status": "active",
        "trigger": "activity_event",
        "conditions": [{"field": "activity.type", "op": "equals", "value": "contract_signed"}],
        "actions": [{"type": "log_activity", "params": {"type": "noted"}}],
    }
    r = await stack["clients"]["condition-engine"].post("/api/playbooks", json=body, headers=infra.auth(org))
    assert r.status_code == 201, r.text
    playbook_id = r.json()["id"]
    listed = await cli("playbooks", "list")
    assert listed.exit_code == 0 and "Signed -> note" in listed.stdout and playbook_id in listed.stdout
    sample = await cli("playbooks", "dry-run", playbook_id)
    assert sample.exit_code == 0 and "would run" in sample.stdout
    code, answer = await cli.json(
        "playbooks", "dry-run", playbook_id, "--event", "-", input='{"activity": {"type": "x"}}'
    )
    assert code == 0 and answer["wouldRun"] is False and answer["reason"]  # --json: the service's own answer
    nope = await cli("playbooks", "dry-run", "00000000-0000-0000-0000-000000000000")
    assert nope.exit_code == 2
    one_line_error(nope, "condition-engine: 404")


async def test_exceptions_list_show_and_complete_step(cli: Cli, stack: dict[str, Any], infra: Infra, org: str) -> None:
    client = stack["clients"]["exception-playbook"]
    auth = infra.auth(org)
    playbook = {
        "name": "Settlement failure",
        "conditions": {"match": {"domain": "Finance"}, "priority": 100},
        "steps": [
            {"name": "Take it", "action_type": "assign_owner", "params": {"queue": "settlements"}},
            {"name": "Note it", "action_type": "add_comment", "params": {"text_template": "looked"}},
        ],
    }
    assert (await client.post("/api/playbooks", json=playbook, headers=auth)).status_code == 201
    exc = {"domain": "Finance", "exception_type": "Settlement", "severity": "high", "external_id": "up-7"}
    r = await client.post("/api/exceptions", json=exc, headers=auth)
    assert r.status_code == 201, r.text
    listed = await cli("exceptions", "list", "--status", "open")
    assert listed.exit_code == 0 and "up-7" in listed.stdout and "Finance/Settlement" in listed.stdout
    assert "1 of 1 exception(s)" in listed.stdout
    shown = await cli("exceptions", "show", "up-7")
    assert shown.exit_code == 0 and "Settlement failure v1" in shown.stdout and "> 1" in shown.stdout
    done = await cli("exceptions", "complete-step", "up-7", "1", "--notes", "mine")
    assert done.exit_code == 0 and "> 2" in done.stdout and "human:rita" in done.stdout
    code, view = await cli.json("exceptions", "show", "up-7")
    assert code == 0 and [s["status"] for s in view["playbook"]["steps"]] == ["completed", "pending"]
    twice = await cli("exceptions", "complete-step", "up-7", "1")
    assert twice.exit_code == 2
    one_line_error(twice, "exception-playbook: 409")


async def test_search_in_words(cli: Cli) -> None:
    found = await cli("search", "restart a kubernetes deployment")
    assert found.exit_code == 0 and "Results for 'restart a kubernetes deployment'" in found.stdout
    code, answer = await cli.json("search", "restart a kubernetes deployment", "--limit", "3")
    assert code == 0 and 1 <= len(answer["results"]) <= 3
    short = await cli("search", "x")
    assert short.exit_code == 2
    one_line_error(short, "recommendation-agent: 422")


async def test_tail_reconnects_with_last_event_id_when_the_server_closes_the_stream(
    infra: Infra, org: str, tmp_path: Path
) -> None:
    """A runtime closing every stream after 0.3 s: tail reconnects each time, and shows every record once."""
    settings = {"real_mode_commands": ["echo"], "event_stream_max_seconds": 0.3}
    async with running_service("runbook-runtime", infra, **settings) as (client, _, svc_app), serving(svc_app) as url:
        cli = Cli({"runbook-runtime": url}, infra.token(org, user_id="rita", roles=["runner"]), tmp_path)
        runbook = tmp_path / "restart.yaml"
        runbook.write_text(GATED)
        _, run = await cli.json("runs", "start", str(runbook), "--mode", "real")
        run_id = run["run_id"]
        tail = asyncio.create_task(cli("runs", "tail", run_id, "--json"))
        await asyncio.sleep(1.5)  # the stream is closed and reopened several times meanwhile
        auth = infra.auth(org, user_id="rita", roles=["runner"])
        await client.post(f"/v1/runs/{run_id}/evidence", json={"name": "link", "value": "https://x"}, headers=auth)
        shot = {"name": "shot", "filename": "s.png", "content_base64": "cG5n"}
        await client.post(f"/v1/runs/{run_id}/evidence", json=shot, headers=auth)
        approver = infra.auth(org, user_id="alice", roles=["approver"])
        assert (await client.post(f"/v1/runs/{run_id}/approvals", json={}, headers=approver)).status_code == 200
        assert (await client.post(f"/v1/runs/{run_id}/continue", headers=auth)).json()["run"]["status"] == "passed"
        tailed = await tail
        trace = (await client.get(f"/v1/runs/{run_id}/trace", headers=auth)).json()
    assert tailed.exit_code == 0, tailed.output
    events = [json.loads(line) for line in tailed.stdout.splitlines()]
    records = [e for e in events if e["id"] is not None]
    assert [int(e["id"]) for e in records] == list(range(len(trace)))
    assert [e["data"] for e in records] == trace
    # a status line per connection (each reconnect says where the run is), and one end
    assert sum(e["event"] == "status" for e in events) >= 3 and events[-1]["event"] == "end"
