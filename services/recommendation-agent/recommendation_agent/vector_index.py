"""The vector index behind one small interface: Qdrant Edge in-process (default) or a Qdrant server.

Multi-tenancy follows Qdrant's guidance: not a collection per tenant, but one collection for the
global library and one for every tenant's playbooks, partitioned by a ``tenant`` keyword payload
index (``is_tenant`` on a server, which co-locates a tenant's points; on Edge an indexed keyword
field, one shard per collection). Searches of the tenant collection always filter by tenant.

The library's points live in the tenant collection too, as the tenant ``_library`` (never an org id),
so that a search asks for both in one call (``search_batch``: the library's request and the tenant's,
each with its own filter, planned together). The library collection is still created, for replicas of
an older release during a rolling upgrade, which read the library from it.
Point ids are uuid5(playbook id + version), so re-indexing a version overwrites its point.
PostgreSQL stays the source of truth; the index is rebuilt from it when points are missing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

LIBRARY = "playbooks_library"
TENANTS = "playbooks_tenants"
COLLECTIONS = (LIBRARY, TENANTS)
POINT_NAMESPACE = uuid.UUID("3b8f0c5e-9a4d-5f7e-8c21-6d0e4b7a9f13")
KEYWORD_FIELDS = ("status", "cloud_provider", "resource_types", "category", "source", "playbook_id")


def point_id(playbook_id: str, version: str, tenant: str | None = None) -> str:
    """uuid5 of playbook id + version (and the tenant, so two tenants' same ids never collide)."""
    name = f"{playbook_id}@{version}" if tenant is None else f"{tenant}/{playbook_id}@{version}"
    return str(uuid.uuid5(POINT_NAMESPACE, name))


@dataclass
class IndexPoint:
    id: str
    vector: np.ndarray
    payload: dict[str, Any]


@dataclass
class IndexFilter:
    tenant: str | None = None
    statuses: Sequence[str] = ()
    cloud_providers: Sequence[str] = ()
    resource_types: Sequence[str] = ()
    category: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Hit:
    id: str
    score: float
    payload: dict[str, Any]


class VectorIndex(Protocol):
    async def ensure(self) -> None: ...
    async def upsert(self, collection: str, points: Sequence[IndexPoint]) -> None: ...
    async def set_payload(self, collection: str, ids: Sequence[str], payload: dict[str, Any]) -> None: ...
    async def delete(self, collection: str, ids: Sequence[str]) -> None: ...
    async def search(self, collection: str, vector: np.ndarray, flt: IndexFilter, limit: int) -> list[Hit]: ...
    async def search_batch(
        self, collection: str, vector: np.ndarray, requests: Sequence[tuple[IndexFilter, int]]
    ) -> list[list[Hit]]:
        """One call for several (filter, limit) searches of one vector; one list of hits per request, in order."""
        ...

    async def payloads(self, collection: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]: ...
    async def count(self, collection: str, flt: IndexFilter | None = None) -> int: ...
    async def close(self) -> None: ...


class EdgeIndex:
    """Qdrant Edge: Qdrant's engine in this process, one shard folder per collection.

    One process owns the folder; searches run inline (sub-millisecond), bulk upserts in a thread.
    """

    def __init__(self, path: Path, dimensions: int) -> None:
        self.path = path
        self.dimensions = dimensions
        self._shards: dict[str, Any] = {}

    async def ensure(self) -> None:
        import qdrant_edge as q

        for name in COLLECTIONS:
            folder = self.path / name
            if folder.exists() and any(folder.iterdir()):
                shard = q.EdgeShard.load(str(folder))
            else:
                config = q.EdgeConfig(vectors=q.EdgeVectorParams(size=self.dimensions, distance=q.Distance.Cosine))
                shard = q.EdgeShard.create(str(folder), config)
                shard.update(q.UpdateOperation.create_field_index("tenant", q.KeywordIndexParams(is_tenant=True)))
                for key in KEYWORD_FIELDS:
                    shard.update(q.UpdateOperation.create_field_index(key, q.PayloadSchemaType.Keyword))
            self._shards[name] = shard

    def _filter(self, flt: IndexFilter) -> Any:
        import qdrant_edge as q

        must: list[Any] = []
        if flt.tenant is not None:
            must.append(q.FieldCondition("tenant", match=q.MatchValue(flt.tenant)))
        for key, values in (
            ("status", flt.statuses),
            ("cloud_provider", flt.cloud_providers),
            ("resource_types", flt.resource_types),
        ):
            if values:
                must.append(q.FieldCondition(key, match=q.MatchAny(list(values))))
        if flt.category:
            must.append(q.FieldCondition("category", match=q.MatchValue(flt.category)))
        for key, value in flt.extra.items():
            match = q.MatchAny(list(value)) if isinstance(value, list | tuple) else q.MatchValue(value)
            must.append(q.FieldCondition(key, match=match))
        return q.Filter(must=must) if must else None

    def _upsert_sync(self, collection: str, points: Sequence[IndexPoint]) -> None:
        import qdrant_edge as q

        shard = self._shards[collection]
        for start in range(0, len(points), 1000):
            batch = [q.Point(p.id, p.vector.tolist(), p.payload) for p in points[start : start + 1000]]
            shard.update(q.UpdateOperation.upsert_points(batch))
        shard.flush()

    async def upsert(self, collection: str, points: Sequence[IndexPoint]) -> None:
        if len(points) <= 20:
            self._upsert_sync(collection, points)
        else:
            await asyncio.to_thread(self._upsert_sync, collection, points)

    async def set_payload(self, collection: str, ids: Sequence[str], payload: dict[str, Any]) -> None:
        import qdrant_edge as q

        self._shards[collection].update(q.UpdateOperation.set_payload(list(ids), payload))

    async def delete(self, collection: str, ids: Sequence[str]) -> None:
        import qdrant_edge as q

        self._shards[collection].update(q.UpdateOperation.delete_points(list(ids)))

    async def search(self, collection: str, vector: np.ndarray, flt: IndexFilter, limit: int) -> list[Hit]:
        import qdrant_edge as q

        request = q.QueryRequest(
            limit=limit, query=q.Query.Nearest(vector.tolist()), filter=self._filter(flt), with_payload=True
        )
        return [Hit(str(p.id), float(p.score), dict(p.payload or {})) for p in self._shards[collection].query(request)]

    async def search_batch(
        self, collection: str, vector: np.ndarray, requests: Sequence[tuple[IndexFilter, int]]
    ) -> list[list[Hit]]:
        import qdrant_edge as q

        query = q.Query.Nearest(vector.tolist())
        batch = q.QueryBatchRequest(
            [q.QueryRequest(limit=n, query=query, filter=self._filter(flt), with_payload=True) for flt, n in requests]
        )
        return [
            [Hit(str(p.id), float(p.score), dict(p.payload or {})) for p in points]
            for points in self._shards[collection].query_batch(batch)
        ]

    async def payloads(self, collection: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        records = self._shards[collection].retrieve(list(ids), True, False)
        return {str(r.id): dict(r.payload or {}) for r in records}

    async def count(self, collection: str, flt: IndexFilter | None = None) -> int:
        import qdrant_edge as q

        request = q.CountRequest(filter=self._filter(flt)) if flt else q.CountRequest()
        return int(self._shards[collection].count(request))

    async def close(self) -> None:
        for shard in self._shards.values():
            shard.flush()
            shard.close()
        self._shards.clear()


class QdrantServerIndex:
    """A Qdrant server through qdrant-client (or its local mode, for tests of this class)."""

    def __init__(
        self, dimensions: int, url: str | None = None, api_key: str | None = None, location: str | None = None
    ):
        from qdrant_client import AsyncQdrantClient

        self.dimensions = dimensions
        self.client = AsyncQdrantClient(url=url, api_key=api_key, location=location)

    async def ensure(self) -> None:
        from qdrant_client import models as m

        for name in COLLECTIONS:
            if not await self.client.collection_exists(name):
                await self.client.create_collection(
                    name, vectors_config=m.VectorParams(size=self.dimensions, distance=m.Distance.COSINE)
                )
                await self.client.create_payload_index(
                    name, "tenant", field_schema=m.KeywordIndexParams(type=m.KeywordIndexType.KEYWORD, is_tenant=True)
                )
                for key in KEYWORD_FIELDS:
                    await self.client.create_payload_index(name, key, field_schema=m.PayloadSchemaType.KEYWORD)

    @staticmethod
    def _filter(flt: IndexFilter) -> Any:
        from qdrant_client import models as m

        must: list[Any] = []
        if flt.tenant is not None:
            must.append(m.FieldCondition(key="tenant", match=m.MatchValue(value=flt.tenant)))
        for key, values in (
            ("status", flt.statuses),
            ("cloud_provider", flt.cloud_providers),
            ("resource_types", flt.resource_types),
        ):
            if values:
                must.append(m.FieldCondition(key=key, match=m.MatchAny(any=list(values))))
        if flt.category:
            must.append(m.FieldCondition(key="category", match=m.MatchValue(value=flt.category)))
        for key, value in flt.extra.items():
            match = m.MatchAny(any=list(value)) if isinstance(value, list | tuple) else m.MatchValue(value=value)
            must.append(m.FieldCondition(key=key, match=match))
        return m.Filter(must=must) if must else None

    async def upsert(self, collection: str, points: Sequence[IndexPoint]) -> None:
        from qdrant_client import models as m

        for start in range(0, len(points), 500):
            batch = [
                m.PointStruct(id=p.id, vector=p.vector.tolist(), payload=p.payload) for p in points[start : start + 500]
            ]
            await self.client.upsert(collection, points=batch, wait=True)

    async def set_payload(self, collection: str, ids: Sequence[str], payload: dict[str, Any]) -> None:
        await self.client.set_payload(collection, payload=payload, points=list(ids), wait=True)

    async def delete(self, collection: str, ids: Sequence[str]) -> None:
        from qdrant_client import models as m

        await self.client.delete(collection, points_selector=m.PointIdsList(points=list(ids)), wait=True)

    async def search(self, collection: str, vector: np.ndarray, flt: IndexFilter, limit: int) -> list[Hit]:
        result = await self.client.query_points(
            collection, query=vector.tolist(), query_filter=self._filter(flt), limit=limit, with_payload=True
        )
        return [Hit(str(p.id), float(p.score), dict(p.payload or {})) for p in result.points]

    async def search_batch(
        self, collection: str, vector: np.ndarray, requests: Sequence[tuple[IndexFilter, int]]
    ) -> list[list[Hit]]:
        from qdrant_client import models as m

        query = vector.tolist()
        batch = [
            m.QueryRequest(query=query, filter=self._filter(flt), limit=n, with_payload=True) for flt, n in requests
        ]
        responses = await self.client.query_batch_points(collection, requests=batch)
        return [[Hit(str(p.id), float(p.score), dict(p.payload or {})) for p in r.points] for r in responses]

    async def payloads(self, collection: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        records = await self.client.retrieve(collection, ids=list(ids), with_payload=True, with_vectors=False)
        return {str(r.id): dict(r.payload or {}) for r in records}

    async def count(self, collection: str, flt: IndexFilter | None = None) -> int:
        count_filter = self._filter(flt) if flt else None
        return (await self.client.count(collection, count_filter=count_filter, exact=True)).count

    async def close(self) -> None:
        await self.client.close()
