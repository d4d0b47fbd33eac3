"""Matching an exception to the best playbook: pure functions, no I/O.

A candidate is a playbook version compiled once (its conditions turned into sets and
case-folded strings); matching one exception against an org's candidates checks each
candidate's conditions and ranks the ones that hold: highest ``priority``, then higher
``version``, then most recently updated (then the id, so the choice is always the same).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .conditions import PlaybookConditions, TagCondition

SEVERITY_ORDER = ("low", "medium", "high", "critical")


@dataclass(frozen=True, slots=True)
class Facts:
    """What matching looks at in an exception."""

    domain: str
    exception_type: str
    severity: str
    sla_deadline: datetime | None = None
    policy_tags: frozenset[str] = frozenset()

    @classmethod
    def of(cls, row: Any) -> Facts:
        return cls(
            domain=row.domain,
            exception_type=row.exception_type,
            severity=row.severity,
            sla_deadline=row.sla_deadline,
            policy_tags=frozenset(t.lower() for t in (row.policy_tags or ())),
        )


@dataclass(frozen=True, slots=True)
class MatchablePlaybook:
    playbook_id: uuid.UUID
    name: str
    version: int
    priority: int
    updated_at: datetime
    domain: str | None
    exception_type: str | None
    severities: frozenset[str] | None
    sla_lt: float | None
    tags_any: frozenset[str] | None
    tags_all: frozenset[str] | None

    @property
    def label(self) -> str:
        return f"{self.name!r} v{self.version}"

    def rank(self) -> tuple[int, int, datetime, str]:
        return (self.priority, self.version, self.updated_at, str(self.playbook_id))


def compile_candidate(
    *, playbook_id: uuid.UUID, name: str, version: int, updated_at: datetime, conditions: Any
) -> MatchablePlaybook:
    """A playbook version ready to match (raises ``pydantic.ValidationError`` on bad conditions)."""
    parsed = PlaybookConditions.model_validate(conditions)
    m = parsed.match
    tags_any = tags_all = None
    if isinstance(m.policy_tags, list):
        tags_any = frozenset(t.lower() for t in m.policy_tags)
    elif isinstance(m.policy_tags, TagCondition):
        tags_any = frozenset(t.lower() for t in m.policy_tags.any) if m.policy_tags.any else None
        tags_all = frozenset(t.lower() for t in m.policy_tags.all) if m.policy_tags.all else None
    return MatchablePlaybook(
        playbook_id=playbook_id,
        name=name,
        version=version,
        priority=parsed.priority,
        updated_at=updated_at,
        domain=m.domain.casefold() if m.domain else None,
        exception_type=m.exception_type.casefold() if m.exception_type else None,
        severities=frozenset(m.severity_in) if m.severity_in else None,
        sla_lt=m.sla_minutes_remaining_lt,
        tags_any=tags_any,
        tags_all=tags_all,
    )


def _sorted(values: Iterable[str]) -> list[str]:
    order = {s: i for i, s in enumerate(SEVERITY_ORDER)}
    return sorted(values, key=lambda v: (order.get(v, 99), v))


def minutes_remaining(deadline: datetime | None, now: datetime) -> float | None:
    return None if deadline is None else (deadline - now).total_seconds() / 60


def check(c: MatchablePlaybook, f: Facts, domain: str, etype: str, minutes: float | None) -> str | None:
    """Why the candidate does not match (``None``: it matches). ``domain``/``etype`` are case-folded."""
    if c.domain is not None and c.domain != domain:
        return f"domain {f.domain} is not {c.domain}"
    if c.exception_type is not None and c.exception_type != etype:
        return f"exception_type {f.exception_type} is not {c.exception_type}"
    if c.severities is not None and f.severity not in c.severities:
        return f"severity {f.severity} not in {_sorted(c.severities)}"
    if c.sla_lt is not None:
        if minutes is None:
            return f"no SLA deadline (needs fewer than {c.sla_lt:g} minutes remaining)"
        if not minutes < c.sla_lt:
            return f"{minutes:.0f} minutes remaining, not fewer than {c.sla_lt:g}"
    if c.tags_any is not None and not (c.tags_any & f.policy_tags):
        return f"none of the policy tags {sorted(c.tags_any)}"
    if c.tags_all is not None and not (c.tags_all <= f.policy_tags):
        return f"missing policy tags {sorted(c.tags_all - f.policy_tags)}"
    return None


def fits(c: MatchablePlaybook, etype: str, severity: str, minutes: float | None, tags: frozenset[str]) -> bool:
    """``check`` without the words, for the hot loop (the domain is already settled by the index)."""
    return (
        (c.exception_type is None or c.exception_type == etype)
        and (c.severities is None or severity in c.severities)
        and (c.sla_lt is None or (minutes is not None and minutes < c.sla_lt))
        and (c.tags_any is None or not c.tags_any.isdisjoint(tags))
        and (c.tags_all is None or c.tags_all <= tags)
    )


class CandidateIndex:
    """An org's candidates grouped by case-folded domain, so matching skips other domains' playbooks."""

    __slots__ = ("all", "any_domain", "by_domain")

    def __init__(self, candidates: Sequence[MatchablePlaybook]) -> None:
        self.all = list(candidates)
        self.any_domain = [c for c in self.all if c.domain is None]
        self.by_domain: dict[str, list[MatchablePlaybook]] = {}
        for c in self.all:
            if c.domain is not None:
                self.by_domain.setdefault(c.domain, []).append(c)

    def __len__(self) -> int:
        return len(self.all)


def explain_match(c: MatchablePlaybook, f: Facts, minutes: float | None) -> list[str]:
    """The conditions the candidate matched on, in words."""
    out = []
    if c.domain is not None:
        out.append(f"domain is {f.domain}")
    if c.exception_type is not None:
        out.append(f"exception_type is {f.exception_type}")
    if c.severities is not None:
        out.append(f"severity {f.severity} in {_sorted(c.severities)}")
    if c.sla_lt is not None and minutes is not None:
        out.append(f"{minutes:.0f} minutes remaining < {c.sla_lt:g}")
    if c.tags_any is not None:
        out.append(f"policy tags include {sorted(c.tags_any & f.policy_tags)}")
    if c.tags_all is not None:
        out.append(f"policy tags include all of {sorted(c.tags_all)}")
    return out or ["no conditions: matches every exception"]


def why_lost(loser: MatchablePlaybook, winner: MatchablePlaybook) -> str:
    if loser.priority != winner.priority:
        return f"lower priority ({loser.priority} < {winner.priority})"
    if loser.version != winner.version:
        return f"same priority {winner.priority}, lower version ({loser.version} < {winner.version})"
    if loser.updated_at != winner.updated_at:
        return f"same priority and version, updated earlier ({loser.updated_at.isoformat()})"
    return "same priority, version and update time; the id decides"


@dataclass
class MatchResult:
    selected: MatchablePlaybook | None
    matched_on: list[str] = field(default_factory=list)
    runners_up: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0
    rejected_examples: list[dict[str, Any]] = field(default_factory=list)
    considered: int = 0

    @property
    def playbook_id(self) -> uuid.UUID | None:
        return self.selected.playbook_id if self.selected else None

    def summary(self) -> str:
        if self.selected is None:
            if not self.considered:
                return "No playbook matches: the tenant has no playbooks."
            examples = "; ".join(f"{e['playbook']}: {e['reason']}" for e in self.rejected_examples)
            return f"No playbook matches: none of {self.considered} candidate(s) fits ({examples})."
        s = self.selected
        text = f"Selected {s.label} (priority {s.priority}): {', '.join(self.matched_on)}."
        if self.runners_up:
            lost = "; ".join(f"{r['playbook']} lost on {r['reason']}" for r in self.runners_up)
            text += f" Runners-up: {lost}."
        if self.rejected:
            examples = "; ".join(f"{e['playbook']}: {e['reason']}" for e in self.rejected_examples)
            text += f" {self.rejected} other playbook(s) did not match (e.g. {examples})."
        return text

    def details(self) -> dict[str, Any]:
        return {
            "selected": None
            if self.selected is None
            else {
                "playbook_id": str(self.selected.playbook_id),
                "name": self.selected.name,
                "version": self.selected.version,
                "priority": self.selected.priority,
                "matched_on": self.matched_on,
            },
            "runners_up": self.runners_up,
            "rejected": self.rejected,
            "rejected_examples": self.rejected_examples,
            "considered": self.considered,
        }


def match(
    facts: Facts,
    candidates: Sequence[MatchablePlaybook] | CandidateIndex,
    now: datetime,
    *,
    runners_up: int = 3,
    examples: int = 3,
) -> MatchResult:
    """The best playbook for the exception, or none, with the reasoning."""
    index = candidates if isinstance(candidates, CandidateIndex) else CandidateIndex(candidates)
    domain, etype = facts.domain.casefold(), facts.exception_type.casefold()
    minutes = minutes_remaining(facts.sla_deadline, now)
    severity, tags = facts.severity, facts.policy_tags
    matched: list[MatchablePlaybook] = []
    rejected: list[tuple[MatchablePlaybook, str]] = []
    for group in (index.by_domain.get(domain, ()), index.any_domain):
        for c in group:
            if fits(c, etype, severity, minutes, tags):
                matched.append(c)
            elif len(rejected) < examples:
                rejected.append((c, check(c, facts, domain, etype, minutes) or "did not match"))
    if len(rejected) < examples:  # name a few of the other domains' playbooks too
        for c in index.all:
            if len(rejected) >= examples:
                break
            if c.domain is not None and c.domain != domain:
                rejected.append((c, check(c, facts, domain, etype, minutes) or "did not match"))
    result = MatchResult(
        selected=None,
        rejected=len(index) - len(matched),
        rejected_examples=[{"playbook": c.label, "playbook_id": str(c.playbook_id), "reason": r} for c, r in rejected],
        considered=len(index),
    )
    if not matched:
        return result
    matched.sort(key=MatchablePlaybook.rank, reverse=True)
    winner = matched[0]
    result.selected = winner
    result.matched_on = explain_match(winner, facts, minutes)
    result.runners_up = [
        {
            "playbook": c.label,
            "playbook_id": str(c.playbook_id),
            "priority": c.priority,
            "reason": why_lost(c, winner),
        }
        for c in matched[1 : 1 + runners_up]
    ]
    if len(matched) - 1 > runners_up:
        result.runners_up.append(
            {"playbook": f"{len(matched) - 1 - runners_up} more", "playbook_id": None, "reason": "ranked lower still"}
        )
    return result
