"""OpenAI-compatible backend: llama.cpp's ``llama-server``, llama-cpp-python's server,
vLLM, LM Studio, a fleet gateway or a cloud provider.

``/v1/chat/completions`` for chat-style prompts and ``/v1/completions`` for completion
style, always ``stream: true``: server-sent events, one ``data: {json}`` line per piece,
``data: [DONE]`` at the end, ``:`` comment lines as keep-alives (ignored, and they do not
count as a token for the timeouts). The API key is read from a file (``api_key_file``),
never from the config itself, so the config can be shown to a technician and the key kept
readable by the kiosk user only.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kiosk.errors import LLMError
from kiosk.llm.backend import GenerationRequest, PromptStyle
from kiosk.llm.http import Timeouts, TokenEstimate, get_json, make_client, stream_lines


def read_api_key(path: str, name: str) -> str:
    if not path:
        return ""
    try:
        key = Path(path).expanduser().read_text("utf-8").strip()
    except OSError as e:
        raise LLMError(
            "llm.api-key",
            f"{name}: the API key file {path} cannot be read: {e.strerror}",
            f"put the key in {path}, readable by the kiosk user",
        ) from e
    if not key:
        raise LLMError("llm.api-key", f"{name}: the API key file {path} is empty", f"put the key in {path}")
    return key


class OpenAIBackend:
    kind = "openai"

    def __init__(
        self,
        name: str,
        url: str,
        model: str = "",
        prompt_style: PromptStyle = "chat",
        n_ctx: int = 2048,
        api_key_file: str = "",
        timeouts: Timeouts | None = None,
    ) -> None:
        self.backend = name
        self.executor = None  # blocking HTTP: any pool thread will do
        self.name = f"openai:{model or 'default'}"
        base = url.rstrip("/")
        self.url = base if base.endswith("/v1") else base + "/v1"
        self.model = model
        self.prompt_style: PromptStyle = prompt_style
        self._n_ctx = n_ctx
        self.timeouts = timeouts or Timeouts()
        key = read_api_key(api_key_file, name)
        self.client = make_client(self.timeouts, {"Authorization": f"Bearer {key}"} if key else {})
        self.tokens = TokenEstimate()

    @property
    def n_ctx(self) -> int:
        return self._n_ctx

    def count_tokens(self, text: str) -> int:
        return self.tokens.count(text)

    def body(self, request: GenerationRequest) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {
            "stream": True,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "seed": request.seed,
        }
        if self.model:
            body["model"] = self.model
        if request.stop:
            body["stop"] = list(request.stop)[:4]  # OpenAI's limit
        if request.messages:
            body["messages"] = [{"role": m.role, "content": m.content} for m in request.messages]
            return "/chat/completions", body
        body["prompt"] = request.prompt
        return "/completions", body

    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[str]:
        path, body = self.body(request)
        chat = path == "/chat/completions"
        prompt_chars = sum(len(m["content"]) for m in body["messages"]) if chat else len(body["prompt"])
        lines = stream_lines(
            self.client, self.backend, self.url + path, body, cancel, self.timeouts, request.deadline
        )
        for line in lines:
            if not line.startswith("data:"):
                continue  # "event:", "id:", "retry:" fields carry nothing we use
            data = line[5:].strip()
            if data == "[DONE]":
                return
            try:
                obj = json.loads(data)
            except ValueError as e:
                raise LLMError("llm.protocol", f"{self.backend}: not an SSE JSON event: {data[:80]!r}", "") from e
            if "error" in obj:
                err = obj["error"]
                msg = err.get("message", err) if isinstance(err, dict) else err
                raise LLMError("llm.server", f"{self.backend}: {msg}", "see the server's log")
            usage = obj.get("usage") or {}
            if usage.get("prompt_tokens"):
                self.tokens.learn(prompt_chars, int(usage["prompt_tokens"]))
            for choice in obj.get("choices") or []:
                piece = (choice.get("delta") or {}).get("content") if chat else choice.get("text")
                if piece:
                    yield piece

    def info(self) -> dict[str, Any]:
        """``/v1/models``: reachable, and is our model served. Raises LLMError."""
        t0 = time.perf_counter()
        data = get_json(self.client, self.backend, self.url + "/models", self.timeouts.connect_s + 1)
        latency_ms = round((time.perf_counter() - t0) * 1000, 1)
        names = [m.get("id", "") for m in data.get("data", [])]
        return {
            "latency_ms": latency_ms,
            "models": names,
            # an empty model name means "whatever the server serves" (llama-server's one model)
            "model_present": not self.model or self.model in names,
        }

    def describe(self) -> str:
        return f"openai {self.model or '(server default)'} at {self.url}"
