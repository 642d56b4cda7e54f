"""Choosing the backend that answers: ``[llm] backends = ["hailo", "cpu"]``.

``FallbackBackend`` is itself an LLMBackend, so the Assistant does not know there is
more than one: the first healthy backend in the configured order serves. One that
cannot be reached, answers with an error, times out, or misses its time-to-first-token
objective (p95 over its last N answers) is skipped for ``[llm] backoff_s`` seconds and
then tried again; the skip and its reason are what ``kiosk doctor`` shows.

A backend that dies mid-answer does not leave the visitor hanging: the next backend
continues the same answer (the prompt is rebuilt for it, with the text already shown
appended, so it picks up where the first stopped: a completion prompt simply goes on,
Ollama's chat continues a trailing assistant message). With nothing left to ask, the
stream ends and the Assistant finishes from the checked fact.

Which backend answered is written on the request (``served_by``, ``engine``), from where
the Assistant puts it on ``answer-done``.
"""

from __future__ import annotations

import copy
import logging
import queue
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from kiosk.errors import LLMError
from kiosk.llm.backend import ChatMessage, GenerationRequest, LLMBackend, PromptStyle

log = logging.getLogger(__name__)


@dataclass
class Policy:
    ttft_objective_ms: float = 0.0
    """0: no objective."""
    window: int = 10
    backoff_s: float = 60.0


@dataclass
class Member:
    """One configured backend and what the selector has learned about it."""

    name: str
    backend: LLMBackend
    policy: Policy = field(default_factory=Policy)
    skipped_until: float = 0.0
    skip_reason: str = ""
    last_error: str = ""
    answers: int = 0
    failures: int = 0
    ttfts_ms: deque = field(default_factory=deque)

    def __post_init__(self) -> None:
        self.ttfts_ms = deque(maxlen=max(1, self.policy.window))

    def available(self, now: float) -> bool:
        return now >= self.skipped_until

    def skip(self, reason: str, now: float) -> None:
        self.skipped_until = now + self.policy.backoff_s
        self.skip_reason = reason
        log.warning("LLM backend %s skipped for %.0f s: %s", self.name, self.policy.backoff_s, reason)

    def p95_ms(self) -> float | None:
        if not self.ttfts_ms:
            return None
        ordered = sorted(self.ttfts_ms)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]

    def p50_ms(self) -> float | None:
        return statistics.median(self.ttfts_ms) if self.ttfts_ms else None

    def record_ttft(self, ms: float, now: float) -> None:
        self.ttfts_ms.append(ms)
        objective = self.policy.ttft_objective_ms
        if objective > 0 and len(self.ttfts_ms) == self.ttfts_ms.maxlen:
            p95 = self.p95_ms() or 0.0
            if p95 > objective:
                self.skip(f"TTFT p95 {p95:.0f} ms over its {objective:.0f} ms objective", now)
                self.ttfts_ms.clear()  # judged afresh when it is tried again

    def state(self, now: float) -> str:
        return "ok" if self.available(now) else f"skipped {self.skipped_until - now:.0f} s more: {self.skip_reason}"


class FallbackBackend:
    """An LLMBackend over several, in order of preference."""

    kind = "fallback"

    def __init__(self, members: list[Member], clock: Callable[[], float] = time.monotonic) -> None:
        if not members:
            raise LLMError("llm.no-backend", "no LLM backend is configured", "set [llm] backends")
        self.members = members
        self.clock = clock
        self.name = "+".join(m.name for m in members)
        self.backend = members[0].name
        self.executor = None  # runs on a pool thread; a llama.cpp member on its own executor
        self.failovers: list[dict] = []
        """(from, to, seconds from the failure to the next backend's first token), newest last."""

    # The prompt is built for the backend most likely to answer: the first available.
    def preferred(self) -> Member:
        now = self.clock()
        return next((m for m in self.members if m.available(now)), self.members[0])

    @property
    def prompt_style(self) -> PromptStyle:  # type: ignore[override]
        return self.preferred().backend.prompt_style

    @property
    def n_ctx(self) -> int:
        return self.preferred().backend.n_ctx

    def count_tokens(self, text: str) -> int:
        return self.preferred().backend.count_tokens(text)

    def order(self) -> list[Member]:
        """Available backends in configured order; if all are skipped, all of them (a
        backend in back-off is better than no answer)."""
        now = self.clock()
        ready = [m for m in self.members if m.available(now)]
        return ready or list(self.members)

    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[str]:
        shown: list[str] = []
        errors: list[str] = []
        failed_at: float | None = None
        failed_name = ""
        built_for = self.preferred()  # the backend the caller's prompt was fitted to
        for member in self.order():
            if cancel.is_set():
                return
            if member is built_for and not shown:
                req = request
            else:
                req = _request_for(member.backend, request, "".join(shown), len(shown))
            request.served_by, request.engine = member.name, member.backend.name
            t0 = time.monotonic()
            first = True
            try:
                for piece in _stream(member.backend, req, cancel):
                    if first:
                        first = False
                        now = time.monotonic()
                        member.record_ttft((now - t0) * 1000.0, self.clock())
                        if failed_at is not None:
                            self.failovers.append(
                                {"from": failed_name, "to": member.name, "s": round(now - failed_at, 3)}
                            )
                            del self.failovers[:-100]
                    shown.append(piece)
                    yield piece
            except LLMError as e:
                if cancel.is_set():
                    return
                member.failures += 1
                member.last_error = f"[{e.code}] {e.message}"
                member.skip(member.last_error, self.clock())
                errors.append(f"{member.name}: {e.message}")
                failed_at, failed_name = time.monotonic(), member.name
                continue
            member.answers += 1
            return
        if shown:
            return  # the Assistant finishes from the checked fact
        raise LLMError(
            "llm.unavailable",
            "no language model backend answered (" + "; ".join(errors) + ")",
            "run: kiosk doctor",
        )

    def close(self) -> None:
        for m in self.members:
            client = getattr(m.backend, "client", None)
            if client is not None:
                client.close()


def _request_for(backend: LLMBackend, request: GenerationRequest, partial: str, pieces: int) -> GenerationRequest:
    """The request as this backend needs it: re-fitted to its prompt style and context,
    and continuing ``partial`` (what an earlier backend already said) if there is any."""
    if request.rebuild is not None:
        req = request.rebuild(backend)
        req.deadline = request.deadline
        req.max_tokens, req.temperature, req.seed = request.max_tokens, request.temperature, request.seed
    else:
        req = copy.copy(request)
        req.messages = list(request.messages)
    if partial:
        if req.messages:
            req.messages = [*req.messages, ChatMessage("assistant", partial)]
        else:
            req.prompt += partial
        req.max_tokens = max(8, req.max_tokens - pieces)
    return req


def _stream(backend: LLMBackend, request: GenerationRequest, cancel: threading.Event) -> Iterator[str]:
    """A backend with its own executor (llama.cpp: one thread for all its calls) is run
    there, its pieces handed across; others run on the calling thread."""
    executor = getattr(backend, "executor", None)
    if executor is None:
        yield from backend.stream(request, cancel)
        return
    pieces: queue.Queue = queue.Queue()
    stop = threading.Event()

    def run() -> None:
        try:
            gen = backend.stream(request, cancel)
            for piece in gen:
                pieces.put(("piece", piece))
                if stop.is_set():
                    gen.close()
                    break
        except BaseException as e:  # handed to the consumer, raised there
            pieces.put(("error", e))
        finally:
            pieces.put(("end", None))

    future = executor.submit(run)
    try:
        while True:
            kind, value = pieces.get()
            if kind == "piece":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()
        future.result()
