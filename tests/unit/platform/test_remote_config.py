"""The remote CLI's pieces that need no service: where each service is, the kept token, the SSE parser."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from playbooks_platform.remote import config
from playbooks_platform.remote.commands import _events_from, run_exit
from playbooks_platform.remote.sse import parse


def test_a_service_own_url_wins_then_the_gateway_base_then_the_dev_port() -> None:
    assert config.service_url("runbook-runtime", {}) == "http://127.0.0.1:8005"
    gateway = {"PLAYBOOKS_URL": "https://ops.example.com/"}
    assert config.service_url("condition-engine", gateway) == "https://ops.example.com/condition-engine"
    own = gateway | {"PLAYBOOKS_CONDITION_ENGINE_URL": "http://ce:8002/"}
    assert config.service_url("condition-engine", own) == "http://ce:8002"
    assert config.service_url("exception-playbook", own) == "https://ops.example.com/exception-playbook"


def test_the_kept_token_is_its_owners_only_and_the_environment_wins(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    path = config.save_token(" abc \n", env)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert config.load_token(env) == "abc"
    assert config.load_token(env | {"PLAYBOOKS_TOKEN": "from-env"}) == "from-env"
    path.chmod(0o644)
    config.save_token("again", env)  # an older, wider file is narrowed again
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert config.forget_token(env) and config.load_token(env) is None


def test_sse_parser_reads_what_an_event_source_reads() -> None:
    wire = [
        "retry: 2000",
        "",
        ": keepalive",
        "id: 0",
        "event: run_started",
        'data: {"event": "run_started"}',
        "",
        "event: status",
        'data: {"status": "waiting",',
        'data:  "current_step": "confirm"}',
        "",
        "data: plain text",
        "",
    ]
    events = list(parse(wire))
    assert [(e.id, e.event, e.data) for e in events] == [
        ("0", "run_started", {"event": "run_started"}),
        (None, "status", {"status": "waiting", "current_step": "confirm"}),
        (None, "message", "plain text"),
    ]


def test_events_come_as_an_object_an_array_a_batch_or_json_lines() -> None:
    one = _events_from('{"activity": {"type": "a"}}', "activity_event")
    assert one == [{"trigger": "activity_event", "activity": {"type": "a"}}]
    lines = _events_from('{"trigger": "exception", "x": 1}\n\n{"y": 2}\n', "activity_event")
    assert [e["trigger"] for e in lines] == ["exception", "activity_event"]
    assert len(_events_from('{"events": [{"trigger": "t"}, {"trigger": "t"}]}', None)) == 2
    assert len(_events_from('[{"trigger": "t"}]', None)) == 1


def test_exit_codes_follow_the_runs_status() -> None:
    assert [run_exit(s) for s in ("passed", "planned", "running", "failed", "rejected", "cancelled", "waiting")] == [
        0,
        0,
        0,
        1,
        1,
        1,
        3,
    ]
