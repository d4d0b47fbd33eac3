"""Safe placeholder rendering: ``${name}`` / ``${attributes.amount}`` looked up in data, nothing else.

No expressions, attribute access or code: a placeholder is a dotted path into plain dicts, and
one that does not resolve stays as written (and is reported), so a template can never fail a step.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any

import orjson

MAX_OUTPUT = 20_000


class _Template(string.Template):
    idpattern = r"(?a:[_a-z][_a-z0-9]*(?:\.[_a-z0-9]+)*)"
    flags = re.IGNORECASE


class _Lookup(Mapping[str, str]):
    def __init__(self, context: Mapping[str, Any]) -> None:
        self.context = context
        self.missing: list[str] = []

    def __getitem__(self, path: str) -> str:
        value: Any = self.context
        for part in path.split("."):
            if isinstance(value, Mapping) and part in value:
                value = value[part]
            else:
                self.missing.append(path)
                raise KeyError(path)
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        if isinstance(value, bool | int | float):
            return str(value).lower() if isinstance(value, bool) else str(value)
        return orjson.dumps(value, default=str).decode()

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.context)

    def __len__(self) -> int:
        return len(self.context)


def render(template: str, context: Mapping[str, Any]) -> tuple[str, list[str]]:
    """The rendered text and the placeholders that did not resolve (left as written)."""
    lookup = _Lookup(context)
    text = _Template(template).safe_substitute(lookup)
    if len(text) > MAX_OUTPUT:
        text = text[:MAX_OUTPUT] + "…"
    return text, sorted(set(lookup.missing))


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
