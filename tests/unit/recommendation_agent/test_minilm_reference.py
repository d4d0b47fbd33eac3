"""The torch-free MiniLM gives the vectors sentence-transformers gave: checked against a reference computed with
sentence-transformers 6.3 + torch 2.13 (fixtures/minilm_reference.json, rounded to 5 decimals), over library
texts, queries, an empty text, accents, emoji, CJK, whitespace, an over-long word and a text truncated at 256
tokens. The weights' pinned sha256 is enforced: a changed file is refused at load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from recommendation_agent.embeddings import load_minilm
from recommendation_agent.minilm import PINNED_SHA256, MiniLMEncoder, WeightsMismatch, model_dir

REFERENCE = Path(__file__).parent / "fixtures" / "minilm_reference.json"


@pytest.fixture(scope="module")
def reference() -> tuple[list[str], np.ndarray]:
    data = json.loads(REFERENCE.read_text())
    return [t["text"] for t in data["texts"]], np.asarray([t["vector"] for t in data["texts"]], dtype=np.float64)


def cosines(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    return (got * want).sum(axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))


def test_vectors_match_the_sentence_transformers_reference(reference):
    texts, want = reference
    got = load_minilm().encode(texts)
    assert got.shape == (len(texts), 384) and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cos = cosines(got.astype(np.float64), want)
    assert cos.min() >= 0.9999, dict(zip(texts, cos.round(6), strict=True))


def test_one_text_at_a_time_gives_the_batched_vectors(reference):
    """Padding within a batch must not leak into a text's vector (the attention mask and the pooling)."""
    texts, _ = reference
    model = load_minilm()
    batched = model.encode(texts, batch_size=64)
    single = np.vstack([model.encode([t]) for t in texts])
    assert cosines(batched, single).min() >= 0.99999
    assert model.encode([]).shape == (0, 384)


def test_distinct_texts_get_distinct_vectors(reference):
    texts, _ = reference
    got = load_minilm().encode(texts[:6])
    sims = got @ got.T
    assert (sims[~np.eye(6, dtype=bool)] < 0.98).all()


def copy_model(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    for name in PINNED_SHA256:
        shutil.copyfile(model_dir() / name, folder / name)
    return folder


def test_changed_weights_are_refused(tmp_path: Path):
    folder = copy_model(tmp_path)
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # one bit of the last weight: a plausible model, different vectors
    weights.write_bytes(bytes(data))
    with pytest.raises(WeightsMismatch, match=r"model\.safetensors has sha256 .* expected 53aa5117"):
        MiniLMEncoder(folder)


def test_changed_tokenizer_and_missing_files_are_refused(tmp_path: Path):
    folder = copy_model(tmp_path)
    tok = folder / "tokenizer.json"
    tok.write_text(tok.read_text().replace('"lowercase":true', '"lowercase":false'))
    with pytest.raises(WeightsMismatch, match=r"tokenizer\.json has sha256"):
        MiniLMEncoder(folder)
    tok.unlink()
    with pytest.raises(WeightsMismatch, match="missing"):
        MiniLMEncoder(folder)
