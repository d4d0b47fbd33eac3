"""Ranking: relevance (similarity, keyword and intent fit) weighted by quality (status, source, success record,
executions, recency, newest version); every result carries a confidence and a reason built from those factors.

The intent fit reads the playbook's facts only (:mod:`.reasons`); a result whose facts contradict the request is
weak and ranks after every strong one."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from playbooks_contracts.recommendation import Intent, PlaybookStats, version_key

from . import reasons
from .intent import normalise, requested_actions

STATUS_BONUS = {"active": 50, "approved": 50, "needs_update": 20, "deprecated": 10, "pending_review": 5}
SOURCE_BONUS = {"tenant": 20, "library": 10, "ai_generated": 0}
SOURCE_LABEL = {
    "tenant": "your team's playbook",
    "library": "library playbook",
    "ai_generated": "AI-generated playbook",
}
EXECUTION_CAP = 20


@dataclass
class Candidate:
    source: str  # tenant | library | ai_generated
    playbook_id: str
    version: str
    status: str
    similarity: float
    document: dict[str, Any]
    stats: PlaybookStats = field(default_factory=PlaybookStats)
    # What ranking reads of the document, when known beforehand (a library playbook's are computed once per process).
    words: frozenset[str] | None = None
    facts: reasons.Facts | None = None
    lexical: float = 0.0
    fit: float = 0.0
    fit_notes: list[str] = field(default_factory=list)
    differs: list[str] = field(default_factory=list)
    weak_why: list[str] = field(default_factory=list)
    quality: float = 0.0
    score: float = 0.0
    confidence: float = 0.0
    latest: bool = True

    @property
    def metadata(self) -> dict[str, Any]:
        return self.document["metadata"]


def document_text(metadata: dict[str, Any]) -> str:
    """What is embedded for a playbook version (and what its content hash covers)."""
    parts = [
        metadata["name"],
        metadata["description"],
        metadata.get("purpose", ""),
        "; ".join(metadata.get("use_cases", [])),
        "keywords: " + ", ".join(metadata.get("keywords", [])),
        "resources: " + ", ".join(metadata.get("resource_types", [])),
        "cloud: " + ", ".join(metadata.get("cloud_provider", [])),
    ]
    return "\n".join(p for p in parts if p)


_TOKEN = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> list[str]:
    return [_stem(t) for t in _TOKEN.findall(text.lower()) if len(t) > 1]


def _stem(word: str) -> str:
    for suffix in ("ing", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


@lru_cache(maxsize=65_536)
def _token_set(text: str) -> frozenset[str]:
    return frozenset(tokens(text))


def words_of(metadata: dict[str, Any]) -> frozenset[str]:
    """The words of a playbook that a query's words are looked up in: name, keywords, use cases, description and
    resource types, tokenised as queries are."""
    text = " ".join(
        [
            metadata["name"],
            " ".join(metadata.get("keywords", [])),
            " ".join(metadata.get("use_cases", [])),
            metadata["description"],
            " ".join(metadata.get("resource_types", [])),
        ]
    )
    return _token_set(text)


def lexical_score(query_tokens: list[str], metadata: dict[str, Any], words: frozenset[str] | None = None) -> float:
    """Share of the query's words found in the playbook's name, keywords and use cases (0-1)."""
    if not query_tokens:
        return 0.0
    if words is None:
        words = words_of(metadata)
    hits = sum(1 for t in query_tokens if t in words)
    return hits / len(query_tokens)


def quality_score(c: Candidate, now: datetime) -> float:
    q: float = STATUS_BONUS.get(c.status, 0) + SOURCE_BONUS.get(c.source, 0)
    runs = c.stats.success_count + c.stats.failure_count
    if runs:
        q += 20 * (c.stats.success_rate or 0.0)
        q += 10 * min(runs, EXECUTION_CAP) / EXECUTION_CAP
    updated = c.metadata.get("updated_at")
    if updated:
        age_days = (now - datetime.fromisoformat(str(updated))).total_seconds() / 86_400
        q += 5 if age_days <= 30 else 2 if age_days <= 90 else 0
    if c.latest:
        q += 5
    return q


def rank(
    candidates: list[Candidate], intent: Intent, query: str, now: datetime | None = None, *, semantic: bool = True
) -> list[Candidate]:
    """Score, order and explain; relevance multiplies quality so an irrelevant trusted playbook cannot win."""
    now = now or datetime.now(UTC)
    latest: dict[tuple[str, str], tuple[int, int, int]] = {}
    for c in candidates:
        key = (c.source, c.playbook_id)
        latest[key] = max(latest.get(key, (0, 0, 0)), version_key(c.version))
    q_tokens = [t for t in tokens(normalise(query)) if t not in _QUERY_STOP]
    mentioned = requested_actions(query)
    for c in candidates:
        c.latest = version_key(c.version) == latest[(c.source, c.playbook_id)]
        c.lexical = lexical_score(q_tokens, c.metadata, c.words)
        facts = c.facts if c.facts is not None else reasons.facts_of(c.document)
        fit = reasons.intent_fit(intent, facts, mentioned)
        c.fit, c.fit_notes, c.differs = fit.score, fit.agrees, fit.differs
        c.weak_why = reasons.weakness(intent, fit, c.similarity if semantic else None, c.lexical)
        c.quality = quality_score(c, now)
        relevance = max(c.similarity + 0.25 * c.lexical + 0.35 * c.fit, 0.01)
        c.score = relevance * (100 + c.quality)
        closeness = min(max((c.similarity - 0.15) / 0.55, 0.0), 1.0)
        conf = 0.5 * closeness + 0.25 * max(c.fit, 0.0) + 0.25 * min(c.quality / 110, 1.0)
        if c.status in ("pending_review", "deprecated", "needs_update"):
            conf *= 0.8
        if c.weak_why:
            conf = min(conf, reasons.WEAK_CONFIDENCE_CAP)
        c.confidence = round(min(max(conf, 0.0), 1.0), 3)
    return sorted(
        candidates, key=lambda c: (bool(c.weak_why), -c.score, c.playbook_id, [-x for x in version_key(c.version)])
    )


_QUERY_STOP = frozenset(
    {
        "the",
        "for",
        "and",
        "our",
        "my",
        "all",
        "over",
        "with",
        "from",
        "into",
        "that",
        "this",
        "please",
        "to",
        "of",
        "in",
        "on",
        "it",
        "is",
        "we",
        "me",
        "need",
        "want",
        "how",
        "do",
        "can",
        "some",
        "every",
        "during",
        "an",
    }
)


def reason(c: Candidate, intent: Intent, *, semantic: bool = True) -> str:
    """Why this result: source, status, record, intent fit, and the text match that was measured."""
    parts = [f"{SOURCE_LABEL[c.source].capitalize()}, status {c.status}"]
    runs = c.stats.success_count + c.stats.failure_count
    if runs:
        parts.append(f"{c.stats.success_count}/{runs} successful runs")
    else:
        parts.append("no recorded runs yet")
    if c.fit_notes:
        parts.append("fits the request: " + ", ".join(c.fit_notes))
    if c.differs:
        parts.append("differs from it: " + ", ".join(c.differs))
    if semantic:
        parts.append(f"text similarity {c.similarity:.2f}")
    else:
        parts.append(f"keyword match {c.lexical:.2f} (semantic search unavailable)")
    if not c.latest:
        parts.append("a newer version exists")
    return "; ".join(parts) + "."


def warnings(c: Candidate, intent: Intent) -> list[str]:
    out: list[str] = []
    if c.weak_why:
        out.append("Weak match: " + "; ".join(c.weak_why) + ".")
    if c.status == "deprecated":
        out.append("Deprecated: a newer version replaces this one; prefer the newer version.")
    if c.status == "pending_review":
        out.append("Pending review: not approved yet and untested; check the scripts before running.")
    if c.status == "needs_update":
        out.append("Needs update: works but is outdated; review before use.")
    runs = c.stats.success_count + c.stats.failure_count
    if runs >= 3 and (c.stats.success_rate or 0) < 0.8:
        out.append(f"Low success rate: {c.stats.success_count}/{runs} runs succeeded.")
    if c.stats.consecutive_failures:
        out.append(f"The last {c.stats.consecutive_failures} run(s) failed.")
    if intent.environment == "production":
        plan = " ".join(
            s.get("action", "") + " " + s.get("details", "") for s in c.document["explain_plan"]["what_happens"]
        )
        risky = (c.metadata.get("tags") or {}).get("risk_level") in ("medium", "high", "critical")
        if risky and "snapshot" not in plan.lower() and "backup" not in plan.lower():
            out.append("Production: this playbook takes no snapshot; back up the resource first.")
    if (c.metadata.get("tags") or {}).get("requires_approval"):
        out.append("Requires approval before it runs.")
    return out


def stats_of(success: int, failure: int, consecutive: int, last: datetime | None) -> PlaybookStats:
    runs = success + failure
    return PlaybookStats(
        success_count=success,
        failure_count=failure,
        consecutive_failures=consecutive,
        success_rate=round(success / runs, 4) if runs else None,
        last_executed_at=last,
    )


def keyword_baseline(query: str, documents: list[dict[str, Any]], limit: int) -> list[int]:
    """The keyword-only baseline the benchmark compares against: BM25 over name, keywords, use cases, description."""
    q = [t for t in tokens(normalise(query)) if t not in _QUERY_STOP]
    docs = [tokens(document_text(d["metadata"])) for d in documents]
    n = len(docs)
    avg = sum(len(d) for d in docs) / max(n, 1)
    df: dict[str, int] = {}
    for d in docs:
        for t in set(d):
            df[t] = df.get(t, 0) + 1
    scores = []
    for i, d in enumerate(docs):
        tf: dict[str, int] = {}
        for t in d:
            tf[t] = tf.get(t, 0) + 1
        s = 0.0
        for t in q:
            if t in tf:
                idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                s += idf * tf[t] * 2.2 / (tf[t] + 1.2 * (0.25 + 0.75 * len(d) / avg))
        scores.append((s, i))
    scores.sort(key=lambda x: -x[0])
    return [i for s, i in scores[:limit] if s > 0]
