"""A server that behaves like ``hailo-ollama`` (the AI HAT+ 2's LLM server), for tests.

Written from the Ollama API documentation, because no Ollama binary and no Hailo NPU
exist here, and backed by the REAL small model (llama-cpp-python) so it streams real
tokens at real speed. It behaves like hailo-ollama where that matters to the kiosk:

- one generation at a time. A second request WAITS for the first (FIFO), like Ollama
  with ``OLLAMA_NUM_PARALLEL=1`` (its scheduler queues requests for a busy model and only
  rejects past ``OLLAMA_MAX_QUEUE``, with 503 ``server busy, please try again.  maximum
  pending requests exceeded``). Waiting, not refusing, is what an Ollama-API server does
  with a busy model; ``--max-queue`` sets where refusing starts. The kiosk never relies
  on either: its LLMGate keeps one generation in flight per backend;
- a fixed 2048-token context: ``num_ctx`` above it is clamped, and a prompt that does not
  fit is an error (HTTP 400 ``{"error": ...}``) rather than Ollama's silent truncation,
  so a test sees it if the kiosk ever sends one;
- NDJSON streaming on ``/api/generate`` and ``/api/chat``, ``done: true`` with the
  counts on the last line; errors as ``{"error": "..."}`` bodies with 400/404/503;
- a client that closes the stream stops the generation (as Ollama does);
- ``/api/version``, ``/api/tags``, ``/api/show`` and ``/api/ps`` answer while a
  generation runs (they do not need the model).

Test-only: ``GET /_test/log`` returns what each generation request asked for and how it
ended. Run: ``python tests/ollama_fake.py --model PATH [--port 0] [--first-delay-s S]
[--token-delay-s S]``; it prints ``listening PORT`` once ready.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

CONTEXT = 2048
BUSY = "server busy, please try again.  maximum pending requests exceeded"


class Model:
    def __init__(self, path: str, name: str) -> None:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.llm = Llama(model_path=path, n_ctx=CONTEXT, n_threads=1, verbose=False)
        self.name = name
        meta = self.llm.metadata
        template = meta.get("tokenizer.chat_template", "")
        vocab = self.llm._model
        eos = vocab.token_get_text(self.llm.token_eos()) if self.llm.token_eos() >= 0 else ""
        bos = vocab.token_get_text(self.llm.token_bos()) if self.llm.token_bos() >= 0 else ""
        self.formatter = Jinja2ChatFormatter(template, eos, bos) if template else None
        self.arch = meta.get("general.architecture", "llama")
        self.executor = ThreadPoolExecutor(max_workers=1)
        # the first prompt evaluation after loading is many times slower (buffers are set
        # up; 18 s measured on a loaded machine): not the cost of a request
        warm = self.chat_prompt([{"role": "user", "content": "Good morning, could you tell me about the library? " * 4}])
        for _ in self.llm.create_completion(prompt=warm, max_tokens=2, stream=True):
            pass

    def chat_prompt(self, messages: list[dict]) -> str:
        """Render with the model's template; a trailing assistant message is continued
        (Ollama's prefill), not closed."""
        prefill = ""
        if messages and messages[-1].get("role") == "assistant":
            prefill = messages[-1].get("content", "")
            messages = messages[:-1]
        if self.formatter is None:
            text = "\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\nassistant:"
        else:
            text = self.formatter(messages=messages).prompt
        return text + prefill

    def tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode(), add_bos=True, special=True))


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


