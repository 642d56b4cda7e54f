"""Ollama backend: the AI HAT+ 2 through ``hailo-ollama``, or any regular Ollama server.

``/api/chat`` for chat-style prompts, ``/api/generate`` (``raw``: our own completion
prompt, no template) for completion style, both streamed as NDJSON: one JSON object per
line, ``done: true`` on the last one with the counts, ``{"error": ...}`` on failure (as
the body of an error status, or as a line mid-stream). Options sent with every request:
temperature, seed, num_predict (the answer's token cap), num_ctx (2048 on the HAT) and
stop; ``keep_alive`` keeps the model loaded between visitors (loading a HEF model onto
the NPU takes seconds).

hailo-ollama serves one request at a time. The Assistant's LLMGate already keeps one
generation in flight per backend; the only other requests are doctor's small health
calls. Cancel closes the stream (Ollama stops generating when its client goes away).
Ollama has no tokenize call, so prompt sizes are estimated conservatively and the
estimate is corrected from the ``prompt_eval_count`` each answer reports.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

from kiosk.errors import LLMError
from kiosk.llm.backend import GenerationRequest, PromptStyle
from kiosk.llm.http import Timeouts, TokenEstimate, get_json, make_client, post_json, stream_lines


class OllamaBackend:
    kind = "ollama"

    def __init__(
        self,
        name: str,
        url: str,
        model: str,
        prompt_style: PromptStyle = "chat",
        n_ctx: int = 2048,
        keep_alive: str = "30m",
        timeouts: Timeouts | None = None,
    ) -> None:
        self.backend = name
        self.executor = None  # blocking HTTP: any pool thread will do
        self.name = f"ollama:{model or 'default'}"
        self.url = url.rstrip("/")
        self.model = model
        self.prompt_style: PromptStyle = prompt_style
        self._n_ctx = n_ctx
        self.keep_alive = keep_alive
        self.timeouts = timeouts or Timeouts()
        self.tokens = TokenEstimate()
        self.client = make_client(self.timeouts)
        self.last_stats: dict[str, Any] = {}

    @property
    def n_ctx(self) -> int:
        return self._n_ctx

    def count_tokens(self, text: str) -> int:
        return self.tokens.count(text)

    def _keep_alive(self) -> str | int:
        # Ollama takes a duration string ("30m") or a number of seconds (-1: forever)
        try:
            return int(self.keep_alive)
        except ValueError:
            return self.keep_alive

    def body(self, request: GenerationRequest) -> tuple[str, dict[str, Any]]:
        options: dict[str, Any] = {
            "temperature": request.temperature,
            "seed": request.seed,
            "num_predict": request.max_tokens,
            "num_ctx": self._n_ctx,
        }
        if request.stop:
            options["stop"] = list(request.stop)
        common = {"model": self.model, "stream": True, "keep_alive": self._keep_alive(), "options": options}
        if request.messages:
            msgs = [{"role": m.role, "content": m.content} for m in request.messages]
            return "/api/chat", {**common, "messages": msgs}
        return "/api/generate", {**common, "prompt": request.prompt, "raw": True}

    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[str]:
        path, body = self.body(request)
        chat = path == "/api/chat"
        prompt_chars = (
            sum(len(m["content"]) for m in body["messages"]) if chat else len(body["prompt"])
        )
        lines = stream_lines(
            self.client, self.backend, self.url + path, body, cancel, self.timeouts, request.deadline
        )
        for line in lines:
            try:
                obj = json.loads(line)
            except ValueError as e:
                raise LLMError("llm.protocol", f"{self.backend}: not NDJSON: {line[:80]!r}", "") from e
            if "error" in obj:
                raise LLMError("llm.server", f"{self.backend}: {obj['error']}", "see the server's log")
            piece = (obj.get("message") or {}).get("content", "") if chat else obj.get("response", "")
            if piece:
                yield piece
            if obj.get("done"):
                self.last_stats = obj
                self.tokens.learn(prompt_chars, int(obj.get("prompt_eval_count") or 0))
                return

    # --- model information and health ----------------------------------------------

    def info(self) -> dict[str, Any]:
        """/api/version, /api/tags and /api/show: what doctor reports. Raises LLMError."""
        t0 = time.perf_counter()
        version = get_json(self.client, self.backend, self.url + "/api/version", self.timeouts.connect_s + 1)
        latency_ms = round((time.perf_counter() - t0) * 1000, 1)
        tags = get_json(self.client, self.backend, self.url + "/api/tags", self.timeouts.connect_s + 1)
        names = [m.get("name") or m.get("model") for m in tags.get("models", [])]
        out: dict[str, Any] = {
            "version": version.get("version", "?"),
            "latency_ms": latency_ms,
            "models": names,
            "model_present": _has_model(names, self.model),
        }
        if out["model_present"]:
            show = post_json(self.client, self.backend, self.url + "/api/show", {"model": self.model})
            details = show.get("details", {})
            out["family"] = details.get("family", "")
            out["quantization"] = details.get("quantization_level", "")
            ctx = [v for k, v in (show.get("model_info") or {}).items() if k.endswith(".context_length")]
            out["context_length"] = int(ctx[0]) if ctx else None
        return out

    def describe(self) -> str:
        return f"ollama {self.model} at {self.url}"


def _has_model(names: list[str], model: str) -> bool:
    """Ollama names carry a tag (``qwen2:1.5b``); a bare name means ``:latest``."""
    want = model if ":" in model else f"{model}:latest"
    return model in names or want in names
