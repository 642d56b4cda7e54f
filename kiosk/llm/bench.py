"""``kiosk bench llm --backend all|NAME``: every reachable backend beside its raw client.

One row per backend, each with a ``backend`` field: the kiosk's path (the backend's
``stream`` in a worker thread, pieces handed to the event loop, as the Assistant
consumes it) and the raw client in the same run on the same prompt, alternating which
goes first. The raw client is llama-cpp-python itself for llama.cpp, and plain httpx
streaming the same endpoint for Ollama (/api/generate, NDJSON) and OpenAI-compatible
servers (/v1/completions, SSE): what is left is the cost of the kiosk's own layer.

Failover: the first two reachable backends behind a FallbackBackend, the first reached
through a TCP relay that is cut mid-answer (to the client, exactly a server killed
mid-answer); measured from the cut to the next backend's first token, and how much of
that was noticing the failure (the rest is the next backend reading the prompt).
"""

from __future__ import annotations

import contextlib
import json
import socket
import statistics
import threading
import time

import httpx

from kiosk.bench import BENCH_QUESTION, BENCH_TOKENS, _summary, _timed, pumped_run
from kiosk.config import Config
from kiosk.errors import KioskError
from kiosk.llm.backend import GenerationRequest
from kiosk.llm.factory import build_one, section
from kiosk.llm.select import FallbackBackend, Member


def _raw_http(client: httpx.Client, backend, prompt: str, seed: int) -> tuple:
    """The same endpoint through plain httpx: no watchdog, no queue, no thread hop."""
    if backend.kind == "ollama":
        url = backend.url + "/api/generate"
        body = {"model": backend.model, "prompt": prompt, "raw": True, "stream": True, "keep_alive": backend.keep_alive,
                "options": {"temperature": 0.0, "seed": seed, "num_predict": BENCH_TOKENS, "num_ctx": backend.n_ctx}}  # fmt: skip
    else:
        url = backend.url + "/completions"
        body = {"prompt": prompt, "max_tokens": BENCH_TOKENS, "temperature": 0.0, "seed": seed, "stream": True}
        if backend.model:
            body["model"] = backend.model
    def pieces():
        with client.stream("POST", url, json=body) as r:
            for line in r.iter_lines():
                if backend.kind == "ollama":
                    if line.strip() and json.loads(line).get("response"):
                        yield line
                elif line.startswith("data:") and line[5:].strip() != "[DONE]":
                    choice = json.loads(line[5:])["choices"]
                    if choice and choice[0].get("text"):
                        yield line

    return _timed(pieces())


def _row(name: str, backend, request: GenerationRequest, runs: int) -> dict:
    raw_res: list[tuple] = []
    kiosk_res: list[tuple] = []
    # built once, outside the timed part, as the backend's own client is
    client = httpx.Client(timeout=120, headers=dict(backend.client.headers))
    _raw_http(client, backend, request.prompt, request.seed)  # warm-up (model load, caches)
    for i in range(runs):
        order = [("raw", raw_res), ("kiosk", kiosk_res)]
        for side, sink in order if i % 2 == 0 else order[::-1]:
            sink.append(
                _raw_http(client, backend, request.prompt, request.seed) if side == "raw" else pumped_run(backend, request)
            )
    client.close()
    kiosk, raw = (_summary([r[0] for r in res], [g for r in res for g in r[1]], [r[2] for r in res],
                           [r[3] for r in res]) for res in (kiosk_res, raw_res))  # fmt: skip
    return {
        "backend": name,
        "kind": backend.kind,
        "model": backend.name,
        "runs": runs,
        "kiosk": kiosk,
        "raw": raw,
        "ratio_ttft": round(kiosk["ttft_ms"] / raw["ttft_ms"], 3) if raw["ttft_ms"] else None,
        "ratio_tokens_per_s": round(kiosk["tokens_per_s"] / raw["tokens_per_s"], 3) if raw["tokens_per_s"] else None,
    }


