"""A batch sends each event's JSON once; every run points at its own event's document."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from condition_engine.dsl import compile_raw
from condition_engine.execution import CompiledPlaybook, evaluate_events, event_documents
from playbooks_contracts import Envelope


def playbook(org: str, name: str) -> CompiledPlaybook:
    conditions = compile_raw([{"field": "n", "op": "gte", "value": 0}])
    return CompiledPlaybook(uuid.uuid4(), org, name, "accounts_pack_run", 1, conditions, [])


def test_each_event_is_sent_once_and_each_run_points_at_its_own() -> None:
    orgs = {org: {"accounts_pack_run": [playbook(org, "a"), playbook(org, "b"), playbook(org, "c")]} for org in "xy"}
    events = [Envelope(type="accounts_pack_run", org_id="xy"[i % 2], data={"n": i}) for i in range(5)]
    events.append(events[0])  # a redelivery in the same batch: its runs are not repeated
    runs = evaluate_events(events, orgs, datetime.now(UTC))
    docs, positions = event_documents(runs)
    assert len(runs) == 15 and len(docs) == 5
    assert [docs[p - 1] for p in positions] == [r.event_json for r in runs]  # 1-based, as SQL arrays
    assert sorted(set(positions)) == [1, 2, 3, 4, 5]


def test_no_runs_no_documents() -> None:
    assert event_documents([]) == ([], [])
