"""Facts about a playbook, how they fit a request, and the reason clauses built only from them.

Every clause a reason holds is a statement about the playbook it describes that can be checked against its
document: what it does (``primary_action``/``other_actions``, or its runbook's commands, or the words of its
name, and the clause says which), what it works on, for which cloud, its category. Nothing is read from the
free-text description: "Start EC2 instances by tag" mentions a stop schedule, and does not stop anything.

A result is ``weak`` when its facts contradict what the request names, or when the request names nothing the
library knows and the text match is poor; weak results rank after strong ones and say why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from playbooks_contracts.recommendation import Intent

from .intent import actions_in
from .playbook_actions import playbook_actions

# Opposite actions: a playbook doing one is the wrong answer to the other, not a neighbour.
OPPOSITES = {("start", "stop"), ("stop", "start"), ("backup", "delete"), ("delete", "backup")}
# Below both, a request that names no action, resource or cloud matched nothing. Measured by bench/recommendation.py
# with MiniLM: the top-1 similarity of requests naming nothing the library knows is at most 0.10; of answerable
# requests at least 0.21 (relevance.json) and 0.32 (relevance_external.json). The cut sits between them.
WEAK_SIMILARITY = 0.18
WEAK_LEXICAL = 0.34
WEAK_CONFIDENCE_CAP = 0.35
TIMED = ("weekend", "night", "holiday")


@dataclass(frozen=True)
class Facts:
    actions: tuple[str, ...]
    action_source: str | None  # metadata | commands | name | None
    resource_types: frozenset[str]
    clouds: frozenset[str]
    category: str | None


def facts_of(document: dict[str, Any]) -> Facts:
    meta = document["metadata"]
    actions, source = playbook_actions(document)
    if not actions:
        # A tenant playbook that states no action: only its name may speak for it, and the reason says so.
        actions, source = list(actions_in(meta.get("name", ""))), "name"
        if not actions:
            source = None
    return Facts(
        actions=tuple(actions),
        action_source=source,
        resource_types=frozenset(meta.get("resource_types") or []),
        clouds=frozenset(meta.get("cloud_provider") or []),
        category=(meta.get("tags") or {}).get("category"),
    )


@dataclass
class Fit:
    score: float = 0.0
    agrees: list[str] = field(default_factory=list)  # clauses: facts that fit the request
    differs: list[str] = field(default_factory=list)  # clauses: facts that contradict it
    weak: list[str] = field(default_factory=list)  # why the result is weak (said in a warning)


def does(action: str, source: str | None) -> str:
    if source == "commands":
        return f"its commands {action}" if action != "diagnose" else "its commands only read (diagnose)"
    if source == "name":
        return f"its name says '{action}'"
    return f"does '{action}'"


def intent_fit(intent: Intent, facts: Facts, mentioned: tuple[str, ...] = ()) -> Fit:
    """How the playbook's facts meet the request (score -0.5..1), with the clauses that say so.

    ``mentioned``: every action the request's words ask for; a playbook doing one that is not the intent's
    main action is a partial fit, not a contradiction (the intent picks one action from several).
    """
    fit = Fit()
    also = [a for a in mentioned if a != intent.action and a in facts.actions]
    if intent.action:
        if intent.action in facts.actions:
            fit.score += 0.25 if facts.action_source == "name" else 0.4
            fit.agrees.append(does(intent.action, facts.action_source))
        elif also:
            fit.score += 0.15 if facts.action_source == "name" else 0.25
            fit.agrees.append(does(also[0], facts.action_source))
        elif facts.actions:
            primary = facts.actions[0]
            opposite = (intent.action, primary) in OPPOSITES
            fit.score -= 0.35 if opposite else 0.2
            fit.differs.append(f"{does(primary, facts.action_source)}, not '{intent.action}'")
            if facts.action_source != "name":
                fit.weak.append(f"it does '{primary}', the request asks to '{intent.action}'")
    if intent.resource_types:
        matched = [t for t in intent.resource_types if t in facts.resource_types]
        if matched:
            fit.score += 0.3
            fit.agrees.append("on " + ", ".join(matched))
        elif facts.resource_types:
            fit.score -= 0.1
            fit.weak.append("it works on " + ", ".join(sorted(facts.resource_types)) + ", not what the request names")
    if intent.cloud_provider:
        shared = sorted(facts.clouds & set(intent.cloud_provider))
        if shared:
            fit.score += 0.15
            fit.agrees.append("for " + ", ".join(shared))
        elif facts.clouds:
            fit.score -= 0.15
            fit.differs.append("for " + ", ".join(sorted(facts.clouds)))
            fit.weak.append("it is for " + ", ".join(sorted(facts.clouds)) + ", not the cloud the request names")
    if intent.category and facts.category == intent.category:
        fit.score += 0.15
        fit.agrees.append(f"category {facts.category}")
    if intent.time_context in TIMED and "schedule" in facts.actions and facts.action_source == "metadata":
        fit.score += 0.05
        fit.agrees.append("sets up a schedule")
    if intent.environment == "production" and "backup" in facts.actions and intent.action != "backup":
        fit.agrees.append("takes a backup as part of the run")
    fit.score = max(-0.5, min(fit.score, 1.0))
    return fit


def names_something(intent: Intent) -> bool:
    return bool(intent.action or intent.resource_types or intent.cloud_provider)


def weakness(intent: Intent, fit: Fit, similarity: float | None, lexical: float) -> list[str]:
    """Why this result is no real answer (empty: a strong match)."""
    why = list(fit.weak)
    if intent.other_clouds and not intent.cloud_provider:
        why.insert(0, "the library has no playbooks for " + ", ".join(intent.other_clouds))
    if not why and not fit.agrees:
        close = (similarity is not None and similarity >= WEAK_SIMILARITY) or lexical >= WEAK_LEXICAL
        if not close:
            why.append("it shares too little with the request's words")
    return why


def notice(intent: Intent) -> str:
    """The response's notice when no result is a strong match."""
    if intent.other_clouds and not intent.cloud_provider:
        return (
            f"The library has no playbooks for {', '.join(intent.other_clouds)} (it covers aws, azure, gcp and "
            "kubernetes); the closest candidates are shown, marked weak."
        )
    if not names_something(intent):
        return (
            "Nothing matches this request: it names no action, resource or cloud the library knows, and no "
            "playbook's text is close; the closest candidates are shown, marked weak."
        )
    return (
        "Nothing matches this request: no playbook does what it asks on what it names; the closest candidates "
        "are shown, marked weak."
    )
