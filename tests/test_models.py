"""Model manifest: resolving, sha256 verification (once, cached) and clear errors."""

from __future__ import annotations

import json

import pytest

from kiosk import models
from kiosk.errors import ModelError


def test_manifest_lists_the_default_and_the_chat_model():
    specs = {s.name: s for s in models.load_manifest()}
    assert specs["gemma3-270m"].default and specs["gemma3-270m"].prompt_style == "completion"
    assert specs["smollm2-135m"].prompt_style == "chat"
    assert all(len(s.sha256) == 64 for s in specs.values() if s.kind == "gguf")


def test_verify_checks_once_then_trusts_the_cache(tmp_path):
    f = tmp_path / "m.gguf"
    f.write_bytes(b"model bytes")
    digest = models.sha256_file(f)
    cache = tmp_path / "cache.json"
    models.verify(f, digest, cache)
    assert list(json.loads(cache.read_text()).values()) == [digest]
    # Changing the file invalidates the cached verdict (size/mtime are part of the key).
    f.write_bytes(b"other bytes!")
    with pytest.raises(ModelError) as err:
        models.verify(f, digest, cache)
    assert err.value.code == "model.checksum" and str(f) in err.value.message and err.value.fix


def test_unknown_model_name_lists_the_known_ones(tmp_path):
    with pytest.raises(ModelError) as err:
        models.resolve_llm("gpt-9", tmp_path)
    assert err.value.code == "model.unknown" and "gemma3-270m" in err.value.fix


def test_missing_file_path_is_named(tmp_path):
    with pytest.raises(ModelError) as err:
        models.resolve_llm(str(tmp_path / "x.gguf"), tmp_path)
    assert err.value.code == "model.missing" and "x.gguf" in err.value.message


def test_default_model_resolves_and_verifies(tmp_path):
    resolved = models.resolve_llm("gemma3-270m", tmp_path)
    assert resolved.path.is_file() and resolved.spec.prompt_style == "completion"
