"""A scripted LLMBackend for the conductor's paths (Home Assistant tests its pipeline so).

It speaks the real ``LLMBackend`` protocol: ``stream`` runs on the backend's own
single-thread executor, yields text pieces, checks ``cancel`` between them and honours
the request's deadline, as llama_cpp.py does. What it says is scripted, and so are the
ways a real engine misbehaves: raising mid-stream, and stalling while it "reads the
prompt" until cancelled (llama.cpp's abort callback). Answer quality is never judged on
it; tests/test_assistant.py does that on the real model.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from kiosk.llm.backend import GenerationRequest, PromptStyle


def pieces(text: str) -> list[str]:
    """Text as the word-sized pieces a model streams ("The", " cafe", " is", ...)."""
    return re.findall(r"\s*\S+", text)


class ScriptedLLM:
    def __init__(
        self,
        script: list[str] | str = "",
        *,
        raise_after: int | None = None,
        error: BaseException | None = None,
        stall: int = 0,
        piece_s: float = 0.0,
        prompt_style: PromptStyle = "completion",
    ) -> None:
        self.name = "scripted"
        self.prompt_style: PromptStyle = prompt_style
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scripted-llm")
        self.script = pieces(script) if isinstance(script, str) else list(script)
        self.raise_after = raise_after
        """Raise ``error`` after this many pieces (0: before the first)."""
        self.error = error or RuntimeError("engine crashed")
        self.stall = stall
        """The next ``stall`` streams block "reading the prompt" until cancelled (or past
        the deadline), yielding nothing."""
        self.piece_s = piece_s
        self.reading = threading.Event()
        """Set while stream() runs (from the moment the prompt is being read)."""
        self.requests: list[GenerationRequest] = []
        self.cancelled_seen = 0
        """Times stream() stopped because cancel was set."""
        self.threads: set[str] = set()
        self.running = 0
        self.overlap = False
        """True if two streams ever ran at once (the gate must prevent it)."""

    @property
    def n_ctx(self) -> int:
        return 2048

    def count_tokens(self, text: str) -> int:
        self.threads.add(threading.current_thread().name)
        return len(text.split()) + 1

    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[str]:
        self.threads.add(threading.current_thread().name)
        self.requests.append(request)
        self.running += 1
        self.overlap |= self.running > 1
        self.reading.set()
        completed = False
        try:
            if self.stall:
                self.stall -= 1
                while not cancel.wait(0.005):
                    if request.deadline is not None and time.monotonic() > request.deadline:
                        return
                return
            for i, piece in enumerate(self.script):
                if self.raise_after is not None and i >= self.raise_after:
                    raise self.error
                if cancel.is_set():
                    return
                if request.deadline is not None and time.monotonic() > request.deadline:
                    return
                if self.piece_s:
                    time.sleep(self.piece_s)
                yield piece
            completed = True
            if self.raise_after is not None and self.raise_after >= len(self.script):
                raise self.error
        finally:
            # Stopped by cancel: seen between pieces here, or the consumer closed the
            # generator after setting it (as the Assistant's thread bridge does).
            if not completed and cancel.is_set():
                self.cancelled_seen += 1
            self.running -= 1
            self.reading.clear()

    def close(self) -> None:
        self.executor.shutdown(wait=True)
