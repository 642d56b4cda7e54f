"""Shared helpers for the web tests: dev PKI on disk, TLS client contexts, configs."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import ssl
import subprocess
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from kiosk import config as config_mod
from kiosk import runtime
from kiosk.web import devca
from kiosk.web.bench import LoopbackResolver
from kiosk.web.server import WebHandle, start_web

HOST = "kiosk-001.fleet.test"
CHROMIUM = "/usr/bin/chromium"


def write_pair(tmp: Path, leaf: devca.Issued, chain: list[x509.Certificate], name: str = "site"):
    cert, key = tmp / f"{name}.pem", tmp / f"{name}.key"
    devca.write_leaf(leaf, chain, cert, key)
    return cert, key


def client_context(ca: x509.Certificate, **kw) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=devca.cert_pem(ca).decode())
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


async def peer_cert(port: int, ctx: ssl.SSLContext, server_hostname: str = HOST) -> x509.Certificate:
    """A real handshake to 127.0.0.1 with the given SNI; returns what the server sent."""
    _reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=ctx, server_hostname=server_hostname
    )
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        return x509.load_der_x509_certificate(der)
    finally:
        writer.close()
        with contextlib.suppress(ssl.SSLError, ConnectionError):
            await writer.wait_closed()


def web_config(tmp: Path, cert: Path | str = "", key: Path | str = "", **web) -> config_mod.Config:
    data = {
        "data": {"dir": str(tmp / "data")},
        "speech": {"enabled": False},
        "log": {"enabled": False},
        "web": {"cert": str(cert), "key": str(key), "port": 0, "host": "127.0.0.1", **web},
    }
    return config_mod.from_mapping(data, source="test")


# --- a running server ---------------------------------------------------------------------


_SHARED: dict[str, object] = {}


def _scratch(name: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=f"kiosk-web-{name}-"))
    atexit.register(shutil.rmtree, path, True)
    return path


def shared_data_dir() -> Path:
    """One knowledge index for all web tests: building it embeds every entry (~15 s)."""
    if "data" not in _SHARED:
        _SHARED["data"] = _scratch("data")
    return _SHARED["data"]  # type: ignore[return-value]


def shared_pki() -> tuple[devca.DevFiles, devca.Issued]:
    """The dev CA and its wildcard *.fleet.test certificate, made once per test run."""
    if "pki" not in _SHARED:
        files = devca.make_dev("fleet.test", _scratch("pki"))
        ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
        ca = devca.Issued(x509.load_pem_x509_certificate(files.ca_cert.read_bytes()), ca_key)  # type: ignore[arg-type]
        _SHARED["pki"] = (files, ca)
    return _SHARED["pki"]  # type: ignore[return-value]


@dataclass
class Served:
    handle: WebHandle
    rt: runtime.Runtime
    http: aiohttp.ClientSession
    base: str
    ca: x509.Certificate

    @property
    def assistant(self):
        return self.rt.assistant

    def browser(self) -> aiohttp.ClientSession:
        """Another browser: its own cookie jar, so its own session."""
        return https_client(self.ca)


def https_client(ca: x509.Certificate) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(ssl=client_context(ca), resolver=LoopbackResolver(), limit=0)
    return aiohttp.ClientSession(connector=connector)


@contextlib.asynccontextmanager
async def serving(with_llm: bool = False, knowledge: dict | None = None, **web) -> AsyncIterator[Served]:
    files, ca = shared_pki()
    data_dir = shared_data_dir()
    cfg = config_mod.from_mapping(
        {
            "data": {"dir": str(data_dir)},
            "speech": {"enabled": False},
            "log": {"enabled": False},
            "web": {"cert": str(files.cert), "key": str(files.key), "port": 0, "host": "127.0.0.1", **web},
            "knowledge": knowledge or {},
        },
        source="test",
    )
    rt = runtime.build(cfg, with_llm=with_llm)
    handle = await start_web(rt, poll_s=0.2)
    http = https_client(ca.cert)
    try:
        yield Served(handle, rt, http, f"https://{HOST}:{handle.port}", ca.cert)
    finally:
        await http.close()
        await handle.stop()
        rt.close()


# --- attacks from another loopback address ------------------------------------------------

ATTACKER = "127.0.0.2"
"""Every attack comes from here; the probes (a normal visitor) from 127.0.0.1."""


def client_from(ca: x509.Certificate, address: str, **kw) -> aiohttp.ClientSession:
    """A browser at ``address``; ``force_close`` makes each request a new connection."""
    connector = aiohttp.TCPConnector(
        ssl=client_context(ca), resolver=LoopbackResolver(), limit=0, local_addr=(address, 0), **kw
    )
    return aiohttp.ClientSession(connector=connector)


class SlowLLM:
    """A scripted LLMBackend: one word every ``step_s`` until cancelled (a long running answer)."""

    name = "scripted-slow"
    prompt_style = "completion"
    executor = None  # the LLMBackend protocol: None runs it on the loop's default executor

    def __init__(self, words: int = 400, step_s: float = 0.05) -> None:
        self.words, self.step_s = words, step_s

    @property
    def n_ctx(self) -> int:
        return 2048

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(self, request, cancel):
        import time

        for i in range(self.words):
            if cancel.is_set():
                return
            time.sleep(self.step_s)
            yield f" word{i}"


# --- a real browser -------------------------------------------------------------------------


def _nss_home(tmp_path: Path, ca_pem: Path) -> Path:
    home = tmp_path / "home"
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{db}", "--empty-password"], check=True)
    subprocess.run(
        ["certutil", "-A", "-d", f"sql:{db}", "-n", "kiosk dev CA", "-t", "C,,", "-i", str(ca_pem)],
        check=True,
    )
    return home


async def launch_browser(pw, tmp_path: Path):
    """Debian's chromium, headless, trusting the dev CA the honest way (its NSS database in a
    throw-away HOME, no certificate-error overrides), with HOST mapped to 127.0.0.1 so the
    real name goes in SNI and Host."""
    files, _ = shared_pki()
    home = _nss_home(tmp_path, files.ca_cert)
    return await pw.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        env={**os.environ, "HOME": str(home)},
        args=[
            "--no-sandbox",
            f"--host-resolver-rules=MAP {HOST} 127.0.0.1",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",  # Playwright itself gives each launch a fresh --user-data-dir
        ],
    )
