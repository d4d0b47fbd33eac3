"""Migration 0004 rewrites stored step templates from ``${path}``/``$path`` to ``{{ .path }}``: they
render the same text afterwards, other parameters are untouched, and a downgrade writes the old form back."""

from __future__ import annotations

import asyncio
import json
import uuid

from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from exception_playbook.templating import render, render_value
from playbooks_dev.embedded import drop_database, ensure_database
from playbooks_dev.testing import Infra
from playbooks_platform.migrations import alembic_config
from playbooks_platform.service import load_spec

CONTEXT = {"claim": "C-7", "amount": 12.5, "attributes": {"desk": "north"}}
STEPS = [
    ("add_comment", {"text_template": "seen ${claim} for $amount at ${attributes.desk}, $$5 and ${nope}"}),
    ("call_tool", {"tool_id": "ledger.lookup", "payload_template": {"c": "${claim}", "n": 3, "l": ["$amount"]}}),
    ("notify", {"channel": "email", "template_id": "t1", "placeholders": {"x": "${claim}"}}),
    ("add_comment", {"text_template": "already new {{ .claim }} and $claim"}),
]


def _rendered(action: str, params: dict) -> object:
    if action == "add_comment":
        return render(params["text_template"], CONTEXT)
    if action == "call_tool":
        return render_value(params["payload_template"], CONTEXT, [])
    return params


async def test_stored_step_templates_are_rewritten_by_0004_and_back(infra: Infra) -> None:
    await infra.migrate(load_spec("exception-playbook"))  # the session's own: it creates the tenant role once
    name = f"mig_{uuid.uuid4().hex[:10]}"
    url = await ensure_database(infra.database_url, name)
    engine = create_async_engine(url)
    try:
        cfg = alembic_config("exception_playbook", url)
        await asyncio.to_thread(command.upgrade, cfg, "0003")
        playbook = uuid.uuid4()
        steps = [uuid.uuid4() for _ in STEPS]
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO exception_playbook.playbooks (playbook_id, tenant_id, lineage_id, name, version, "
                    "conditions) VALUES (:pb, 'acme', :pb, 'p', 1, '{}')"
                ),
                {"pb": playbook},
            )
            for order, (sid, (action, params)) in enumerate(zip(steps, STEPS, strict=True), start=1):
                await conn.execute(
                    text(
                        "INSERT INTO exception_playbook.playbook_steps (step_id, playbook_id, tenant_id, step_order, "
                        "name, action_type, params) VALUES (:id, :pb, 'acme', :o, 's', :a, CAST(:p AS jsonb))"
                    ),
                    {"id": sid, "pb": playbook, "o": order, "a": action, "p": json.dumps(params)},
                )

        async def stored() -> list[dict]:
            async with engine.connect() as conn:
                rows = dict(
                    (await conn.execute(text("SELECT step_id, params FROM exception_playbook.playbook_steps"))).all()
                )
            return [rows[s] for s in steps]

        await asyncio.to_thread(command.upgrade, cfg, "head")
        after = await stored()
        assert after[0]["text_template"] == (
            "seen {{ .claim }} for {{ .amount }} at {{ .attributes.desk }}, $5 and {{ .nope }}"
        )
        assert after[1]["payload_template"] == {"c": "{{ .claim }}", "n": 3, "l": ["{{ .amount }}"]}
        assert after[2] == STEPS[2][1]  # placeholders of notify are values, not templates
        assert after[3] == STEPS[3][1]  # already in the new language
        assert _rendered("add_comment", after[0])[0] == "seen C-7 for 12.5 at north, $5 and {{ .nope }}"
        assert _rendered("add_comment", STEPS[0][1])[0] == "seen C-7 for 12.5 at north, $5 and ${nope}"
        assert (
            _rendered("call_tool", after[1])
            == _rendered("call_tool", STEPS[1][1])
            == {
                "c": "C-7",
                "n": 3,
                "l": ["12.5"],
            }
        )

        await asyncio.to_thread(command.downgrade, cfg, "0003")
        back = await stored()
        assert back[0]["text_template"] == "seen ${claim} for ${amount} at ${attributes.desk}, $5 and ${nope}"
        assert back[1]["payload_template"] == {"c": "${claim}", "n": 3, "l": ["${amount}"]}
        assert back[2] == STEPS[2][1]
        assert [_rendered(a, p) for (a, _), p in zip(STEPS, back, strict=True)][:2] == [
            _rendered(a, p) for a, p in STEPS[:2]
        ]
    finally:
        await engine.dispose()
        await drop_database(infra.database_url, name)
