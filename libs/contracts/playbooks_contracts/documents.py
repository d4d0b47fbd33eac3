"""Bounded reading of the documents users hand in (runbook YAML or JSON, Markdown guides).

Size, nesting and YAML alias expansion are checked before a recursive parser or validator sees a
document: PyYAML's composer recurses once per level (20,000 levels was a RecursionError, a 500),
and a YAML alias is a reference, so nine levels of ten aliases each ("billion laughs") load as a
small graph that every later walk expands to a billion nodes. The check reads libyaml's event
stream, which is iterative and holds one frame per open level, counting every node as expanded.
"""

from __future__ import annotations

from typing import Any

import yaml

# The largest runbook or guide text accepted (characters; the API bodies say the same).
MAX_DOCUMENT_CHARS = 512_000
# The deepest nesting of mappings and lists in a runbook (a real one needs about ten).
MAX_DOCUMENT_DEPTH = 64
# The most nodes (mappings, lists, scalars) a document may hold, with every alias expanded.
MAX_DOCUMENT_NODES = 200_000

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class DocumentTooLarge(ValueError):
    """A document over one of the limits; the message names the limit."""


def load_yaml(text: str, *, what: str = "the document") -> Any:
    """``yaml.safe_load`` of ``text`` once its size, nesting and alias expansion are within the
    limits (:class:`DocumentTooLarge` otherwise; ``yaml.YAMLError`` for text that is not YAML)."""
    if len(text) > MAX_DOCUMENT_CHARS:
        raise DocumentTooLarge(f"{what} is {len(text)} characters, over the limit of {MAX_DOCUMENT_CHARS}")
    _scan_events(text, what)
    return yaml.load(text, Loader=_Loader)  # the safe loader (in C when libyaml is there)


def _scan_events(text: str, what: str) -> None:
    # One frame per open collection: [anchor, nodes before it, height of its subtree].
    stack: list[list[Any]] = []
    sizes: dict[str, tuple[int, int]] = {}  # anchor -> (nodes, height) of the node it names
    total = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            total = _count(event, stack, sizes, total, what)
    except yaml.YAMLError as exc:
        # libyaml's own ceiling (1,000 open flow collections), reached before our deeper scan.
        if "maximum nesting depth" in str(exc):
            raise DocumentTooLarge(f"{what} is nested deeper than the limit of {MAX_DOCUMENT_DEPTH} levels") from None
        raise


def _count(event: Any, stack: list[list[Any]], sizes: dict[str, tuple[int, int]], total: int, what: str) -> int:
    """``total`` after one more event, or :class:`DocumentTooLarge` past a limit."""
    kind = type(event)
    if kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
        if len(stack) >= MAX_DOCUMENT_DEPTH:
            raise _too_deep(what, event)
        stack.append([event.anchor, total, 1])
        total += 1
    elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
        anchor, before, height = stack.pop()
        if anchor is not None:
            sizes[anchor] = (total - before, height)
        if stack:
            stack[-1][2] = max(stack[-1][2], height + 1)
    elif kind is yaml.ScalarEvent:
        total += 1
        if event.anchor is not None:
            sizes[event.anchor] = (1, 0)
    elif kind is yaml.AliasEvent:
        if event.anchor not in sizes:
            raise DocumentTooLarge(
                f"{what}: alias *{event.anchor} refers to a node that is not complete (a recursive alias)"
            )
        nodes, height = sizes[event.anchor]
        if len(stack) + height > MAX_DOCUMENT_DEPTH:
            raise _too_deep(what, event)
        total += nodes
        if stack:
            stack[-1][2] = max(stack[-1][2], height + 1)
    else:
        return total
    if total > MAX_DOCUMENT_NODES:
        raise DocumentTooLarge(
            f"{what} holds over {MAX_DOCUMENT_NODES} nodes with its aliases expanded, over the limit "
            f"(line {event.start_mark.line + 1})"
        )
    return total


def _too_deep(what: str, event: Any) -> DocumentTooLarge:
    return DocumentTooLarge(
        f"{what} is nested deeper than the limit of {MAX_DOCUMENT_DEPTH} levels (line {event.start_mark.line + 1})"
    )


def check_tree(data: Any, *, what: str = "the document") -> None:
    """The same depth and node limits for a document given as JSON (already parsed), without
    recursion: a JSON body can be as deep as its parser allowed."""
    total = 0
    pending: list[tuple[Any, int]] = [(data, 0)]
    while pending:
        value, depth = pending.pop()
        total += 1
        if total > MAX_DOCUMENT_NODES:
            raise DocumentTooLarge(f"{what} holds over {MAX_DOCUMENT_NODES} nodes, over the limit")
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth >= MAX_DOCUMENT_DEPTH:
            raise DocumentTooLarge(f"{what} is nested deeper than the limit of {MAX_DOCUMENT_DEPTH} levels")
        pending.extend((child, depth + 1) for child in children)


def check_text(text: str, *, what: str = "the document") -> None:
    """The size limit for a text document (a Markdown guide)."""
    if len(text) > MAX_DOCUMENT_CHARS:
        raise DocumentTooLarge(f"{what} is {len(text)} characters, over the limit of {MAX_DOCUMENT_CHARS}")
