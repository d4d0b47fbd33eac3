"""Stored steps in the one template language: ``${path}`` and ``$path`` become ``{{ .path }}``.

A data migration (decision 0024): the templates of every step (``text_template`` of add_comment,
the strings of ``payload_template`` of call_tool) are rewritten from the old ``string.Template``
forms to the new one, which renders the same (``$$`` is written ``$``). A text that already holds
a ``{{ .path }}`` is in the new language and left as it is. Policy and domain packs are documents
the service reads in both forms for one release; they are not rewritten here.
Downgrade writes placeholders back in the old form where it can say them (a path with ``-`` or a
leading digit cannot) and ``$`` that would read as one as ``$$``.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playbooks_contracts import templating
from playbooks_platform.migrations import rewrite_json

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = "exception_playbook"
TEMPLATE_PARAMS = ("text_template", "payload_template")  # add_comment's and call_tool's templates


def _params(params: Any, convert: Callable[[str], tuple[str, list[tuple[str, str]]]]) -> Any:
    if not isinstance(params, dict):
        return params
    out = dict(params)
    for key in TEMPLATE_PARAMS:
        if key in out:
            out[key], _ = templating.upgrade_document(out[key], key, convert)
    return out


def _upgrade(text: str) -> tuple[str, list[tuple[str, str]]]:
    try:
        return templating.upgrade_dollar(text)
    except templating.TemplateError:
        return text, []  # over the bounds: left in the old form, which the service still reads


def _downgrade(text: str) -> tuple[str, list[tuple[str, str]]]:
    return templating.downgrade_dollar(text), []


def upgrade() -> None:
    rewrite_json(SCHEMA, "playbook_steps", "step_id", "params", lambda v: _params(v, _upgrade))


def downgrade() -> None:
    rewrite_json(SCHEMA, "playbook_steps", "step_id", "params", lambda v: _params(v, _downgrade))
