"""The search engine: embeddings + vector index kept in step with PostgreSQL, and the search pipeline."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from playbooks_contracts.recommendation import (
    SEARCHABLE_STATUSES,
    Intent,
    SearchRequest,
    SearchResponse,
    SearchResult,
    s3_path_of,
)
from playbooks_platform.llm import LlmEndpoint

from . import llm_ranking, ranking, reasons
from .embeddings import Embedder, EmbeddingCache, QueryVectorCache, content_hash, embed_documents
from .intent import parse_intent
from .library import LIBRARY_TENANT, LibraryPlaybook, load_library
from .models import artifacts, execution_stats, playbook_versions
from .ranking import Candidate
from .vector_index import TENANTS, IndexFilter, IndexPoint, VectorIndex, point_id

log = logging.getLogger(__name__)


def _with_stats() -> Any:
    """Versions with their execution counts (the index payload carries both)."""
    s = execution_stats.c
    v = playbook_versions.c
    return select(playbook_versions, s.success_count, s.failure_count).select_from(
        playbook_versions.outerjoin(
            execution_stats,
            (s.org_id == v.org_id)
            & (s.source == "tenant")
            & (s.playbook_id == v.playbook_id)
            & (s.version == v.version),
        )
    )


def _live_fields(row: Any) -> dict[str, Any]:
    """The payload fields that change without re-embedding: status and the success record."""
    return {"status": row.status, "success_count": row.success_count or 0, "failure_count": row.failure_count or 0}


def payload_of(tenant: str, source: str, document: dict[str, Any], status: str, chash: str) -> dict[str, Any]:
    meta = document["metadata"]
    return {
        "tenant": tenant,
        "source": source,
        "playbook_id": meta["playbook_id"],
        "version": meta["version"],
        "cloud_provider": list(meta.get("cloud_provider", [])),
        "resource_types": list(meta.get("resource_types", [])),
        "category": (meta.get("tags") or {}).get("category"),
        "status": status,
        "content_hash": chash,
    }


class SearchEngine:
    def __init__(self, *, embedder: Embedder, index: VectorIndex, cache: EmbeddingCache | None, settings: Any) -> None:
        self.embedder = embedder
        self.index = index
        self.cache = cache
        self.settings = settings
        self.query_cache = QueryVectorCache(settings.query_cache_entries, settings.query_cache_per_tenant)
        self.library = {p.key: p for p in load_library()}
        # What ranking reads of a library playbook depends on the library only: read once, not per search.
        self._library_reads = {
            key: (ranking.words_of(p.raw["metadata"]), reasons.facts_of(p.raw)) for key, p in self.library.items()
        }
        self.library_artifacts: dict[str, bytes] = {
            f["checksum"]: f["content"].encode()
            for p in self.library.values()
            for f in p.raw["execution_formats"].values()
            if f
        }

    def hash_of(self, metadata: dict[str, Any]) -> str:
        return content_hash(ranking.document_text(metadata), self.embedder.name)

    # -- keeping the index in step ------------------------------------------------------

    async def index_library(self) -> int:
        """Upsert library points that are missing or whose text changed; returns how many were written."""
        wanted: dict[str, tuple[dict[str, Any], str]] = {}
        for (pid, version), p in self.library.items():
            wanted[point_id(pid, version)] = (p.raw, self.hash_of(p.raw["metadata"]))
        # In the tenant collection as the tenant LIBRARY_TENANT, so one call searches both (vector_index.py).
        present = await self.index.payloads(TENANTS, list(wanted))
        todo = {i: w for i, w in wanted.items() if present.get(i, {}).get("content_hash") != w[1]}
        if todo:
            vectors = await embed_documents(
                self.embedder,
                self.cache,
                [(h, ranking.document_text(doc["metadata"])) for doc, h in todo.values()],
            )
            points = [
                IndexPoint(i, vectors[h], payload_of(LIBRARY_TENANT, "library", doc, "active", h))
                for i, (doc, h) in todo.items()
            ]
            await self.index.upsert(TENANTS, points)
        return len(todo)

    async def sync_rows(self, rows: Sequence[Any]) -> int:
        """Make the tenant points of these rows (versions joined with their stats) match PostgreSQL."""
        if not rows:
            return 0
        ids = [point_id(r.playbook_id, r.version, r.org_id) for r in rows]
        present = await self.index.payloads(TENANTS, ids)
        to_embed: list[tuple[str, Any]] = []
        for pid, r in zip(ids, rows, strict=True):
            have = present.get(pid)
            if have is not None and have.get("content_hash") == r.content_hash:
                live = _live_fields(r)
                if any(have.get(k) != v for k, v in live.items()):
                    await self.index.set_payload(TENANTS, [pid], live)
            else:
                to_embed.append((pid, r))
        if to_embed:
            vectors = await embed_documents(
                self.embedder,
                self.cache,
                [(r.content_hash, ranking.document_text(r.document["metadata"])) for _, r in to_embed],
            )
            points = [
                IndexPoint(
                    pid,
                    vectors[r.content_hash],
                    payload_of(r.org_id, r.source, r.document, r.status, r.content_hash) | _live_fields(r),
                )
                for pid, r in to_embed
            ]
            await self.index.upsert(TENANTS, points)
        return len(to_embed)

    async def refresh(self, session: AsyncSession, org_id: str, keys: Iterable[tuple[str, str]]) -> None:
        """After a commit: the points of these versions follow PostgreSQL (deleted rows lose their point)."""
        keys = list(dict.fromkeys(keys))
        if not keys:
            return
        rows = (
            await session.execute(
                _with_stats().where(
                    playbook_versions.c.org_id == org_id,
                    tuple_(playbook_versions.c.playbook_id, playbook_versions.c.version).in_(keys),
                )
            )
        ).all()
        found = {(r.playbook_id, r.version) for r in rows}
        gone = [point_id(pid, v, org_id) for pid, v in keys if (pid, v) not in found]
        if gone:
            await self.index.delete(TENANTS, gone)
        await self.sync_rows(rows)

    async def reconcile_all(self, session: AsyncSession, batch: int = 2000) -> int:
        """Start-up: every tenant version in PostgreSQL has its point (a lost or new index folder is rebuilt)."""
        written = 0
        last: tuple[str, str, str] = ("", "", "")
        while True:
            rows = (
                await session.execute(
                    _with_stats()
                    .where(
                        tuple_(playbook_versions.c.org_id, playbook_versions.c.playbook_id, playbook_versions.c.version)
                        > last
                    )
                    .order_by(playbook_versions.c.org_id, playbook_versions.c.playbook_id, playbook_versions.c.version)
                    .limit(batch)
                )
            ).all()
            if not rows:
                return written
            written += await self.sync_rows(rows)
            last = (rows[-1].org_id, rows[-1].playbook_id, rows[-1].version)

    # -- search ------------------------------------------------------------------------

    async def query_vector(self, org_id: str, query: str) -> np.ndarray:
        """The query's vector: from this tenant's recent queries, else embedded (and kept)."""
        key = self.embedder.query_key(query)
        vector = self.query_cache.get(org_id, key)
        if vector is None:
            vector = await self.embedder.embed_query(key)
            self.query_cache.put(org_id, key, vector)
        return vector

    async def search(self, *, session: AsyncSession, org_id: str, request: SearchRequest) -> SearchResponse:
        started = time.perf_counter()
        intent = await parse_intent(request.query, self.settings)
        vector, degraded = await self._bounded_query_vector(org_id, request.query)
        flt, sources = _index_filter(request, intent)
        if vector is None:
            candidates = await self._candidates_without_vectors(session, org_id, flt, sources)
        else:
            candidates = await self._candidates_by_vector(session, org_id, vector, flt, sources, request.limit)
        await self._attach_stats(session, org_id, candidates)
        threshold = self.settings.broken_after_failures
        # A library version failing repeatedly for this tenant is hidden for this tenant only.
        candidates = [
            c for c in candidates if not (c.source == "library" and c.stats.consecutive_failures >= threshold)
        ]
        ranked = ranking.rank(candidates, intent, request.query, semantic=degraded is None)
        if degraded:
            # Without a similarity, a candidate matching no word and no part of the intent has no claim at all.
            ranked = [c for c in ranked if c.lexical > 0 or c.fit > 0]
        ranked_by = "rules"
        assessments: dict[tuple[str, str, str], str] = {}
        # Only after a valid LLM intent: a late or broken endpoint costs one timeout per search, not two.
        if self.settings.llm_url and self.settings.llm_rank and intent.parser == "llm" and ranked:
            ranked, assessments, ranked_by = await self._llm_ranked(request.query, intent, ranked)
        ranked = ranked[: request.limit]
        scripts = await self._scripts(session, org_id, ranked)
        results = [
            _result(i + 1, c, intent, scripts[i], assessments.get((c.source, c.playbook_id, c.version)), degraded)
            for i, c in enumerate(ranked)
        ]
        took = (time.perf_counter() - started) * 1000
        matched = any(r.match == "strong" for r in results)
        return SearchResponse(
            query=request.query,
            intent=intent,
            results=results,
            took_ms=round(took, 2),
            degraded=degraded,
            matched=matched,
            notice=None if matched else reasons.notice(intent),
            ranked_by=ranked_by,  # type: ignore[arg-type]
        )

    async def _llm_ranked(
        self, query: str, intent: Intent, ranked: list[Candidate]
    ) -> tuple[list[Candidate], dict[tuple[str, str, str], str], str]:
        """Seed 002's STEP 3 over the first candidates; the deterministic order when the LLM fails in any way."""
        s = self.settings
        endpoint = LlmEndpoint(
            url=s.llm_url,
            model=s.llm_model,
            api_key=s.llm_api_key.get_secret_value() if s.llm_api_key else None,
            timeout_s=s.llm_timeout_s,
            max_answer_bytes=256 * 1024,
        )
        head, tail = ranked[: s.llm_rank_candidates], ranked[s.llm_rank_candidates :]
        verdict = await llm_ranking.rank_with_llm(query, intent, head, endpoint)
        if verdict is None:
            return ranked, {}, "rules"
        return verdict.order + tail, verdict.assessments, "llm"

    async def _bounded_query_vector(self, org_id: str, query: str) -> tuple[np.ndarray | None, str | None]:
        """The query vector within ``embed_timeout_s``; on a late or failing embedder, None and why.

        The bound is on an endpoint's answer: the in-process model is not cut (its pass would go on in its thread
        anyway, and the answer would lose its similarity for nothing), as when it ran on the event loop."""
        timeout = self.settings.embed_timeout_s
        try:
            async with asyncio.timeout(timeout if self.embedder.remote else None):
                return await self.query_vector(org_id, query), None
        except Exception as exc:  # any embedder failure: the rules still answer, without a similarity
            kind = type(exc).__name__
            log.warning(
                "query embedding unavailable; ranking by keywords and intent only",
                extra={"embedder": self.embedder.name, "error": f"{kind}: {exc}"[:300], "embed_timeout_s": timeout},
            )
            return None, f"semantic search unavailable ({kind}): ranked by keywords and intent only"

    async def _candidates_by_vector(
        self,
        session: AsyncSession,
        org_id: str,
        vector: np.ndarray,
        flt: IndexFilter,
        sources: set[str],
        limit: int,
    ) -> list[Candidate]:
        n = max(self.settings.candidates_per_collection, limit * 3)
        want_library, want_tenant = "library" in sources, bool(sources & {"tenant", "ai_generated"})
        # The library's request and the tenant's in one call, each with the tenant inside its filter.
        requests = [(replace(flt, tenant=LIBRARY_TENANT), n)] if want_library else []
        requests += [(replace(flt, tenant=org_id), n)] if want_tenant else []
        if not requests:
            return []
        results = await self.index.search_batch(TENANTS, vector, requests)
        candidates: list[Candidate] = []
        if want_library:
            for hit in results[0]:
                p = self.library.get((hit.payload["playbook_id"], hit.payload["version"]))
                if p is not None:
                    candidates.append(self._library_candidate(p, hit.score))
        if want_tenant:
            candidates.extend(await self._tenant_candidates(session, org_id, results[-1], sources))
        return candidates

    def _library_candidate(self, p: LibraryPlaybook, similarity: float) -> Candidate:
        words, facts = self._library_reads[p.key]
        return Candidate("library", p.key[0], p.key[1], "active", similarity, p.raw, words=words, facts=facts)

    async def _candidates_without_vectors(
        self, session: AsyncSession, org_id: str, flt: IndexFilter, sources: set[str]
    ) -> list[Candidate]:
        """The library and the tenant's newest searchable versions under the same filters, similarity 0."""
        candidates = [
            self._library_candidate(p, 0.0)
            for p in self.library.values()
            if "library" in sources and _passes(flt, p.raw["metadata"], "active")
        ]
        kinds = sources & {"tenant", "ai_generated"}
        if kinds:
            v = playbook_versions.c
            rows = (
                await session.execute(
                    select(v.playbook_id, v.version, v.status, v.source, v.document)
                    .where(v.org_id == org_id, v.status.in_(flt.statuses), v.source.in_(sorted(kinds)))
                    .order_by(v.updated_at.desc(), v.playbook_id, v.version)
                    .limit(self.settings.fallback_tenant_limit)
                )
            ).all()
            candidates.extend(
                Candidate(r.source, r.playbook_id, r.version, r.status, 0.0, r.document)
                for r in rows
                if _passes(flt, r.document["metadata"], r.status)
            )
        return candidates

    async def _tenant_candidates(
        self, session: AsyncSession, org_id: str, hits: list[Any], sources: set[str]
    ) -> list[Candidate]:
        if not hits:
            return []
        keys = [(h.payload["playbook_id"], h.payload["version"]) for h in hits]
        rows = (
            await session.execute(
                select(
                    playbook_versions.c.playbook_id,
                    playbook_versions.c.version,
                    playbook_versions.c.status,
                    playbook_versions.c.source,
                    playbook_versions.c.document,
                ).where(
                    playbook_versions.c.org_id == org_id,
                    tuple_(playbook_versions.c.playbook_id, playbook_versions.c.version).in_(keys),
                )
            )
        ).all()
        by_key = {(r.playbook_id, r.version): r for r in rows}
        out = []
        for h, key in zip(hits, keys, strict=True):
            r = by_key.get(key)
            # PostgreSQL decides: a point whose row is gone or no longer searchable is skipped.
            if r is None or r.status not in SEARCHABLE_STATUSES or r.source not in sources:
                continue
            out.append(Candidate(r.source, key[0], key[1], r.status, h.score, r.document))
        return out

    async def _attach_stats(self, session: AsyncSession, org_id: str, candidates: list[Candidate]) -> None:
        if not candidates:
            return
        kind = {"library": "library", "tenant": "tenant", "ai_generated": "tenant"}
        keys = [(kind[c.source], c.playbook_id, c.version) for c in candidates]
        s = execution_stats.c
        rows = (
            await session.execute(
                select(execution_stats).where(s.org_id == org_id, tuple_(s.source, s.playbook_id, s.version).in_(keys))
            )
        ).all()
        by_key = {(r.source, r.playbook_id, r.version): r for r in rows}
        for c, key in zip(candidates, keys, strict=True):
            r = by_key.get(key)
            if r is not None:
                c.stats = ranking.stats_of(r.success_count, r.failure_count, r.consecutive_failures, r.last_executed_at)

    async def _scripts(self, session: AsyncSession, org_id: str, ranked: list[Candidate]) -> list[dict[str, Any]]:
        shas = {
            f["checksum"]
            for c in ranked
            if c.source != "library"
            for f in c.document["execution_formats"].values()
            if f and f.get("checksum")
        }
        contents: dict[str, str] = {}
        if shas:
            rows = await session.execute(
                select(artifacts.c.sha256, artifacts.c.content).where(
                    artifacts.c.org_id == org_id, artifacts.c.sha256.in_(shas)
                )
            )
            contents = {r.sha256: r.content.decode("utf-8", "replace") for r in rows}
        out = []
        for c in ranked:
            formats = {}
            for name, f in c.document["execution_formats"].items():
                if not f:
                    continue
                content = f.get("content") if c.source == "library" else contents.get(f.get("checksum", ""))
                owner = None if c.source == "library" else org_id
                # ``code`` and ``s3_path``: seed 002's name of the content and its clients' handle on the file.
                formats[name] = {
                    **f,
                    "content": content,
                    "code": content,
                    "s3_path": s3_path_of(owner, c.playbook_id, c.version, f"{name}/{f['entry_point']}"),
                }
            out.append(formats)
        return out


