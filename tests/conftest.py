"""Shared fixtures: the REAL small model and the REAL demo knowledge, loaded once per run.

Loading gemma3-270m takes about a second and indexing the demo venue a few; tests share
them and build their own Assistant (cheap) around them, each with its own config.

``-m "not llm"`` must really skip every test that loads the model: a test that asks for
a model fixture is marked ``llm`` here, and any other test that loads the model in this
process without the marker fails, saying so.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from core_support import Recorder, make_config

from kiosk import config as config_mod
from kiosk import paths
from kiosk.assistant import Assistant
from kiosk.knowledge.retrieve import Knowledge

MODEL_FIXTURES = {"llm", "chat_llm", "assistant", "recorder"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.llm)


@pytest.fixture(autouse=True)
def _model_only_in_llm_tests(request, monkeypatch):
    if request.node.get_closest_marker("llm") is not None:
        return
    from kiosk.llm.llama_cpp import LlamaCppBackend

    def refuse(*args, **kwargs):
        pytest.fail(f"{request.node.nodeid} loads the real model: mark it @pytest.mark.llm")

    monkeypatch.setattr(LlamaCppBackend, "__init__", refuse)


@pytest.fixture(scope="session")
def knowledge_db(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("knowledge") / "knowledge.db"


@pytest.fixture(scope="session")
def knowledge(knowledge_db) -> Knowledge:
    return Knowledge.open(paths.DEMO_KNOWLEDGE_DIR, knowledge_db)


@pytest.fixture(scope="session")
def llm():
    from kiosk.runtime import load_llm

    return load_llm(config_mod.Config())


@pytest.fixture(scope="session")
def chat_llm():
    """SmolLM2-135M-Instruct: exercises the chat-template path."""
    from kiosk.runtime import load_llm

    cfg = config_mod.Config()
    cfg.llm.model = "smollm2-135m"
    return load_llm(cfg)


@pytest.fixture
def config(tmp_path) -> config_mod.Config:
    return make_config(tmp_path)


@pytest.fixture
def assistant(config, knowledge, llm) -> Assistant:
    return Assistant(config, knowledge, llm)


@pytest.fixture
def llm_config(tmp_path) -> config_mod.Config:
    """Forces every covered question through the LLM (no instant answers)."""
    return make_config(tmp_path, knowledge={"instant_threshold": 1.0})


@pytest.fixture
def copy_knowledge(tmp_path) -> Path:
    target = tmp_path / "knowledge"
    shutil.copytree(paths.DEMO_KNOWLEDGE_DIR, target)
    return target


@pytest.fixture
def recorder(assistant) -> Recorder:
    return Recorder(assistant)