class _Relay:
    """A TCP relay in front of a backend; ``cut`` drops every connection through it."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass

    def cut(self) -> None:
        for s in self.socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        self.socks.clear()

    def close(self) -> None:
        self.cut()
        self.listener.close()


def _failover(first: tuple[str, object], second: tuple[str, object], config: Config, request, runs: int) -> dict:
    from urllib.parse import urlsplit

    name, backend = first
    parts = urlsplit(backend.url)
    relay = _Relay(parts.hostname or "127.0.0.1", parts.port or 80)
    via = build_one(name, section(config, name), config)
    via.url = backend.url.replace(parts.netloc, f"127.0.0.1:{relay.port}", 1)
    times: list[float] = []
    detect: list[float] = []
    try:
        for _ in range(runs):
            fb = FallbackBackend([Member(name, via), Member(second[0], second[1])])  # type: ignore[arg-type]
            cut_at = None
            req = GenerationRequest(prompt=request.prompt, max_tokens=BENCH_TOKENS, seed=request.seed, temperature=0.0)
            for seen, _piece in enumerate(fb.stream(req, threading.Event()), 1):
                if seen == 8:
                    cut_at = time.perf_counter()
                    relay.cut()
                elif cut_at is not None:
                    times.append(time.perf_counter() - cut_at)
                    if fb.failovers:  # failure noticed -> next backend's first token
                        detect.append(times[-1] - fb.failovers[-1]["s"])
                    break
    finally:
        relay.close()
    return {
        "from": name,
        "to": second[0],
        "runs": len(times),
        "failover_ms_p50": round(statistics.median(times) * 1000, 1) if times else None,
        "failover_ms_max": round(max(times) * 1000, 1) if times else None,
        "detect_ms_p50": round(statistics.median(detect) * 1000, 1) if detect else None,
        "detect_ms_max": round(max(detect) * 1000, 1) if detect else None,
    }


def bench_backends(args, config: Config) -> dict:
    from kiosk.bench import bench_llm
    from kiosk.llm.prompt import build_request
    from kiosk.runtime import open_knowledge

    runs = max(1, int(getattr(args, "runs", 3)))
    wanted = config.llm.backends if args.backend == "all" else [args.backend]
    knowledge = open_knowledge(config)
    hits = knowledge.search(BENCH_QUESTION, config.knowledge.top_k)
    knowledge.index.close()
    rows: list[dict] = []
    remote: list[tuple[str, object, GenerationRequest]] = []
    skipped: dict[str, str] = {}
    for name in wanted:
        b = section(config, name)
        if b.kind == "llama.cpp":
            cpu = bench_llm(args, _cpu_config(config, b), plain=True)
            rows.append({"backend": name, "kind": "llama.cpp", **cpu})
            continue
        try:
            backend = build_one(name, b, config)
            backend.info()  # type: ignore[attr-defined]
        except KioskError as e:
            skipped[name] = e.message
            continue
        request = build_request(backend, config, BENCH_QUESTION, hits, [])
        if request.messages:  # both sides on the completion endpoint, the same rendered prompt
            request = GenerationRequest(prompt="\n".join(m.content for m in request.messages) + "\nAssistant:")
        request.max_tokens, request.temperature, request.stop = BENCH_TOKENS, 0.0, []
        rows.append(_row(name, backend, request, runs))
        remote.append((name, backend, request))
    out: dict = {"rows": rows, "unreachable": skipped}
    if len(remote) >= 2:  # on the first one's bench prompt: it is known to run 64 tokens
        (first, b1, request), (second, b2, _) = remote[:2]
        out["failover"] = _failover((first, b1), (second, b2), config, request, runs)
    return out


def _cpu_config(config: Config, b) -> Config:
    import copy

    cfg = copy.deepcopy(config)
    cfg.llm.model, cfg.llm.n_ctx, cfg.llm.threads = b.model or config.llm.model, b.n_ctx, b.threads
    cfg.llm.backends, cfg.llm.cloud = ["cpu"], ""
    return cfg
