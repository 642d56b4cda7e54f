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
from kiosk.errors import KioskError, KnowledgeError, LLMError
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
        return _open_index(config, data / "knowledge.db", config.knowledge.embeddings)
    except KnowledgeError as e:
        if e.code != "knowledge.encoder-missing" or not config.knowledge.embeddings:
            raise
        log.warning("%s; falling back to lexical retrieval", e.message)
        return _open_index(config, data / "knowledge-lexical.db", use_embeddings=False)


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
    from kiosk.llm.llama_cpp import LlamaCppBackend
    from kiosk.models import resolve_llm

    resolved = resolve_llm(config.llm.model, ensure_data_dir(config))
    return LlamaCppBackend(
        resolved.path,
        resolved.spec.prompt_style,
        n_ctx=config.llm.n_ctx,
        threads=config.llm.threads,
        name=f"llama.cpp:{resolved.spec.name}",
    )


def build(config: Config, with_llm: bool = True, with_sinks: bool = True) -> Runtime:
    """Knowledge errors are fatal (nothing to answer from); an LLM error is a warning."""
    knowledge = open_knowledge(config)
    warnings: list[KioskError] = []
    llm: LLMBackend | None = None
    if with_llm:
        try:
            llm = load_llm(config)
        except KioskError as e:
            warnings.append(e)
            log.warning("LLM unavailable, answering from the knowledge only: %s", e)
        except (ValueError, OverflowError, RuntimeError, MemoryError) as e:  # llama.cpp refusing a setting
            err = LLMError(
                "llm.load-failed", f"the model could not be loaded ({e})", "check the [llm] settings"
            )
            warnings.append(err)
            log.warning("LLM unavailable, answering from the knowledge only: %s", err)
    assistant = Assistant(config, knowledge, llm)
    assistant.llm_error = warnings[0] if warnings else None
    runtime = Runtime(config, assistant, warnings)
    runtime.closers.append(knowledge.index.close)
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
