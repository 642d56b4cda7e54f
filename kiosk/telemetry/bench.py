"""``kiosk bench telemetry``: what telemetry costs, beside the same work without it.

- **Per turn**: the same questions through the real Assistant (knowledge answers, no
  LLM, so the turn itself is cheap and the overhead shows) with telemetry on and off,
  alternating rounds in one process; process CPU per turn for both, and the CPU the
  telemetry subscriber itself used, timed around each call.
- **Per interval**: one collection (observable callbacks, SDK aggregation, OTLP encoding,
  gzip and the fsync'd outbox commit), CPU and wall time, and the stored size.
- **Drain**: 1,000 queued batches sent to a real receiver (oteltap in a subprocess, or
  ``--endpoint URL`` for a collector you run), time and CPU of the kiosk side.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kiosk.config import Config

QUESTIONS = [
    "When is storytime?",
    "Can I print here?",
    "Is there wifi?",
    "Where are the toilets?",
    "Is the museum open on Mondays?",
    "hello",
    "What time do you open on Sunday?",
    "Can I borrow a laptop?",
]


def _cfg(base: Config, data: Path, enabled: bool, **telemetry: Any) -> Config:
    import copy

    cfg = copy.deepcopy(base)
    cfg.data.dir = str(data)
    cfg.log.enabled = False
    cfg.speech.enabled = False
    cfg.telemetry.enabled = enabled
    cfg.telemetry.endpoint = ""
    for k, v in telemetry.items():
        setattr(cfg.telemetry, k, v)
    return cfg


class _Timed:
    """Wraps the telemetry subscriber to add up the CPU it uses on the event loop."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.cpu_s = 0.0

    def __call__(self, event) -> None:
        t0 = time.thread_time()
        self.inner(event)
        self.cpu_s += time.thread_time() - t0


def _runtime(base: Config, data: Path, enabled: bool):
    from kiosk import runtime

    rt = runtime.build(_cfg(base, data, enabled, interval_s=3600.0), with_llm=False)
    timed = None
    tele = rt.sinks.get("telemetry")
    if enabled and tele is not None and tele.telemetry is not None:
        tele.unsubscribe()
        timed = _Timed(tele.telemetry)
        tele.unsubscribe = rt.assistant.subscribe(timed)
    return rt, timed


def _round(rt, turns: int) -> float:
    """Process CPU seconds per turn for ``turns`` questions through the Assistant."""

    async def run() -> None:
        conv = rt.assistant.start_conversation("bench")
        for i in range(turns):
            await rt.assistant.ask(conv, QUESTIONS[i % len(QUESTIONS)])
            if i % 4 == 3:
                rt.assistant.reset(conv, "idle")

    t0 = time.process_time()
    asyncio.run(run())
    return (time.process_time() - t0) / turns


def _turns(base: Config, data: Path, turns: int, rounds: int = 3) -> dict[str, Any]:
    """The same turns with telemetry on and off, alternating rounds on two runtimes."""
    on_rt, timed = _runtime(base, data, True)
    off_rt, _ = _runtime(base, data, False)
    on: list[float] = []
    off: list[float] = []
    try:
        _round(on_rt, len(QUESTIONS))  # warm: retrieval caches, SDK instruments
        _round(off_rt, len(QUESTIONS))
        assert timed is not None
        timed.cpu_s, measured = 0.0, 0
        for i in range(rounds):
            pair = [(on_rt, on), (off_rt, off)]
            for rt, into in pair if i % 2 == 0 else pair[::-1]:
                into.append(_round(rt, turns))
            measured += turns
        own = timed.cpu_s / measured
    finally:
        on_rt.close()
        off_rt.close()
    return {
        "turns_measured": measured,
        "turn_cpu_ms_telemetry_on": round(statistics.median(on) * 1000, 3),
        "turn_cpu_ms_telemetry_off": round(statistics.median(off) * 1000, 3),
        "turn_cpu_ratio_on_off": round(statistics.median(on) / statistics.median(off), 3),
        "telemetry_subscriber_cpu_ms_per_turn": round(own * 1000, 4),
        "telemetry_subscriber_share_of_turn": round(own / statistics.median(on), 5),
    }


