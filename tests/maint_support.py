"""Shared by the maintenance tests (imported as a plain module, like core_support)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from kiosk import config as config_mod
from kiosk import runtime
from kiosk.maint import pin as pin_mod
from kiosk.web.bench import LoopbackResolver
from kiosk.web.maint import MAINT
from kiosk.web.server import start_web
from tests.web_support import HOST, client_context, shared_pki

PIN = "482915"
"""A PIN the policy accepts."""


class Clock:
    """An injected clock the test moves instead of waiting (wall or monotonic)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Maint:
    base: str
    app: object
    config: config_mod.Config
    config_file: Path
    ca: object
    clients: list[aiohttp.ClientSession]
    rt: runtime.Runtime

    def client(self, address: str = "127.0.0.1") -> aiohttp.ClientSession:
        """A browser on its own loopback address (127.0.0.x), with its own cookie jar."""
        connector = aiohttp.TCPConnector(
            ssl=client_context(self.ca), resolver=LoopbackResolver(), limit=0, local_addr=(address, 0)
        )
        session = aiohttp.ClientSession(connector=connector)
        self.clients.append(session)
        return session

    @property
    def state(self):
        return self.app[MAINT]


@contextlib.asynccontextmanager
async def maint_server(
    tmp_path: Path, pin: bool = True, sections: dict[str, dict] | None = None, **maint
) -> AsyncIterator[Maint]:
    """The real kiosk web server with /maint, from a real config file; ``sections`` add keys."""
    files, ca = shared_pki()
    cfg_file = tmp_path / "kiosk.toml"
    config: dict[str, dict] = {
        "data": {"dir": str(tmp_path / "data")},
        "speech": {"enabled": False},
        "log": {"enabled": False},
        "knowledge": {"embeddings": False},
        "web": {"cert": str(files.cert), "key": str(files.key), "port": 0, "host": "127.0.0.1"},
        "maint": {"pin_file": str(tmp_path / "maint-pin"), **maint},
    }
    for name, values in (sections or {}).items():
        config.setdefault(name, {}).update(values)
    text = "# the operator's own comment, kept by the settings writer\n"
    for name, values in config.items():  # JSON scalars and string lists are TOML too
        text += f"[{name}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())
    cfg_file.write_text(text)
    cfg = config_mod.load(cfg_file)
    if pin:
        pin_mod.write_pin_file(pin_mod.pin_file(cfg), pin_mod.hash_pin(PIN))
    rt = runtime.build(cfg, with_llm=False)
    handle = await start_web(rt, poll_s=0.2)
    m = Maint(f"https://{HOST}:{handle.port}", handle.app, cfg, cfg_file, ca.cert, [], rt)
    try:
        yield m
    finally:
        for c in m.clients:
            await c.close()
        await handle.stop()
        rt.close()


async def login(client: aiohttp.ClientSession, base: str, pin: str = PIN) -> tuple[int, dict, dict]:
    async with client.post(f"{base}/maint/login", json={"pin": pin}) as r:
        return r.status, await r.json(), dict(r.headers)
