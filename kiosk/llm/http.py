"""Streaming HTTP for the remote LLM backends (Ollama, OpenAI-compatible), on httpx.

Why httpx: a well-kept client with separate connect/read/write timeouts, streamed bodies
and a synchronous API that fits the blocking ``LLMBackend.stream`` contract (the
Assistant runs backends in a worker thread). aiohttp would need the event loop and is
kept to ``kiosk/web`` so the core stays free of it.

What httpx alone cannot do is stop a read that is blocked waiting for the next token:
a visitor's Escape must not wait for the server's next byte, and the first token (after
the model read the whole prompt) deserves a longer timeout than the gap between two
tokens. So every stream has a small watchdog that shuts the socket down, which wakes the
blocked read at once, when the answer is cancelled, when the wall-clock budget is spent,
or when the first-token / between-token timeout passes. Connections are not kept alive:
the watchdog needs each stream's own socket (httpcore's connect trace hands it over), and
a fresh loopback connection costs well under a millisecond.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from kiosk.errors import LLMError


@dataclass(frozen=True)
class Timeouts:
    """Seconds; each backend section sets its own (see config ``[llm.backend.NAME]``)."""

    connect_s: float = 2.0
    first_token_s: float = 15.0
    between_tokens_s: float = 5.0


class _Watch:
    """Shuts a stream's socket down when it must stop; records why."""

    POLL_S = 0.05

    def __init__(self, cancel: threading.Event, timeouts: Timeouts, deadline: float | None) -> None:
        self.cancel = cancel
        self.timeouts = timeouts
        self.deadline = deadline
        self.reason = ""
        self.got_first = False
        self.last = time.monotonic()
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="llm-watch", daemon=True)

    # httpcore calls this for each step of a request; the connect step returns the stream
    def trace(self, name: str, info: dict[str, Any]) -> None:
        if name in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            with self._lock:
                self._sock = sock
                if self.reason:
                    self._shut()

    def tick(self) -> None:
        """A token (or any data line) arrived."""
        self.got_first = True
        self.last = time.monotonic()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()

    def _shut(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):  # already closed: nothing to wake
                self._sock.shutdown(socket.SHUT_RDWR)

    def _fire(self, reason: str) -> None:
        with self._lock:
            self.reason = reason
            self._shut()

    def _run(self) -> None:
        t = self.timeouts
        while not self._done.is_set():
            if self.cancel.is_set():
                return self._fire("cancel")
            now = time.monotonic()
            if self.deadline is not None and now >= self.deadline:
                return self._fire("budget")
            limit = t.between_tokens_s if self.got_first else t.first_token_s
            if now - self.last >= limit:
                return self._fire("between-tokens" if self.got_first else "first-token")
            self.cancel.wait(self.POLL_S)


def make_client(timeouts: Timeouts, headers: dict[str, str] | None = None) -> httpx.Client:
    # httpx's own read timeout is only a backstop: the watchdog enforces the real ones.
    backstop = max(timeouts.first_token_s, timeouts.between_tokens_s) + 5.0
    return httpx.Client(
        timeout=httpx.Timeout(backstop, connect=timeouts.connect_s),
        limits=httpx.Limits(max_keepalive_connections=0),
        # identity: a gzip-compressing server or proxy buffers a stream into large
        # blocks (llama-cpp-python's server sent nothing for 15 s with httpx's default)
        headers={"Accept-Encoding": "identity", **(headers or {})},
        trust_env=False,  # an http_proxy in the environment must not route visitors' words
    )


def error_text(body: bytes) -> str:
    """The message of an error body: Ollama's ``{"error": "..."}``, OpenAI's
    ``{"error": {"message": ...}}``, or the start of whatever else came back."""
    try:
        data = json.loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace").strip()
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        return str(err.get("message") or err)
    if err:
        return str(err)
    if isinstance(data, dict) and "detail" in data:  # FastAPI servers (llama-cpp-python)
        return str(data["detail"])[:200]
    return body[:200].decode("utf-8", "replace").strip()


