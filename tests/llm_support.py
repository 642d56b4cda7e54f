"""Real LLM servers for the backend tests: the Ollama-API fake (tests/ollama_fake.py,
backed by the real small chat model) and llama-cpp-python's own OpenAI server.

Each server is a subprocess on a free loopback port, so a test can SIGKILL one mid-answer
the way a crashed server dies. Servers started here are always stopped (``stop_all``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from kiosk import config as config_mod
from kiosk import models, paths

HERE = Path(__file__).parent
PY = sys.executable
_started: list[subprocess.Popen] = []


def model_path(name: str = "smollm2-135m") -> str:
    return str(models.resolve_llm(name, config_mod.Config().data_dir).path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(paths.REPO_ROOT), env.get("PYTHONPATH", "")])
    return env


class Server:
    def __init__(self, proc: subprocess.Popen, port: int) -> None:
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def kill(self) -> None:
        """SIGKILL: the server dies as a crash would, mid-answer if it is answering."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def get(self, path: str):
        with urllib.request.urlopen(self.url + path, timeout=10) as r:
            return json.loads(r.read())


def start_ollama(*flags: str, name: str = "qwen2:1.5b") -> Server:
    proc = subprocess.Popen(
        [PY, str(HERE / "ollama_fake.py"), "--model", model_path(), "--name", name, "--port", "0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=_env(),
    )
    _started.append(proc)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening"):
        proc.kill()
        raise RuntimeError(f"the Ollama fake did not start: {line!r}")
    return Server(proc, int(line.split()[1]))


def start_openai(api_key: str = "", alias: str = "smollm2") -> Server:
    """``python -m llama_cpp.server`` (llama-cpp-python's [server] extra) on the small model."""
    port = free_port()
    cmd = [PY, "-m", "llama_cpp.server", "--model", model_path(), "--model_alias", alias,
           "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "1", "--verbose", "False"]  # fmt: skip
    if api_key:
        cmd += ["--api_key", api_key]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
    _started.append(proc)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("llama_cpp.server exited at start")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                pass
        except OSError:
            time.sleep(0.2)
            continue
        _warm_up(port, api_key)
        return Server(proc, port)
    proc.kill()
    raise RuntimeError("llama_cpp.server did not start within 120 s")


def _warm_up(port: int, api_key: str) -> None:
    """The first decode after loading is several times slower: not a request's cost."""
    body = json.dumps({"prompt": "Good morning, could you tell me about the library? " * 4, "max_tokens": 2}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/completions", body, {"Content-Type": "application/json"})
    if api_key:
        req.add_header("Authorization", f"Bearer {api_key}")
    for _ in range(50):
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                r.read()
            return
        except OSError:  # the port opens a moment before the app serves
            time.sleep(0.2)


def stop_all() -> None:
    while _started:
        proc = _started.pop()
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def kill_after(server: Server, pieces: list, n: int) -> threading.Thread:
    """Kill ``server`` once ``pieces`` holds ``n`` items (watched from a thread)."""

    def watch() -> None:
        deadline = time.monotonic() + 120
        while len(pieces) < n and time.monotonic() < deadline:
            time.sleep(0.005)
        server.kill()

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    return t
