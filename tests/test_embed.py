"""The numpy MiniLM encoder against a reference: an independent float64 BERT forward pass.

No torch here to run sentence-transformers itself, so the reference is written the way
the BERT paper and the model's config describe it, separately from kiosk/knowledge/embed.py:
float64 throughout, exact erf GELU (math.erf, not the encoder's polynomial), attention
one head at a time, then mean pooling and L2 normalisation as the model card prescribes.
The encoder must give the same unit vectors to float32 precision.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from kiosk.knowledge.embed import MiniLMEncoder, default_model_dir

SENTENCES = ["Where are the toilets?", "Is the cafe open on Sunday?", "A man is eating food."]


def _reference(model_dir, text: str) -> np.ndarray:
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    cfg = json.loads((model_dir / "config.json").read_text())
    w = {
        k.removeprefix("bert."): v.astype(np.float64)
        for k, v in load_file(str(model_dir / "model.safetensors")).items()
    }
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()  # the file pads to 128; mean pooling is over the real tokens only
    ids = tokenizer.encode(text).ids
    heads, eps = cfg["num_attention_heads"], cfg["layer_norm_eps"]
    erf = np.vectorize(math.erf)

    def norm(x, name):
        mu = x.mean(-1, keepdims=True)
        sd = np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + eps)
        return (x - mu) / sd * w[f"{name}.weight"] + w[f"{name}.bias"]

    def dense(x, name):
        return x @ w[f"{name}.weight"].T + w[f"{name}.bias"]

    n = len(ids)
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
    x = norm(x + w["embeddings.token_type_embeddings.weight"][0], "embeddings.LayerNorm")
    d = x.shape[1] // heads
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}"
        q, k, v = (dense(x, f"{p}.attention.self.{m}") for m in ("query", "key", "value"))
        ctx = np.zeros_like(x)
        for h in range(heads):
            s = slice(h * d, (h + 1) * d)
            scores = q[:, s] @ k[:, s].T / math.sqrt(d)
            att = np.exp(scores - scores.max(1, keepdims=True))
            ctx[:, s] = (att / att.sum(1, keepdims=True)) @ v[:, s]
        x = norm(x + dense(ctx, f"{p}.attention.output.dense"), f"{p}.attention.output.LayerNorm")
        hidden = dense(x, f"{p}.intermediate.dense")
        hidden = 0.5 * hidden * (1 + erf(hidden / math.sqrt(2)))
        x = norm(x + dense(hidden, f"{p}.output.dense"), f"{p}.output.LayerNorm")
    pooled = x.mean(0)
    return pooled / np.linalg.norm(pooled)


@pytest.fixture(scope="module")
def encoder() -> MiniLMEncoder:
    return MiniLMEncoder()


@pytest.mark.parametrize("text", SENTENCES)
def test_encoder_matches_the_float64_reference(encoder, text):
    ref = _reference(default_model_dir(), text)
    got = encoder.encode([text])[0]
    assert got.shape == (384,)
    assert abs(float(np.linalg.norm(got)) - 1.0) < 1e-5
    assert float(np.max(np.abs(got - ref))) < 1e-4
    assert float(got @ ref) > 0.99999


def test_encoder_orders_meanings(encoder):
    a, b, c = encoder.encode(["Where are the toilets?", "Where is the loo?", "How much is a ticket?"])
    assert float(a @ b) > float(a @ c) + 0.1
