"""Building the Assistant from a config: the one place that wires engines together.

Every entry point (the Textual kiosk, ``kiosk ask``, ``kiosk serve``, ``kiosk listen``)
builds its Assistant here, so they all answer the same way. A model that fails to load
does not stop the kiosk: it answers from the knowledge alone and says why (doctor, and a
Fault event the faces show to staff).
"""

from __future__ import annotations

import logging
import sqlite3
import sys
from dataclasses import dataclass, field
from pathlib import Path

from kiosk.assistant import Assistant
from kiosk.config import Config
from kiosk.errors import KioskError, KnowledgeError, LLMError, ModelError
from kiosk.knowledge.files import FileLimits
from kiosk.knowledge.retrieve import Knowledge
from kiosk.llm.backend import LLMBackend

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    config: Config
    assistant: Assistant
    warnings: list[KioskError] = field(default_factory=list)
    closers: list = field(default_factory=list)
    sinks: dict = field(default_factory=dict)

    def close(self) -> None:
        """Run every shutdown step once, newest first (the log sink writes what is queued)."""
        closers, self.closers = self.closers, []
        for close in reversed(closers):
            try:
                close()
            except Exception:
                log.exception("shutdown step failed")

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def ensure_data_dir(config: Config) -> Path:
    data = config.data_dir
    try:
        data.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise KioskError(
            "data.unwritable",
            f"the data folder {data} cannot be created: {e.strerror}",
            "set [data] dir to a writable folder, or fix its permissions",
        ) from e
    return data


def open_knowledge(config: Config) -> Knowledge:
    data = ensure_data_dir(config)
    try:
        knowledge = _open_index(config, data / "knowledge.db", config.knowledge.embeddings)
    except KnowledgeError as e:
        if e.code != "knowledge.encoder-missing" or not config.knowledge.embeddings:
            raise
        log.warning("%s; falling back to lexical retrieval", e.message)
        return _open_index(config, data / "knowledge-lexical.db", use_embeddings=False)
    _attach_reranker(config, knowledge, data)
    return knowledge


def _attach_reranker(config: Config, knowledge: Knowledge, data: Path) -> None:
    """The reranker is an improvement, not a requirement: without its model the kiosk
    answers from retrieval order alone, and says so in the journal."""
    name = config.knowledge.rerank_model
    if not name or knowledge.encoder is None:
        return
    from kiosk.knowledge import rerank

    try:
        knowledge.attach_reranker(rerank.load(name, data), background=True)
    except (ModelError, ValueError, RuntimeError, ImportError) as e:
        log.warning("reranking is off: %s", getattr(e, "message", e))


def _progress(message: str) -> None:
    """Indexing a large folder takes minutes on a Pi: say how far it is (stderr, the journal)."""
    print(message, file=sys.stderr, flush=True)


def _open_index(config: Config, db: Path, use_embeddings: bool) -> Knowledge:
    """A damaged or unwritable index is rebuilt once; if that fails too, the error says why."""
    limits = FileLimits.from_config(config.knowledge)
    try:
        return Knowledge.open(config.knowledge.path, db, use_embeddings, limits, _progress)
    except (sqlite3.DatabaseError, OSError) as first:
        try:
            db.unlink(missing_ok=True)
            return Knowledge.open(config.knowledge.path, db, use_embeddings, limits, _progress)
        except (sqlite3.DatabaseError, OSError) as e:
            raise KnowledgeError(
                "knowledge.index",
                f"the knowledge index {db} cannot be written ({e}; first: {first})",
                "check the data folder's disk space and permissions",
            ) from e


def load_llm(config: Config) -> LLMBackend:
    """The configured backend(s) (kiosk/llm/factory.py); raises the first problem if none can serve."""
    from kiosk.llm import factory

    built = factory.build(config)
    if built.llm is None:
        raise built.problems[0] if built.problems else LLMError("llm.no-backend", "no LLM backend", "")
    return built.llm


def build(config: Config, with_llm: bool = True, with_sinks: bool = True) -> Runtime:
    """Knowledge errors are fatal (nothing to answer from); an LLM error is a warning."""
    knowledge = open_knowledge(config)
    warnings: list[KioskError] = []
    llm: LLMBackend | None = None
    cloud = None
    if with_llm:
        from kiosk.llm import factory
        from kiosk.llm.cloud import from_config

        built = factory.build(config)
        llm, warnings = built.llm, list(built.problems)
        if llm is None:
            log.warning("LLM unavailable, answering from the knowledge only: %s", warnings[:1])
        cloud = from_config(config, built.cloud)
    assistant = Assistant(config, knowledge, llm)
    assistant.cloud = cloud
    assistant.llm_error = warnings[0] if warnings and llm is None else None
    runtime = Runtime(config, assistant, warnings)
    runtime.closers.append(knowledge.index.close)
    for backend in (llm, cloud.backend if cloud else None):
        close = getattr(getattr(backend, "client", None), "close", None) or getattr(backend, "close", None)
        if close is not None:
            runtime.closers.append(close)
    if with_sinks:
        from kiosk.store.sink import attach

        sink = attach(config, assistant)
        runtime.sinks["log"] = sink
        runtime.closers.append(sink.close)
        from kiosk.telemetry.sink import attach as attach_telemetry

        telemetry = attach_telemetry(config, assistant, log_sink=sink)
        runtime.sinks["telemetry"] = telemetry
        runtime.closers.append(telemetry.close)
    return runtime
