"""Step and notification templates, rendered in the platform's one language (``{{ .path }}``).

Rendering is :mod:`playbooks_contracts.templating`'s; what is this service's: a placeholder that
does not resolve stays as written (and is reported), so a template can never fail a step, and
the output is bounded. For one release a text without any ``{{ .path }}`` is also read in the old
form (``${path}``, ``$path``, ``$$``): policy and domain packs, and steps written before the
migration, still render as they did. Input in the old form is rewritten by :func:`upgrade_params`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from playbooks_contracts import templating
from playbooks_contracts.templating import Deprecation

MAX_OUTPUT = 20_000
# The step parameters that are templates, by action type (the rest are values).
TEMPLATE_PARAMS = {"add_comment": ("text_template",), "call_tool": ("payload_template",)}


def render(template: str, context: Mapping[str, Any]) -> tuple[str, list[str]]:
    """The rendered text and the placeholders that did not resolve (left as written)."""
    text, missing = templating.render(template, context, old_dollar=not templating.is_templated(template))
    if len(text) > MAX_OUTPUT:
        text = text[:MAX_OUTPUT] + "…"
    return text, sorted(set(missing))


def render_value(value: Any, context: Mapping[str, Any], missing: list[str]) -> Any:
    """Render every string inside a JSON value (for tool payload templates)."""
    if isinstance(value, str):
        text, gaps = render(value, context)
        missing.extend(gaps)
        return text
    if isinstance(value, list):
        return [render_value(v, context, missing) for v in value]
    if isinstance(value, dict):
        return {k: render_value(v, context, missing) for k, v in value.items()}
    return value


def upgrade_params(action_type: str, params: dict[str, Any], where: str) -> tuple[dict[str, Any], list[Deprecation]]:
    """The step's parameters with old-form placeholders rewritten, and what was rewritten.
    Raises ``TemplateError`` for a template over the bounds."""
    out = dict(params)
    found: list[Deprecation] = []
    for key in TEMPLATE_PARAMS.get(action_type, ()):
        if key in out:
            out[key], changes = templating.upgrade_document(out[key], f"{where}.{key}", templating.upgrade_dollar)
            found.extend(changes)
    templating.check([out[key] for key in TEMPLATE_PARAMS.get(action_type, ()) if key in out])
    return out, found
