"""Matching, pure: every condition, priority, ties (version, then updated_at), no match, reasoning."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from exception_playbook.matching import Facts, MatchablePlaybook, compile_candidate, match

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def pb(
    name: str, match_: dict[str, Any] | None = None, priority: int = 0, version: int = 1, age_s: int = 0
) -> MatchablePlaybook:
    return compile_candidate(
        playbook_id=uuid.uuid4(),
        name=name,
        version=version,
        updated_at=NOW - timedelta(seconds=age_s),
        conditions={"match": match_ or {}, "priority": priority},
    )


def facts(**kw: Any) -> Facts:
    values: dict[str, Any] = {
        "domain": "Finance",
        "exception_type": "Trade Settlement Failure",
        "severity": "high",
        "sla_deadline": None,
        "policy_tags": frozenset(),
    }
    values.update(kw)
    values["policy_tags"] = frozenset(values["policy_tags"])
    return Facts(**values)


@pytest.mark.parametrize(
    ("condition", "fits", "misses", "reason"),
    [
        ({"domain": "finance"}, {"domain": "Finance"}, {"domain": "Claims"}, "domain Claims is not finance"),
        (
            {"exception_type": "Trade Settlement Failure"},
            {"exception_type": "trade settlement failure"},
            {"exception_type": "Duplicate Claim"},
            "exception_type Duplicate Claim",
        ),
        ({"severity_in": ["high", "critical"]}, {"severity": "critical"}, {"severity": "low"}, "severity low not in"),
        (
            {"sla_minutes_remaining_lt": 60},
            {"sla_deadline": NOW + timedelta(minutes=30)},
            {"sla_deadline": NOW + timedelta(minutes=90)},
            "90 minutes remaining, not fewer than 60",
        ),
        ({"sla_minutes_remaining_lt": 60}, {"sla_deadline": NOW - timedelta(minutes=5)}, {}, "no SLA deadline"),
        ({"policy_tags": ["margin_call", "reg"]}, {"policy_tags": {"reg"}}, {"policy_tags": {"other"}}, "none of"),
        ({"policy_tags": {"any": ["a", "b"]}}, {"policy_tags": {"b", "z"}}, {"policy_tags": set()}, "none of"),
        (
            {"policy_tags": {"all": ["a", "b"]}},
            {"policy_tags": {"a", "b", "c"}},
            {"policy_tags": {"a"}},
            "missing policy tags ['b']",
        ),
    ],
)
def test_each_condition_matches_and_misses(
    condition: dict[str, Any], fits: dict[str, Any], misses: dict[str, Any], reason: str
) -> None:
    candidate = pb("only", condition)
    hit = match(facts(**fits), [candidate], NOW)
    assert hit.selected == candidate
    miss = match(facts(**misses), [candidate], NOW)
    assert miss.selected is None
    assert reason in miss.rejected_examples[0]["reason"]
    assert reason in miss.summary() and miss.summary().startswith("No playbook matches")


def test_all_conditions_together_must_hold() -> None:
    full = pb(
        "full",
        {
            "domain": "Finance",
            "exception_type": "Trade Settlement Failure",
            "severity_in": ["high"],
            "sla_minutes_remaining_lt": 60,
            "policy_tags": ["margin_call"],
        },
    )
    good = facts(sla_deadline=NOW + timedelta(minutes=10), policy_tags={"margin_call"})
    result = match(good, [full], NOW)
    assert result.selected == full
    assert result.matched_on == [
        "domain is Finance",
        "exception_type is Trade Settlement Failure",
        "severity high in ['high']",
        "10 minutes remaining < 60",
        "policy tags include ['margin_call']",
    ]
    assert match(facts(sla_deadline=NOW + timedelta(minutes=10)), [full], NOW).selected is None  # tag missing


def test_highest_priority_wins_and_runners_up_say_why() -> None:
    low = pb("low", {"domain": "Finance"}, priority=10)
    high = pb("high", {"severity_in": ["high"]}, priority=100)
    other = pb("claims", {"domain": "Claims"}, priority=1000)
    result = match(facts(), [low, other, high], NOW)
    assert result.selected == high
    assert result.runners_up[0]["playbook_id"] == str(low.playbook_id)
    assert result.runners_up[0]["reason"] == "lower priority (10 < 100)"
    assert result.rejected == 1
    summary = result.summary()
    assert summary.startswith("Selected 'high' v1 (priority 100)")
    assert "'low' v1 lost on lower priority (10 < 100)" in summary
    assert "'claims' v1: domain Finance is not claims" in summary
    assert result.details()["selected"]["name"] == "high"


def test_ties_go_to_the_higher_version_then_the_most_recently_updated() -> None:
    v1 = pb("a", priority=5, version=1)
    v3 = pb("b", priority=5, version=3, age_s=100)
    v3_newer = pb("c", priority=5, version=3, age_s=10)
    result = match(facts(), [v1, v3, v3_newer], NOW)
    assert result.selected == v3_newer
    reasons = {r["playbook_id"]: r["reason"] for r in result.runners_up}
    assert reasons[str(v3.playbook_id)].startswith("same priority and version, updated earlier")
    assert reasons[str(v1.playbook_id)] == "same priority 5, lower version (1 < 3)"
    assert match(facts(), [v1, v3], NOW).selected == v3


def test_identical_rank_is_decided_the_same_way_every_time() -> None:
    a, b = pb("a", priority=1), pb("b", priority=1)
    b = MatchablePlaybook(**{**{f: getattr(b, f) for f in MatchablePlaybook.__slots__}, "updated_at": a.updated_at})
    assert match(facts(), [a, b], NOW).selected == match(facts(), [b, a], NOW).selected


def test_no_candidates_and_no_match() -> None:
    none = match(facts(), [], NOW)
    assert none.selected is None and none.summary() == "No playbook matches: the tenant has no playbooks."
    result = match(facts(), [pb("x", {"domain": "Claims"}), pb("y", {"severity_in": ["low"]})], NOW)
    assert result.selected is None and result.rejected == 2 and result.considered == 2
    assert result.details()["selected"] is None


def test_a_playbook_without_conditions_matches_everything() -> None:
    catch_all = pb("catch-all")
    result = match(facts(domain="Healthcare"), [catch_all], NOW)
    assert result.selected == catch_all and result.matched_on == ["no conditions: matches every exception"]


def test_many_runners_up_are_summarised() -> None:
    many = [pb(f"p{i}", priority=i) for i in range(10)]
    result = match(facts(), many, NOW)
    assert result.selected is not None and result.selected.name == "p9"
    assert len(result.runners_up) == 4 and result.runners_up[-1]["playbook"] == "6 more"


@pytest.mark.parametrize(
    "conditions",
    [
        {"match": {"colour": "red"}},
        {"match": {"severity_in": ["urgent"]}},
        {"match": {"severity_in": []}},
        {"match": {"policy_tags": {}}},
        {"match": {}, "priority": "high"},
        {"match": {}, "weight": 1},
    ],
)
def test_invalid_conditions_are_refused(conditions: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        compile_candidate(playbook_id=uuid.uuid4(), name="x", version=1, updated_at=NOW, conditions=conditions)
