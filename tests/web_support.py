"""Shared helpers for the web tests: dev PKI on disk, TLS client contexts, configs."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path

from cryptography import x509

from kiosk import config as config_mod
from kiosk.web import devca

HOST = "kiosk-001.fleet.test"


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
