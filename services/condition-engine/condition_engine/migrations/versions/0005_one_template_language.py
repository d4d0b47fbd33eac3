"""Stored actions in the one template language: ``"{{ dotted.path }}"`` becomes ``"{{ .dotted.path }}"``.

A data migration (decision 0024): every string parameter of every playbook's actions that is a
whole old-form placeholder is rewritten to the new form, which renders the same value. Nothing
else changes; the API also accepts the old form for one release and stores it converted.
Downgrade writes whole new-form placeholders back in the old form (a placeholder inside longer
text has no old form and stays).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from typing import Any

from playbooks_contracts import templating
from playbooks_platform.migrations import rewrite_json

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SCHEMA = "condition_engine"


def _params(actions: Any, convert: Any) -> Any:
    if not isinstance(actions, list):
        return actions
    out = []
    for action in actions:
        if isinstance(action, dict) and isinstance(action.get("params"), dict):
            params, _ = templating.upgrade_document(action["params"], "params", convert)
            action = {**action, "params": params}
        out.append(action)
    return out


def _upgrade(text: str) -> tuple[str, list[tuple[str, str]]]:
    try:
        return templating.bare_change(text)
    except templating.TemplateError:
        return text, []  # over the bounds: left as it is, and refused as before when the playbook runs


def _downgrade(text: str) -> tuple[str, list[tuple[str, str]]]:
    return templating.downgrade_bare(text), []


def upgrade() -> None:
    rewrite_json(SCHEMA, "playbooks", "id", "actions", lambda v: _params(v, _upgrade))


def downgrade() -> None:
    rewrite_json(SCHEMA, "playbooks", "id", "actions", lambda v: _params(v, _downgrade))
