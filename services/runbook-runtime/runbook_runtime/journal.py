"""Incremental snapshots: what changed in a run's state since the last snapshot, as path operations.

A snapshot written as a whole costs as much as the state (every capture so far, redacted, encoded,
written to a file of its own). Between two whole snapshots the run folder appends *deltas*: the
operations that turn the previous state into the current one (``set`` a value at a path, ``del`` a
key, ``ext`` a list by its new items). A delta holds what the step changed, so its size does not
grow with the step count (decision 0030).

:class:`StateDiff` compares the live state with the one last recorded *before* redaction, field by
field, without dumping what cannot have changed unseen: ``captures`` and ``vars`` are plain string
maps compared entry by entry (in C while entries are only added), the rest is dumped (small:
evidence, confirmations, artifacts, the replay position). Only the values that changed are
redacted, with the run's one redactor, which gives the same text as redacting the whole state and
taking those values from it.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice
from typing import Any

from .state import RunState

Op = list[Any]  # ["set", path, value] | ["del", path] | ["ext", path, items]; a path holds keys and list indexes
# plain ``dict[str, str]`` fields: compared entry by entry by identity, never dumped
_MAPS = ("captures", "vars")
_DUMPED_EXCLUDE = {"history", *_MAPS}
_MISSING = object()


def diff(old: Any, new: Any, path: list[Any], ops: list[Op]) -> None:
    """Append to ``ops`` what turns ``old`` into ``new`` (both JSON-shaped)."""
    if old is new:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key, value in new.items():
            before = old.get(key, _MISSING)
            if before is _MISSING:
                ops.append(["set", [*path, key], value])
            elif before is not value:
                diff(before, value, [*path, key], ops)
        ops.extend(["del", [*path, key]] for key in old.keys() - new.keys())
    elif isinstance(old, list) and isinstance(new, list) and len(new) > len(old) and new[: len(old)] == old:
        ops.append(["ext", path, new[len(old) :]])
    elif isinstance(old, list) and isinstance(new, list) and len(new) == len(old) > 8:
        # a list changed in place (the replay's call counts: one count moves per step)
        changed = [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a is not b and a != b]
        if len(changed) * 4 < len(new):
            ops.extend(["set", [*path, i], new[i]] for i in changed)
        else:
            ops.append(["set", path, new])
    elif type(old) is not type(new) or old != new:
        ops.append(["set", path, new])


def apply_ops(doc: dict[str, Any], ops: list[Op]) -> None:
    """Apply ``ops`` to ``doc`` in place; ValueError when an op does not fit the document."""
    for op in ops:
        if not isinstance(op, list) or len(op) < 2 or not isinstance(op[1], list) or not op[1]:
            raise ValueError(f"not a snapshot operation: {op!r}")
        kind, path = op[0], op[1]
        try:
            target: Any = doc
            for key in path[:-1]:
                target = target[key]
            last = path[-1]
            in_list = isinstance(target, list) and isinstance(last, int) and 0 <= last < len(target)
            if kind == "set" and (isinstance(target, dict) or in_list):
                target[last] = op[2]
            elif kind == "del" and isinstance(target, dict):
                target.pop(last, None)
            elif kind == "ext" and isinstance(target, dict) and isinstance(target.get(last), list):
                target[last].extend(op[2])
            else:
                raise ValueError(f"snapshot operation {kind!r} does not apply at {path!r}")
        except (KeyError, IndexError, TypeError) as exc:
            raise ValueError(f"snapshot operation {kind!r} does not apply at {path!r}: {exc}") from None


def _map_delta(name: str, old: dict[str, str], new: dict[str, str]) -> list[Op]:
    """The entries of a string map that changed. A map keeps insertion order and an overwritten key
    its place, so when the first ``len(old)`` entries still equal ``old`` (compared in C), only the
    entries after them are new: the common case (a step adds captures) never loops in Python."""
    if len(new) >= len(old) and dict(islice(new.items(), len(old))) == old:
        return [["set", [name, key], value] for key, value in islice(new.items(), len(old), None)]
    ops: list[Op] = [["set", [name, key], value] for key, value in new.items() if old.get(key, _MISSING) is not value]
    ops.extend(["del", [name, key]] for key in old.keys() - new.keys())
    return ops


class StateDiff:
    """The delta of a run's state since the last recorded one (history left out: the trace holds it)."""

    def __init__(self, redact: Callable[[Any], Any]) -> None:
        self._redact = redact
        self._maps: dict[str, dict[str, str]] | None = None
        self._rest: dict[str, Any] = {}

    def reset(self, state: RunState) -> None:
        """``state`` was just recorded whole: later deltas are taken against it."""
        self._maps = {name: dict(getattr(state, name)) for name in _MAPS}
        self._rest = state.model_dump(mode="json", exclude=_DUMPED_EXCLUDE)

    @property
    def primed(self) -> bool:
        return self._maps is not None

    def delta(self, state: RunState) -> list[Op]:
        """What changed since the last ``reset`` or ``delta`` (redacted), and take it as recorded."""
        assert self._maps is not None, "a delta needs a state recorded whole first"
        ops: list[Op] = []
        for name in _MAPS:
            old, new = self._maps[name], getattr(state, name)
            ops.extend(_map_delta(name, old, new))
            self._maps[name] = dict(new)
        rest = state.model_dump(mode="json", exclude=_DUMPED_EXCLUDE)
        diff(self._rest, rest, [], ops)
        self._rest = rest
        return [[op[0], op[1], self._redact(op[2])] if len(op) == 3 else op for op in ops]
