"""What a playbook does, as a fact: its metadata says so, or its runbook's commands do (the command ontology).

A library playbook states ``primary_action`` (and ``other_actions``). A compiled runbook states nothing, so
its commands decide: every command the ontology calls a write is named by the words of the subcommand it
matched (``kubectl rollout undo`` is a rollback, ``aws rds stop-db-instance`` a stop); a runbook whose known
commands only read is a diagnosis. Nothing is guessed from prose: a runbook without known commands has no
action, and a reason then says nothing about one.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from playbooks_contracts.command_ontology import PRIVILEGE_PREFIXES, TOOLS
from playbooks_contracts.command_policy import positionals
from playbooks_contracts.recommendation import PLAYBOOK_ACTIONS

# The words of a matched write subcommand that name an action. Deleting verbs are read first ("delete-snapshot"
# deletes), then the object of the change ("create-db-snapshot" backs up), then the verb itself.
_DELETE_WORDS = frozenset(
    {"delete", "del", "rm", "rmi", "rmp", "uninstall", "terminate", "purge", "destroy", "release", "remove", "prune"}
    | {"undefine", "flushall", "flushdb"}
)
_OBJECT_WORDS: dict[str, str] = {
    "snapshot": "backup",
    "backup": "backup",
    "concurrency": "throttle",
    "public": "secure",
    "encryption": "secure",
    "lifecycle": "archive",
    "retention": "archive",
    "scheduled": "schedule",
    "schedule": "schedule",
}
_VERB_WORDS: dict[str, str] = {
    "undo": "rollback",
    "rollback": "rollback",
    "revert": "rollback",
    "restart": "restart",
    "reboot": "restart",
    "reload": "restart",
    "reload-or-restart": "restart",
    "redeploy": "restart",
    "drain": "drain",
    "cordon": "drain",
    "scale": "scale",
    "autoscale": "scale",
    "resize": "scale",
    "upgrade": "upgrade",
    "stop": "stop",
    "stopp": "stop",
    "deallocate": "stop",
    "shutdown": "stop",
    "poweroff": "stop",
    "pause": "stop",
    "start": "start",
    "resume": "start",
    "export": "backup",
    "save": "backup",
    "rotate": "rotate",
    "renew": "rotate",
    "regenerate": "rotate",
}
_SPLIT = re.compile(r"[-_\s]+")
_PROMPT = re.compile(r"^\s*(?:[-*]\s+)?(?:\$|#|>|PS>)?\s*`?")


def action_of_words(words: Iterable[str]) -> str | None:
    """The action a write subcommand's words name, or None."""
    parts = [p for w in words for p in _SPLIT.split(w.lower()) if p]
    if not parts:
        return None
    if parts[0] in _DELETE_WORDS:
        return "delete"
    for p in parts:
        if p in _OBJECT_WORDS:
            return _OBJECT_WORDS[p]
    for p in parts:
        if p in _VERB_WORDS:
            return _VERB_WORDS[p]
        if p in _DELETE_WORDS:
            return "delete"
    return None


def command_action(argv: list[str]) -> tuple[str, str | None]:
    """("write", action) / ("read", None) / ("unknown", None) for one argv, by the ontology's facts."""
    while argv and argv[0].rsplit("/", 1)[-1] in PRIVILEGE_PREFIXES:
        argv = argv[1:]
    if not argv:
        return "unknown", None
    program = argv[0].rsplit("/", 1)[-1]
    spec = TOOLS.get(program)
    if spec is None:
        return "unknown", None
    args = argv[1:]
    mode = spec.get("mode")
    if any(a == f or a.startswith(f + "=") for a in args for f in spec.get("write_flags", [])):
        return "write", None
    if mode == "write":
        return "write", action_of_words([program])
    if mode in ("read", "sql", "http"):
        # SQL and HTTP writes exist, but no action of the vocabulary names them: a write of unknown kind
        return ("read", None) if mode == "read" else ("unknown", None)
    pos = positionals(args, spec.get("value_options", []))
    if mode == "subcommand":
        best: tuple[int, str, str] | None = None
        for kind in ("write", "read"):
            for entry in spec.get(kind, []):
                words = str(entry).split()
                if pos[: len(words)] == words and (best is None or len(words) > best[0]):
                    best = (len(words), kind, str(entry))
        if best is None:
            return "unknown", None
        if best[1] == "read":
            return "read", None
        return "write", action_of_words(best[2].split())
    if mode == "verb":
        for p in pos:
            if any(fnmatch.fnmatchcase(p, g) for g in spec.get("write_verbs", [])):
                return "write", action_of_words([p])
        for p in pos:
            if any(fnmatch.fnmatchcase(p, g) for g in spec.get("read_verbs", [])):
                return "read", None
    return "unknown", None


def _step_commands(step: dict[str, Any]) -> Iterator[list[str]]:
    if step.get("type") == "group":
        for inner in step.get("steps") or []:
            if isinstance(inner, dict):
                yield from _step_commands(inner)
        return
    with_ = step.get("with")
    if isinstance(with_, dict) and isinstance(with_.get("argv"), list):
        yield [str(a) for a in with_["argv"]]
    instructions = step.get("instructions")
    if step.get("type") == "manual" and isinstance(instructions, str):
        # A manual step lists the commands a person runs, one a line (shell prompts and backticks allowed).
        for line in instructions.splitlines()[:200]:
            text = _PROMPT.sub("", line).strip().strip("`")
            if not text or text.split()[0].rsplit("/", 1)[-1] not in TOOLS.keys() | set(PRIVILEGE_PREFIXES):
                continue
            try:
                yield shlex.split(text.split("|")[0])
            except ValueError:
                continue


def runbook_actions(runbook: dict[str, Any] | None) -> list[str]:
    """The actions a runbook's commands perform, most frequent first; ["diagnose"] when they only read."""
    if not isinstance(runbook, dict):
        return []
    counts: Counter[str] = Counter()
    order: list[str] = []
    reads = 0
    for step in (runbook.get("steps") or [])[:500]:
        if not isinstance(step, dict):
            continue
        for argv in _step_commands(step):
            kind, action = command_action(argv)
            if kind == "read":
                reads += 1
            elif action in PLAYBOOK_ACTIONS:
                counts[action] += 1
                if action not in order:
                    order.append(action)
    if counts:
        return sorted(order, key=lambda a: (-counts[a], order.index(a)))
    return ["diagnose"] if reads else []


def playbook_actions(document: dict[str, Any]) -> tuple[list[str], str | None]:
    """(actions, where they come from): the metadata's, else the runbook commands', else none."""
    meta = document.get("metadata") or {}
    primary = meta.get("primary_action")
    if primary:
        return [primary, *(a for a in meta.get("other_actions") or [] if a != primary)], "metadata"
    derived = runbook_actions(document.get("runbook"))
    if derived:
        return derived, "commands"
    return [], None
