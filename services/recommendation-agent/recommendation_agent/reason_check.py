"""Check a search result's reason clause by clause against the playbook it describes.

Independent of how reasons are built: the reason text is split into clauses, each clause must be one of the
known kinds, and each is checked against the result (source, status, stats, similarity) and the playbook's
facts (its actions, resource types, clouds, category). A clause of an unknown kind counts as untrue: a reason
may say nothing the checker cannot verify. Used by the tests and by bench/recommendation.py (which loads this
file by path to measure older code too, so it imports nothing newer than ``intent.actions_in``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from recommendation_agent.intent import actions_in

SOURCE_LABELS = {
    "Your team's playbook": "tenant",
    "Library playbook": "library",
    "Ai-generated playbook": "ai_generated",
    "AI-generated playbook": "ai_generated",
}
_SUB_PREFIXES: tuple[str, ...] = (
    "does '",
    "its commands ",
    "its name says '",
    "on ",
    "for ",
    "category ",
    "sets up a schedule",
)
_SUB_PREFIXES += ("takes a backup as part of the run",)


@dataclass(frozen=True)
class Clause:
    text: str
    true: bool
    why: str = ""


def _subclauses(text: str) -> list[str]:
    """Split "a, b, c" where a list value (on x, y) holds commas too: a fragment without a known start continues."""
    out: list[str] = []
    for frag in text.split(", "):
        if out and not frag.startswith(_SUB_PREFIXES):  # "aws" of "for gcp, aws"; "not 'stop'" of a difference
            out[-1] += ", " + frag
        else:
            out.append(frag)
    return out


def _fact(sub: str, meta: dict[str, Any], actions: Sequence[str], source: str | None) -> tuple[bool, str]:
    """Whether one fit sub-clause is a fact of the playbook."""
    m = re.fullmatch(r"does '([a-z]+)'", sub)
    if m:
        return m[1] in actions and source == "metadata", f"its stated actions are {list(actions)}"
    m = re.fullmatch(r"its commands only read \(diagnose\)", sub)
    if m:
        return list(actions) == ["diagnose"] and source == "commands", f"its commands do {list(actions)}"
    m = re.fullmatch(r"its commands ([a-z]+)", sub)
    if m:
        return m[1] in actions and source == "commands", f"its commands do {list(actions)}"
    m = re.fullmatch(r"its name says '([a-z]+)'", sub)
    if m:
        return m[1] in actions_in(meta.get("name", "")), f"its name is {meta.get('name')!r}"
    m = re.fullmatch(r"on (.+)", sub)
    if m:
        types = set(meta.get("resource_types") or [])
        return set(m[1].split(", ")) <= types, f"it works on {sorted(types)}"
    m = re.fullmatch(r"for (.+)", sub)
    if m:
        clouds = set(meta.get("cloud_provider") or [])
        return set(m[1].split(", ")) <= clouds, f"it is for {sorted(clouds)}"
    m = re.fullmatch(r"category (.+)", sub)
    if m:
        category = (meta.get("tags") or {}).get("category")
        return m[1] == category, f"its category is {category}"
    if sub == "sets up a schedule":
        return "schedule" in actions, f"its actions are {list(actions)}"
    if sub == "takes a backup as part of the run":
        return "backup" in actions, f"its actions are {list(actions)}"
    return False, "not a known kind of clause"


def _differs(sub: str, meta: dict[str, Any], actions: Sequence[str], source: str | None) -> tuple[bool, str]:
    m = re.fullmatch(r"(.+), not '([a-z]+)'", sub)
    if m:
        ok, why = _fact(m[1], meta, actions, source)
        return ok and m[2] not in actions, why
    return _fact(sub, meta, actions, source)


def check_reason(result: dict[str, Any], actions: Sequence[str], action_source: str | None) -> list[Clause]:
    """Every clause of ``result['reason']``, each with whether it holds for the playbook ``result`` describes.

    ``actions``/``action_source``: the playbook's true actions and where they are stated (metadata, commands).
    """
    meta = result["metadata"]
    stats = result.get("stats") or {}
    runs = int(stats.get("success_count", 0)) + int(stats.get("failure_count", 0))
    text = result["reason"].rstrip(".")
    out: list[Clause] = []
    for part in text.split("; "):
        m = re.fullmatch(r"(Your team's playbook|Library playbook|Ai-generated playbook), status ([a-z_]+)", part)
        if m:
            ok = SOURCE_LABELS[m[1]] == result["source"] and m[2] == result["status"]
            out.append(Clause(part, ok, f"source {result['source']}, status {result['status']}"))
            continue
        if part == "no recorded runs yet":
            out.append(Clause(part, runs == 0, f"{runs} runs"))
            continue
        m = re.fullmatch(r"(\d+)/(\d+) successful runs", part)
        if m:
            ok = int(m[1]) == stats.get("success_count") and int(m[2]) == runs
            out.append(Clause(part, ok, f"{stats.get('success_count')}/{runs}"))
            continue
        m = re.fullmatch(r"text similarity (-?\d\.\d\d)", part)
        if m:
            ok = abs(float(m[1]) - float(result["similarity"])) <= 0.006
            out.append(Clause(part, ok, f"similarity {result['similarity']}"))
            continue
        m = re.fullmatch(r"keyword match (\d\.\d\d) \(semantic search unavailable\)", part)
        if m:
            out.append(Clause(part, float(result["similarity"]) == 0.0, "the similarity is 0 without vectors"))
            continue
        if part == "a newer version exists":
            out.append(Clause(part, True, "checked by the caller against the versions it knows"))
            continue
        m = re.fullmatch(r"fits the request: (.+)", part)
        if m:
            for sub in _subclauses(m[1]):
                ok, why = _fact(sub, meta, actions, action_source)
                out.append(Clause(sub, ok, why))
            continue
        m = re.fullmatch(r"differs from it: (.+)", part)
        if m:
            for sub in _subclauses(m[1]):
                ok, why = _differs(sub, meta, actions, action_source)
                out.append(Clause(sub, ok, why))
            continue
        out.append(Clause(part, False, "not a known kind of clause"))
    return out