def _passes(flt: IndexFilter, metadata: dict[str, Any], status: str) -> bool:
    """The index filter, applied to a document in memory (list fields match when they share a value)."""
    if flt.statuses and status not in flt.statuses:
        return False
    if flt.cloud_providers and not set(metadata.get("cloud_provider", [])) & set(flt.cloud_providers):
        return False
    if flt.resource_types and not set(metadata.get("resource_types", [])) & set(flt.resource_types):
        return False
    return not (flt.category and (metadata.get("tags") or {}).get("category") != flt.category)


def _plan_for_display(plan: dict[str, Any]) -> dict[str, Any]:
    """The explain plan, plus the flat ``steps``/``impact`` the console lists."""
    steps = [f"{s['step']}. {s['action']}: {s['details']}" for s in plan.get("what_happens", [])]
    return {**plan, "steps": steps, "impact": plan.get("estimated_impact", {})}


def _index_filter(request: SearchRequest, intent: Intent) -> tuple[IndexFilter, set[str]]:
    """What the index may return, and from which sources: the request's filters, else the intent's clouds
    (with Kubernetes, which runs on any of them)."""
    filters = request.filters
    cloud = [p for p in intent.cloud_provider if p != "kubernetes"]
    providers: list[str] = (
        list(filters.cloud_provider)
        if filters and filters.cloud_provider
        else ([*cloud, "kubernetes"] if cloud else [])
    )
    flt = IndexFilter(
        statuses=SEARCHABLE_STATUSES,
        cloud_providers=providers,
        resource_types=list(filters.resource_types) if filters and filters.resource_types else [],
        category=filters.category if filters else None,
    )
    sources: set[str] = set(filters.sources) if filters and filters.sources else {"tenant", "library", "ai_generated"}
    return flt, sources


def _result(
    rank: int, c: Candidate, intent: Intent, scripts: dict[str, Any], assessment: Any, degraded: str | None
) -> SearchResult:
    return SearchResult(
        rank=rank,
        playbook_id=c.playbook_id,
        version=c.version,
        name=c.metadata["name"],
        source=c.source,  # type: ignore[arg-type]
        status=c.status,  # type: ignore[arg-type]
        confidence=c.confidence,
        reason=ranking.reason(c, intent, semantic=degraded is None),
        warnings=ranking.warnings(c, intent),
        score=round(c.score, 3),
        similarity=round(c.similarity, 4),
        stats=c.stats,
        metadata={**c.metadata, "status": c.status},
        parameters=c.document["parameters"],
        explain_plan=_plan_for_display(c.document["explain_plan"]),
        scripts=scripts,
        match="weak" if c.weak_why else "strong",
        assessment=assessment,
    )