def _intervals(base: Config, data: Path, n: int) -> dict[str, Any]:
    from kiosk.telemetry.metrics import Telemetry
    from kiosk.telemetry.outbox import Outbox

    cfg = _cfg(base, data, True)
    box = Outbox.from_config(cfg)
    tele = Telemetry(cfg, box)
    for _ in range(5):
        tele.collect()
    cpu, wall = [], []
    for _ in range(n):
        c0, w0 = time.thread_time(), time.perf_counter()
        tele.collect()
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - w0)
    size = box.db.execute("SELECT avg(size) FROM batch WHERE signal = 'metrics'").fetchone()[0]
    tele.shutdown()
    box.close()
    return {
        "interval_cpu_ms_p50": round(statistics.median(cpu) * 1000, 3),
        "interval_cpu_ms_max": round(max(cpu) * 1000, 3),
        "interval_wall_ms_p50": round(statistics.median(wall) * 1000, 3),
        "batch_bytes_gzip": round(size or 0),
    }


def _wait_port(port: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
        time.sleep(0.05)
    return False


def _drain(base: Config, data: Path, batches: int, endpoint: str) -> dict[str, Any]:
    from kiosk.telemetry.metrics import Telemetry
    from kiosk.telemetry.otlp import Sender
    from kiosk.telemetry.outbox import Outbox

    cfg = _cfg(base, data, True, max_outbox_mb=1000.0)
    box = Outbox.from_config(cfg)
    tele = Telemetry(cfg, box)
    for _ in range(batches):
        tele.collect()
    tele.shutdown()
    receiver = None
    if not endpoint:
        port = _free_port()
        receiver = subprocess.Popen([sys.executable, "-m", "oteltap", "--port", str(port)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        if not _wait_port(port):
            receiver.kill()
            return {"drain": "oteltap did not start (pip install oteltap: os-image/packages/test.pip)"}
        endpoint = f"http://127.0.0.1:{port}"
        cfg.telemetry.compression = "none"  # oteltap answers 400 to a gzip body
    cfg.telemetry.endpoint = endpoint
    sender = Sender(cfg, box)
    try:
        c0, w0 = time.process_time(), time.perf_counter()
        result = sender.flush(timeout_s=600)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        left = box.stats()
    finally:
        sender.close()
        box.close()
        if receiver is not None:
            receiver.terminate()
            receiver.wait(10)
    return {
        "drain_batches": batches,
        "drain_requests": left.sent,
        "drain_left": left.batches,
        "drain_last": result.kind,
        "drain_receiver": "oteltap" if receiver is not None else endpoint,
        "drain_compression": cfg.telemetry.compression,
        "drain_wall_s": round(wall, 3),
        "drain_cpu_s": round(cpu, 3),
        "drain_batches_per_s": round(batches / wall, 1) if wall else None,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_telemetry(args, config: Config) -> dict[str, Any]:
    turns = max(8, 8 * int(getattr(args, "runs", 3) or 3))
    # The knowledge index is built once into a folder kept for the next run; the bench's
    # own outboxes go to a temporary folder and never into the kiosk's real outbox.
    cache = config.data_dir / "bench-telemetry"
    tmp = Path(tempfile.mkdtemp(prefix="kiosk-bench-telemetry-"))
    try:
        result = _turns(config, cache, turns)
        for name in ("telemetry-outbox.db", "telemetry-outbox.db-wal", "telemetry-outbox.db-shm"):
            (cache / name).unlink(missing_ok=True)
        result.update(_intervals(config, tmp / "intervals", 100))
        result.update(_drain(config, tmp / "drain", 1000, getattr(args, "endpoint", "") or ""))
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