def error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class Server:
    def __init__(self, model: Model, first_delay_s: float, token_delay_s: float, max_queue: int) -> None:
        self.model = model
        self.first_delay_s = first_delay_s
        self.token_delay_s = token_delay_s
        self.max_queue = max_queue
        self.lock = asyncio.Lock()
        self.waiting = 0
        self.log: list[dict] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/version", self.version)
        app.router.add_get("/api/tags", self.tags)
        app.router.add_get("/api/ps", self.ps)
        app.router.add_post("/api/show", self.show)
        app.router.add_post("/api/generate", self.generate)
        app.router.add_post("/api/chat", self.chat)
        app.router.add_get("/_test/log", self.test_log)
        return app

    def _details(self) -> dict:
        return {"format": "hef", "family": self.model.arch, "parameter_size": "135M", "quantization_level": "Q4"}

    async def version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": "0.5.0-hailo-test"})

    async def tags(self, request: web.Request) -> web.Response:
        m = {"name": self.model.name, "model": self.model.name, "modified_at": now_iso(), "size": 0,
             "digest": "0" * 64, "details": self._details()}  # fmt: skip
        return web.json_response({"models": [m]})

    async def ps(self, request: web.Request) -> web.Response:
        return web.json_response({"models": [{"name": self.model.name, "model": self.model.name}]})

    async def test_log(self, request: web.Request) -> web.Response:
        return web.json_response(self.log)

    async def show(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        if isinstance(body, web.Response):
            return body
        if (body.get("model") or body.get("name")) != self.model.name:
            return error(404, f"model '{body.get('model')}' not found")
        return web.json_response({
            "modelfile": f"FROM {self.model.name}", "parameters": f"num_ctx {CONTEXT}", "template": "",
            "details": self._details(),
            "model_info": {"general.architecture": self.model.arch, f"{self.model.arch}.context_length": CONTEXT},
        })  # fmt: skip

    async def _json(self, request: web.Request) -> dict | web.Response:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return error(400, "invalid JSON body")
        if not isinstance(body, dict):
            return error(400, "body must be a JSON object")
        return body

    async def generate(self, request: web.Request) -> web.StreamResponse:
        return await self._generation(request, chat=False)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        return await self._generation(request, chat=True)

    async def _generation(self, request: web.Request, chat: bool) -> web.StreamResponse:
        body = await self._json(request)
        if isinstance(body, web.Response):
            return body
        if body.get("model") != self.model.name:
            return error(404, f"model '{body.get('model')}' not found, try pulling it first")
        if chat:
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                return error(400, "messages are required")
            prompt = self.model.chat_prompt(messages)
        else:
            prompt = str(body.get("prompt", ""))
        options = body.get("options") or {}
        n_ctx = min(int(options.get("num_ctx", CONTEXT)), CONTEXT)
        n_predict = int(options.get("num_predict", 128))
        # tokenised here, not on the generation thread: a waiting request must be counted
        # (and refused past the queue) while another generates
        prompt_tokens = self.model.tokens(prompt)
        entry = {"path": request.path, "prompt_tokens": prompt_tokens, "options": options,
                 "keep_alive": body.get("keep_alive"), "raw": body.get("raw"), "stream": body.get("stream", True),
                 "received": time.time(), "started": None, "ended": None, "outcome": ""}  # fmt: skip
        if chat:
            entry["last_role"] = body["messages"][-1].get("role")
            entry["last_content"] = body["messages"][-1].get("content")
        self.log.append(entry)
        if prompt_tokens + min(n_predict, 1) > n_ctx:
            entry["outcome"] = "too-long"
            return error(400, f"prompt is {prompt_tokens} tokens, the context is {n_ctx}")
        if self.waiting >= self.max_queue:
            entry["outcome"] = "busy"
            return error(503, BUSY)
        self.waiting += 1
        try:
            await self.lock.acquire()
        finally:
            self.waiting -= 1
        try:
            entry["started"] = time.time()
            return await self._stream(request, entry, prompt, options, n_predict, chat, prompt_tokens)
        finally:
            entry["ended"] = time.time()
            self.lock.release()

    async def _stream(self, request, entry, prompt, options, n_predict, chat, prompt_tokens):
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()
        t0 = time.monotonic_ns()

        def run() -> None:
            try:
                if self.first_delay_s:
                    time.sleep(self.first_delay_s)
                stream = self.model.llm.create_completion(
                    prompt=prompt, max_tokens=n_predict, temperature=float(options.get("temperature", 0.8)),
                    seed=int(options.get("seed", 0)), stop=options.get("stop") or None, stream=True,
                )  # fmt: skip
                for chunk in stream:
                    if stop.is_set():
                        stream.close()
                        break
                    choice = chunk["choices"][0]
                    loop.call_soon_threadsafe(pieces.put_nowait, ("piece", choice["text"], choice["finish_reason"]))
                    if self.token_delay_s:
                        time.sleep(self.token_delay_s)
            except Exception as e:
                loop.call_soon_threadsafe(pieces.put_nowait, ("error", str(e), None))
            finally:
                loop.call_soon_threadsafe(pieces.put_nowait, ("end", "", None))

        resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        worker = loop.run_in_executor(self.model.executor, run)
        count, reason = 0, "stop"
        try:
            while True:
                kind, text, finish = await pieces.get()
                if kind == "end":
                    break
                if not resp.prepared:
                    await resp.prepare(request)  # headers go with the first token, as in Ollama
                if kind == "error":
                    await resp.write((json.dumps({"error": text}) + "\n").encode())
                    entry["outcome"] = "error"
                    return resp
                if text:
                    count += 1
                    line = {"model": self.model.name, "created_at": now_iso(), "done": False}
                    line.update({"message": {"role": "assistant", "content": text}} if chat else {"response": text})
                    await resp.write((json.dumps(line) + "\n").encode())
                if finish:
                    reason = finish
            if not resp.prepared:
                await resp.prepare(request)
            final = {"model": self.model.name, "created_at": now_iso(), "done": True, "done_reason": reason,
                     "total_duration": time.monotonic_ns() - t0, "prompt_eval_count": prompt_tokens,
                     "eval_count": count}  # fmt: skip
            final.update({"message": {"role": "assistant", "content": ""}} if chat else {"response": ""})
            await resp.write((json.dumps(final) + "\n").encode())
            entry["outcome"] = "done"
            entry["tokens"] = count
            await resp.write_eof()
            return resp
        except (ConnectionResetError, asyncio.CancelledError):
            entry["outcome"] = "client-closed"
            raise
        finally:
            entry.setdefault("tokens", count)
            stop.set()
            await asyncio.shield(worker)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True, help="GGUF file backing the fake")
    p.add_argument("--name", default="qwen2:1.5b", help="model name the server reports")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--first-delay-s", type=float, default=0.0, help="extra wait before the first token")
    p.add_argument("--token-delay-s", type=float, default=0.0, help="extra wait after each token")
    p.add_argument("--max-queue", type=int, default=4, help="waiting requests before 503 busy")
    args = p.parse_args()
    server = Server(Model(args.model, args.name), args.first_delay_s, args.token_delay_s, args.max_queue)

    async def serve() -> None:
        runner = web.AppRunner(server.app(), handle_signals=True)
        await runner.setup()
        site = web.TCPSite(runner, args.host, args.port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        print(f"listening {port}", flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
