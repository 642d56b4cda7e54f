"""The opt-in cloud fallback: for the questions the device cannot answer well.

Used only when all of these hold: the operator named a backend in ``[llm] cloud``,
``[privacy] mode`` is not ``strict``, the device is online (the cloud endpoint accepts
a TCP connection, checked at most every ``ONLINE_CACHE_S``), and the local answer was
refused or fell back (the Assistant decides that). What is sent is the question alone
with the retrieved venue facts: never an earlier turn, never anything from the log.
"""

from __future__ import annotations

import socket
import threading
import time
from urllib.parse import urlsplit

from kiosk.config import Config
from kiosk.knowledge.retrieve import Hit
from kiosk.llm.backend import GenerationRequest, LLMBackend
from kiosk.llm.prompt import build_request

NOTICE = "This answer comes from the online service."
"""Shown and spoken before a cloud answer's first sentence."""
ONLINE_CACHE_S = 30.0


class CloudFallback:
    def __init__(self, name: str, backend: LLMBackend, config: Config, url: str, connect_s: float = 2.0) -> None:
        self.name = name
        self.backend = backend
        self.config = config
        self.url = url
        self.connect_s = connect_s
        self.notice = NOTICE
        self._online: tuple[float, bool] | None = None
        self._lock = threading.Lock()
        self.used = 0

    def unavailable(self) -> str:
        """Why the cloud may not be used now ("" when it may). Blocking (the online check)."""
        if self.config.privacy.mode == "strict":
            return "[privacy] mode is strict"
        if not self.online():
            return "offline"
        return ""

    def online(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if self._online is not None and now - self._online[0] < ONLINE_CACHE_S:
                return self._online[1]
            parts = urlsplit(self.url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            try:
                with socket.create_connection((parts.hostname or "", port), timeout=self.connect_s):
                    ok = True
            except OSError:
                ok = False
            self._online = (now, ok)
            return ok

    def request(self, cfg: Config, question: str, hits: list[Hit]) -> GenerationRequest:
        """The question alone with the venue's facts: no earlier turns (``turns=[]``)."""
        self.used += 1
        return build_request(self.backend, cfg, question, hits, [])


def from_config(config: Config, backend: LLMBackend | None) -> CloudFallback | None:
    """The fallback for ``[llm] cloud`` around its built backend (None when off)."""
    if backend is None or not config.llm.cloud or config.privacy.mode == "strict":
        return None
    from kiosk.llm.factory import section

    b = section(config, config.llm.cloud)
    return CloudFallback(config.llm.cloud, backend, config, b.url, b.connect_timeout_s)