def stream_lines(
    client: httpx.Client,
    name: str,
    url: str,
    body: dict[str, Any],
    cancel: threading.Event,
    timeouts: Timeouts,
    deadline: float | None,
) -> Iterator[str]:
    """POST ``body`` and yield the response's non-empty lines as they arrive.

    Returns quietly on cancel or when the budget is spent; raises LLMError with a stable
    code otherwise: ``llm.connect`` (nothing listening / refused), ``llm.timeout``
    (first token or between tokens), ``llm.http`` (an error status and its body),
    ``llm.lost`` (the server went away mid-answer).
    """
    watch = _Watch(cancel, timeouts, deadline)
    watch.start()
    try:
        try:
            with client.stream("POST", url, json=body, extensions={"trace": watch.trace}) as resp:
                if resp.status_code >= 400:
                    detail = error_text(resp.read())
                    raise LLMError(
                        "llm.http",
                        f"{name}: {url} answered {resp.status_code}: {detail}",
                        f"check the model and server of backend {name} (kiosk doctor)",
                    )
                for line in resp.iter_lines():
                    if line.strip() and not line.startswith(":"):  # ":" lines: SSE keep-alives
                        watch.tick()
                        yield line
        except httpx.ConnectTimeout as e:
            raise LLMError("llm.connect", f"{name}: no answer connecting to {url}", _fix(name)) from e
        except httpx.ConnectError as e:
            if watch.reason in ("cancel", "budget"):
                return
            raise LLMError("llm.connect", f"{name}: cannot connect to {url}: {e}", _fix(name)) from e
        except (httpx.TransportError, httpx.StreamError) as e:
            if watch.reason in ("cancel", "budget"):
                return
            if watch.reason in ("first-token", "between-tokens"):
                raise _timeout(name, watch.reason, timeouts) from e
            raise LLMError("llm.lost", f"{name}: the connection broke mid-answer: {e}", _fix(name)) from e
    finally:
        watch.stop()
    if watch.reason in ("first-token", "between-tokens"):
        # the shut-down socket can also read as a clean end of a response without framing
        raise _timeout(name, watch.reason, timeouts)


def _timeout(name: str, reason: str, timeouts: Timeouts) -> LLMError:
    first = reason == "first-token"
    limit = timeouts.first_token_s if first else timeouts.between_tokens_s
    return LLMError(
        "llm.timeout",
        f"{name}: no {'first token' if first else 'next token'} within {limit:g} s",
        f"raise the timeouts of backend {name} or check its load",
    )


def _fix(name: str) -> str:
    return f"start the server of backend {name}, or check its url (kiosk doctor)"


def get_json(client: httpx.Client, name: str, url: str, timeout_s: float = 3.0) -> Any:
    """A small request for health and model information (not streamed)."""
    return _json_call(client, name, "GET", url, None, timeout_s)


def post_json(client: httpx.Client, name: str, url: str, body: dict, timeout_s: float = 5.0) -> Any:
    return _json_call(client, name, "POST", url, body, timeout_s)


def _json_call(client: httpx.Client, name: str, method: str, url: str, body: dict | None, timeout_s: float) -> Any:
    try:
        resp = client.request(method, url, json=body, timeout=timeout_s)
    except httpx.HTTPError as e:
        raise LLMError("llm.connect", f"{name}: cannot reach {url}: {e}", _fix(name)) from e
    if resp.status_code >= 400:
        raise LLMError("llm.http", f"{name}: {url} answered {resp.status_code}: {error_text(resp.content)}", "")
    try:
        return resp.json()
    except ValueError as e:
        raise LLMError("llm.protocol", f"{name}: {url} did not answer JSON", _fix(name)) from e


class TokenEstimate:
    """Token counts for servers that cannot tokenise for us (Ollama has no tokenize call).

    Starts conservative (3 characters per token; English BPE averages about 4) so a prompt
    always fits the context, then learns the model's real ratio from the prompt token
    counts the server reports after each answer, keeping a 10% margin.
    """

    def __init__(self, chars_per_token: float = 3.0) -> None:
        self.chars_per_token = chars_per_token
        self._lock = threading.Lock()

    def count(self, text: str) -> int:
        return int(len(text) / self.chars_per_token) + 1

    def learn(self, chars: int, tokens: int) -> None:
        if chars < 200 or tokens <= 0:
            return  # too short to say anything about the ratio
        ratio = 0.9 * chars / tokens
        with self._lock:
            # move towards the measured ratio, never more optimistic than measured
            self.chars_per_token = max(1.5, min(ratio, 0.5 * (self.chars_per_token + ratio)))
