"""The LLMBackend protocol: the only way the Assistant reaches a language model.

Backends are blocking (llama.cpp is a C library); the Assistant runs ``stream`` (and the
prompt's token counting) on the backend's ``executor`` and stops it through ``cancel``,
which a backend checks between tokens so a new question or Escape stops generation
within one token's time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

PromptStyle = Literal["completion", "chat"]


@dataclass
class ChatMessage:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass
class GenerationRequest:
    """One generation. ``prompt`` for completion-style models, ``messages`` for chat."""

    prompt: str = ""
    messages: list[ChatMessage] = field(default_factory=list)
    max_tokens: int = 96
    stop: list[str] = field(default_factory=list)
    deadline: float | None = None
    """time.monotonic() value after which generation stops (the wall-clock budget)."""
    temperature: float = 0.2
    seed: int = 7


@runtime_checkable
class LLMBackend(Protocol):
    name: str
    """Shown as ``AnswerDone.engine`` and in doctor, e.g. "llama.cpp:gemma3-270m"."""
    prompt_style: PromptStyle
    executor: Executor | None
    """Where every call into the backend runs. llama.cpp needs one thread of its own (its
    OpenMP team is per calling thread); None means the event loop's default executor, for
    a backend that is only waiting on a socket (an HTTP API)."""

    @property
    def n_ctx(self) -> int:
        """Context window in tokens."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes in this model's vocabulary."""
        ...

    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[str]:
        """Yield text pieces as they are generated; stop early once ``cancel`` is set.

        Raises LLMError for a failure inside the engine.
        """
        ...
