"""Migration 0005 rewrites stored actions from ``"{{ dotted.path }}"`` to ``"{{ .dotted.path }}"``:
the worker plans the same effects from the rewritten rows, and a downgrade writes the old form back."""

from __future__ import annotations

import asyncio
import json
import uuid

from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from condition_engine.actions import plan_actions, validate_actions
from playbooks_contracts import Envelope
from playbooks_dev.embedded import drop_database, ensure_database
from playbooks_dev.testing import Infra
from playbooks_platform.migrations import alembic_config
from playbooks_platform.service import load_spec

OLD = [
    {"type": "log_activity", "params": {"type": "noted", "metadata": {"doc": "{{ activity.doc_id }}", "n": 1}}},
    {"type": "enqueue_task", "params": {"queue": "q", "ids": ["x", "{{activity.items.0}}"], "note": "a {{ b }} c"}},
    {"type": "log_activity"},
]
NEW = [
    {"type": "log_activity", "params": {"type": "noted", "metadata": {"doc": "{{ .activity.doc_id }}", "n": 1}}},
    {"type": "enqueue_task", "params": {"queue": "q", "ids": ["x", "{{ .activity.items.0 }}"], "note": "a {{ b }} c"}},
    {"type": "log_activity"},
]


def _plan(actions: list[dict]) -> list:
    event = Envelope(
        type="activity.created",
        source="test",
        org_id="acme",
        data={"activity": {"type": "x", "doc_id": "d-1", "items": ["i-0"]}},
    )
    plan = plan_actions(
        validate_actions(actions[:2]),
        event=event,
        playbook_id=uuid.uuid4(),
        run_id=uuid.uuid4(),
        occurred_at="2026-01-01T00:00:00Z",
    )
    return [a.metadata for a in plan.activities] + [t.params for t in plan.tasks]


async def test_stored_actions_are_rewritten_by_0005_and_back(infra: Infra) -> None:
    await infra.migrate(load_spec("condition-engine"))  # the session's own: it creates the tenant role once
    name = f"mig_{uuid.uuid4().hex[:10]}"
    url = await ensure_database(infra.database_url, name)
    engine = create_async_engine(url)
    try:
        cfg = alembic_config("condition_engine", url)
        await asyncio.to_thread(command.upgrade, cfg, "0004")
        ids = [uuid.uuid4() for _ in range(2)]
        async with engine.begin() as conn:
            for pb, actions in zip(ids, (OLD, [{"type": "log_activity", "params": {"type": "plain"}}]), strict=True):
                await conn.execute(
                    text(
                        "INSERT INTO condition_engine.playbooks (id, org_id, name, trigger, conditions, actions, "
                        "status) VALUES (:pb, 'acme', 'p', 'activity_event', '[]', CAST(:a AS jsonb), 'active')"
                    ),
                    {"pb": pb, "a": json.dumps(actions)},
                )

        async def stored() -> dict:
            async with engine.connect() as conn:
                return dict((await conn.execute(text("SELECT id, actions FROM condition_engine.playbooks"))).all())

        await asyncio.to_thread(command.upgrade, cfg, "head")
        after = await stored()
        assert after[ids[0]] == NEW
        assert after[ids[1]] == [{"type": "log_activity", "params": {"type": "plain"}}]
        assert (
            _plan(after[ids[0]]) == _plan(OLD) == [{"doc": "d-1", "n": 1}, {"ids": ["x", "i-0"], "note": "a {{ b }} c"}]
        )

        await asyncio.to_thread(command.downgrade, cfg, "0004")
        back = await stored()
        assert back[ids[0]][0]["params"]["metadata"]["doc"] == "{{ activity.doc_id }}"
        assert back[ids[0]][1]["params"]["ids"] == ["x", "{{ activity.items.0 }}"]
        assert _plan(back[ids[0]]) == _plan(OLD)
    finally:
        await engine.dispose()
        await drop_database(infra.database_url, name)
