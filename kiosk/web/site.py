"""The listening socket: per-address connection limits, a global cap, TLS after admission.

aiohttp's own TLS site hands a connection to its protocol only once the TLS handshake
is done, and it cannot tell one client from another: a single phone holding idle
connections (or connections that never finish their handshake) used to take every slot.
Here the socket accepts plain TCP, counts the connection against its client address
*before* any TLS work, and only then upgrades it with ``loop.start_tls`` (bounded by
a handshake timeout). A connection over its address's limit, or over the global cap, is
answered with a 503 (the security headers included) and closed; one address that keeps
opening connections past its limit while refusals are still pending is dropped without
a handshake, so refusing costs it, not the kiosk.

After the handshake the connection is served by aiohttp's RequestHandler, through
``_Gate``, which forwards the TLS transport's callbacks. aiohttp's own keep-alive timer
starts at connection time and is not reset by a partial request, so ``idle_timeout_s``
is also the header-read deadline a slowloris gets.

The handler is ``_Handler``: aiohttp's, with its parser-error reply replaced, because
aiohttp's echoes the offending request bytes back (and logs them with a traceback) and
bypasses ``on_response_prepare``, so it lacked the security headers.

This module uses aiohttp internals (``Server._kwargs``, ``RequestHandler.handle_error``);
the aiohttp minor version is pinned in os-image/packages/web.pip and pyproject.toml, and
tests/test_web_attacks.py fails if they change.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import ssl
from collections import Counter
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

log = logging.getLogger(__name__)

HANDSHAKE_S = 10.0
"""Longest TLS handshake: a phone on venue Wi-Fi needs well under a second."""
PENDING_REFUSALS = 4
"""503s in flight per address before further connections are dropped without TLS."""


def client_key(address: str | None) -> str:
    """The unit limits count: an IPv4 address, or an IPv6 /64 (one device's privacy addresses)."""
    if not address:
        return "?"
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


def http_reply(status: str, body: bytes, headers: dict[str, str]) -> bytes:
    """A complete ``Connection: close`` response, for the replies aiohttp does not build."""
    lines = [f"HTTP/1.1 {status}", "Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines += ["Cache-Control: no-store", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass(frozen=True)
class Limits:
    per_client: int
    total: int
    idle_s: float
    handshake_s: float = HANDSHAKE_S


class ConnectionCounts:
    """Connections per client address, counted from accept (handshakes included)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.open: Counter[str] = Counter()
        self.refusing: Counter[str] = Counter()
        self.total = 0
        self.refused = 0
        self.dropped = 0

    def admit(self, client: str) -> str:
        """ "serve", "refuse" (503) or "drop" (close at once); the caller counts the result."""
        if self.open[client] < self.limits.per_client and self.total < self.limits.total:
            return "serve"
        if self.refusing[client] < PENDING_REFUSALS:
            return "refuse"
        return "drop"

    def add(self, kind: str, client: str) -> None:
        if kind == "serve":
            self.open[client] += 1
            self.total += 1
        elif kind == "refuse":
            self.refusing[client] += 1
            self.refused += 1
        else:
            self.dropped += 1

    def remove(self, kind: str, client: str) -> None:
        counter = self.open if kind == "serve" else self.refusing if kind == "refuse" else None
        if counter is None:
            return
        counter[client] -= 1
        if counter[client] <= 0:
            del counter[client]
        if kind == "serve":
            self.total -= 1


class _Handler(RequestHandler):
    """aiohttp's handler with a parser-error reply that quotes nothing and carries the headers."""

    security_headers: dict[str, str] = {}

    def handle_error(
        self, request: Any, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        # The exception text quotes the request line or header that failed: never log it.
        log.debug("bad request answered %d (%s)", status, type(exc).__name__ if exc else "-")
        if request.writer.output_size > 0:
            raise ConnectionError("the response had started; the connection is closed instead")
        code = "web.bad-request" if status < 500 else "web.internal"
        text = "The request could not be read." if status < 500 else "Something went wrong on the kiosk."
        resp = web.json_response(
            {"error": {"code": code, "message": text, "fix": ""}},
            status=status,
            headers={**self.security_headers, "Cache-Control": "no-store"},
        )
        resp.force_close()
        return resp


class _Gate(asyncio.Protocol):
    """Counts one connection, upgrades it to TLS, then forwards everything to aiohttp."""

    def __init__(self, site: LimitedSite) -> None:
        self.site = site
        self.kind = ""
        self.client = "?"
        self.handler: asyncio.Protocol | None = None
        self.raw: asyncio.Transport | None = None
        self.early: list[bytes] = []
        self.early_eof = False
        self.closed = False
        self.task: asyncio.Task | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.raw = transport
        peer = transport.get_extra_info("peername")
        self.client = client_key(peer[0] if peer else None)
        counts = self.site.counts
        self.kind = counts.admit(self.client)
        counts.add(self.kind, self.client)
        if self.kind == "drop":
            transport.abort()
            return
        self.task = asyncio.get_running_loop().create_task(self._start())
        self.site.tasks.add(self.task)
        self.task.add_done_callback(self.site.tasks.discard)

    async def _start(self) -> None:
        assert self.raw is not None
        loop = asyncio.get_running_loop()
        try:
            tls = await loop.start_tls(
                self.raw,
                self,
                self.site.ssl_context,
                server_side=True,
                ssl_handshake_timeout=self.site.limits.handshake_s,
            )
        except (TimeoutError, OSError, ssl.SSLError, ConnectionError):
            return  # start_tls closed the socket; connection_lost does the counting
        if tls is None or self.closed:
            return
        if self.kind == "refuse":
            tls.write(self.site.busy_reply)
            tls.close()
            return
        self.handler = self.site.make_handler()
        self.handler.connection_made(tls)
        for chunk in self.early:
            self.handler.data_received(chunk)
        self.early.clear()
        if self.early_eof:
            self.handler.eof_received()

    def data_received(self, data: bytes) -> None:
        if self.handler is not None:
            self.handler.data_received(data)
        elif self.kind == "serve" and sum(map(len, self.early)) < 65536:
            self.early.append(data)  # decrypted before the handler was attached

    def eof_received(self) -> bool | None:
        if self.handler is not None:
            return self.handler.eof_received()
        self.early_eof = True
        return None

    def pause_writing(self) -> None:
        if self.handler is not None:
            self.handler.pause_writing()

    def resume_writing(self) -> None:
        if self.handler is not None:
            self.handler.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed:
            return
        self.closed = True
        self.site.counts.remove(self.kind, self.client)
        if self.handler is not None:
            self.handler.connection_lost(exc)


class LimitedSite(web.BaseSite):
    """A TLS site that limits connections per client address and in total."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext,
        limits: Limits,
        security_headers: dict[str, str],
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context)
        self.host, self.port, self.limits = host, port, limits
        self.ssl_context = ssl_context
        self.counts = ConnectionCounts(limits)
        self.tasks: set[asyncio.Task] = set()
        self.security_headers = dict(security_headers)
        self._handler_cls = type("_SiteHandler", (_Handler,), {"security_headers": self.security_headers})
        body = b'{"error": {"code": "web.busy", "message": "Too many connections.", "fix": "retry shortly"}}'
        self.busy_reply = http_reply(
            "503 Service Unavailable", body, {**self.security_headers, "Retry-After": "5"}
        )

    @property
    def name(self) -> str:
        return f"https://{self.host}:{self.port}"

    def make_handler(self) -> RequestHandler:
        server = self._runner.server
        assert server is not None
        return self._handler_cls(server, loop=asyncio.get_running_loop(), **server._kwargs)

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Gate(self), self.host, self.port, backlog=self._backlog, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        await super().stop()
        for task in list(self.tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*self.tasks, return_exceptions=True)
