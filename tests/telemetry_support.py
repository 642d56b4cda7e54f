"""Telemetry test helpers: a small OTLP/HTTP server the tests control, and decoders.

The server is aiohttp on loopback, in its own thread and loop, so the kiosk's sender
(synchronous, on its own thread) and the test's assertions both talk to it as to a
collector on the network. Its ``mode`` scripts the faults: ``ok``, ``503``, ``429`` (with
``Retry-After``), ``slow`` (past the client's timeout), ``400``, ``hold`` (receive, then
wait until released: the moment to SIGKILL a kiosk mid-send).
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from kiosk import config as config_mod


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metadata(metric) -> dict:
    return {kv.key: (kv.value.string_value or kv.value.int_value) for kv in metric.metadata}


def attrs(kvs) -> dict:
    out = {}
    for kv in kvs:
        v = kv.value
        out[kv.key] = v.string_value if v.HasField("string_value") else v.int_value
    return out


def decode(signal: str, body: bytes, gzipped: bool):
    data = gzip.decompress(body) if gzipped else body
    cls = ExportLogsServiceRequest if signal == "logs" else ExportMetricsServiceRequest
    return cls.FromString(data), data


def batch_ids(signal: str, req) -> set[tuple[str, int]]:
    """(batch_id, seq) stamped on the items of one request."""
    out = set()
    if signal == "metrics":
        for rm in req.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    md = metadata(m)
                    out.add((md["kiosk.batch_id"], md["kiosk.batch_seq"]))
    else:
        for rl in req.resource_logs:
            for sl in rl.scope_logs:
                for r in sl.log_records:
                    a = attrs(r.attributes)
                    out.add((a["kiosk.batch_id"], a["kiosk.batch_seq"]))
    return out


@dataclass
class Received:
    signal: str
    t: float
    raw: bytes
    """The decompressed protobuf bytes."""
    req: object
    headers: dict
    ids: set = field(default_factory=set)


class FakeCollector:
    def __init__(self, port: int | None = None, ssl_context: ssl.SSLContext | None = None) -> None:
        self.port = port or free_port()
        self.ssl_context = ssl_context
        self.mode = "ok"
        self.retry_after = "1"
        self.slow_s = 2.0
        self.partial = 0
        self.received: list[Received] = []
        self.attempts: list[tuple[float, str, str]] = []
        """(time, signal, mode answered) for every request that reached the handler."""
        self.held = threading.Event()
        self.release = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{'localhost' if self.ssl_context else '127.0.0.1'}:{self.port}"

    def _run(self, coro, timeout: float = 10.0):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def start(self) -> FakeCollector:
        self._run(self._start())
        return self

    def stop(self) -> None:
        """The collector goes away (its port refuses connections)."""
        self.release.set()
        if self._runner is not None:
            self._run(self._runner.cleanup())
            self._runner = None

    def close(self) -> None:
        self.stop()

        async def cancel_rest() -> None:  # a slow or held handler still sleeping
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self._run(cancel_rest())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/metrics", self._handle)
        app.router.add_post("/v1/logs", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=self.ssl_context,
                           reuse_address=True)  # fmt: skip
        await site.start()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        signal = request.path.rsplit("/", 1)[1]
        mode = self.mode
        self.attempts.append((time.monotonic(), signal, mode))
        if mode == "503":
            return web.Response(status=503, text="overloaded")
        if mode == "429":
            return web.Response(status=429, headers={"Retry-After": self.retry_after}, text="slow down")
        if mode == "400":
            return web.Response(status=400, text="bad batch")
        body = await request.read()
        # aiohttp already undoes Content-Encoding: gzip; the header says what was sent
        req, raw = decode(signal, body, body[:2] == b"\x1f\x8b")
        got = Received(signal, time.monotonic(), raw, req, dict(request.headers), batch_ids(signal, req))
        self.received.append(got)
        if mode == "slow":
            await asyncio.sleep(self.slow_s)
        if mode == "hold":
            self.held.set()
            while not self.release.is_set():
                await asyncio.sleep(0.01)
        cls = ExportLogsServiceResponse if signal == "logs" else ExportMetricsServiceResponse
        resp = cls()
        if self.partial:
            if signal == "logs":
                resp.partial_success.rejected_log_records = self.partial
            else:
                resp.partial_success.rejected_data_points = self.partial
            resp.partial_success.error_message = "too old"
        return web.Response(body=resp.SerializeToString(), content_type="application/x-protobuf")

    # --- what arrived --------------------------------------------------------------

    def metric_batches(self) -> list[tuple[str, int]]:
        """Every (batch_id, seq) delivered in a metrics request, duplicates included."""
        out = []
        for r in self.received:
            if r.signal == "metrics":
                out.extend(sorted(r.ids))
        return out


def telemetry_config(tmp: Path, endpoint: str = "", **telemetry) -> config_mod.Config:
    data = {
        "data": {"dir": str(tmp / "data")},
        "knowledge": {"embeddings": False},
        "log": {"enabled": False},
        "speech": {"enabled": False},
        "web": {"device_id": "kiosk-t18"},
        "telemetry": {"endpoint": endpoint, "interval_s": 0.2, "timeout_s": 1.0, "compression": "gzip",
                      "fleet": "north", "site": "riverside", **telemetry},
    }  # fmt: skip
    return config_mod.from_mapping(data)


def write_toml(cfg_path: Path, cfg: config_mod.Config) -> None:
    """The sections the telemetry tests set, as a config file for a subprocess."""
    import json

    lines = []
    for sec in ("data", "knowledge", "log", "speech", "web", "telemetry"):
        lines.append(f"[{sec}]")
        section = getattr(cfg, sec)
        for key, value in vars(section).items():
            lines.append(f"{key} = {json.dumps(value)}")
    cfg_path.write_text("\n".join(lines) + "\n")


def wait_for(predicate, timeout: float = 20.0, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
