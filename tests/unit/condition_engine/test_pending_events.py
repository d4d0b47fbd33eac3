"""A batch claims each (org, event) once, in one order, and evaluates every playbook of each once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from condition_engine.dsl import compile_raw
from condition_engine.evaluation import CompiledPlaybook, evaluate_pending, pending_events
from playbooks_contracts import Envelope


def playbook(org: str, name: str) -> CompiledPlaybook:
    conditions = compile_raw([{"field": "n", "op": "gte", "value": 0}])
    return CompiledPlaybook(uuid.uuid4(), org, name, "accounts_pack_run", 1, conditions, [])


def test_each_event_is_pending_once_in_claim_order_with_its_json_made_once() -> None:
    orgs = {org: {"accounts_pack_run": [playbook(org, "a"), playbook(org, "b"), playbook(org, "c")]} for org in "xy"}
    events = [Envelope(type="accounts_pack_run", org_id="xy"[i % 2], data={"n": i}) for i in range(5)]
    events.append(events[0])  # a redelivery in the same batch: claimed and evaluated once
    # the same event id in another org is another event (producers choose ids)
    events.append(Envelope(id=events[0].id, type="accounts_pack_run", org_id="y", data={"n": 9}))
    events.append(Envelope(type="activity_event", org_id="x", data={}))  # no playbook reacts: not claimed
    pending = pending_events(events, orgs)
    keys = [(p.event.org_id, p.event.id) for p in pending]
    assert len(keys) == 6 and len(set(keys)) == 6 and keys == sorted(keys)
    runs = evaluate_pending(pending, datetime.now(UTC))
    assert len(runs) == 18 and len({(r.event.org_id, r.playbook.id, r.event.id) for r in runs}) == 18
    for p in pending:  # the runs of one event share its one JSON string
        assert {id(r.event_json) for r in runs if r.event is p.event} == {id(p.event_json)}


def test_nothing_pending_without_playbooks() -> None:
    events = [Envelope(type="accounts_pack_run", org_id="x", data={"n": 1})]
    assert pending_events(events, {}) == [] and evaluate_pending([], datetime.now(UTC)) == []
