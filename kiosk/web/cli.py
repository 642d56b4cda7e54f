"""``kiosk serve`` and ``kiosk certs dev|check``: the web face's commands.

``serve`` runs the HTTPS server alone (no Textual screen) on the same Assistant the
kiosk would use; ``certs check`` prints exactly what the server would serve and why it
is or is not valid for this device, so a technician can fix a certificate before the
kiosk refuses to start HTTPS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from kiosk.cli import ExitCode
from kiosk.config import Config
from kiosk.errors import CertError


def _cmd_serve(args: argparse.Namespace, config: Config) -> int:
    from kiosk import runtime
    from kiosk.web.server import start_web

    if args.port is not None:
        config.web.port = args.port
    rt = runtime.build(config, with_llm=not args.no_llm)
    for warning in rt.warnings:
        print(f"warning: {warning}", file=sys.stderr)

    async def serve() -> None:
        handle = await start_web(rt)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        print(
            f"serving {handle.url} (listening on {config.web.host}:{handle.port}); Ctrl+C stops", flush=True
        )
        try:
            await stop.wait()
        finally:
            await handle.stop()

    with rt:
        asyncio.run(serve())
    return ExitCode.OK


def _cmd_certs_dev(args: argparse.Namespace, config: Config) -> int:
    from cryptography import x509

    from kiosk.web.certs import spki_sha256_b64
    from kiosk.web.devca import make_dev

    files = make_dev(args.domain, Path(args.out), device_id=args.device or "")
    leaf = x509.load_pem_x509_certificates(files.cert.read_bytes())[0]
    print(f"CA certificate:   {files.ca_cert}  (trust this in development browsers only)")
    print(f"CA key:           {files.ca_key}")
    print(f"certificate:      {files.cert}  (leaf + CA)")
    print(f"key:              {files.key}")
    print(f"leaf SPKI sha256: {spki_sha256_b64(leaf)}")
    print("\nin the kiosk config:\n[web]")
    print(f'fleet_domain = "{args.domain}"\ncert = "{files.cert}"\nkey = "{files.key}"')
    return ExitCode.OK


def _cmd_certs_check(args: argparse.Namespace, config: Config) -> int:
    from kiosk.web.certs import device_hostname, validate

    try:
        hostname = device_hostname(config)
    except CertError as e:
        print(f"FAIL [{e.code}] {e.message}\n     fix: {e.fix}")
        return ExitCode.FAILED
    report = validate(config.web.cert, config.web.key, hostname)
    print("\n".join(report.lines()))
    return ExitCode.OK if report.ok else ExitCode.FAILED


def register(subparsers) -> None:
    p = subparsers.add_parser("serve", help="serve the web UI over HTTPS without the kiosk screen")
    p.add_argument("--port", type=int, help="override [web] port")
    p.add_argument("--no-llm", action="store_true", help="answer from the knowledge only")
    p.set_defaults(func=_cmd_serve)

    certs = subparsers.add_parser("certs", help="make development certificates or check the configured one")
    sub = certs.add_subparsers(dest="certs_command", required=True, metavar="ACTION")
    d = sub.add_parser("dev", help="make a local CA and a wildcard certificate for development")
    d.add_argument("--domain", required=True, help="fleet domain, e.g. fleet.test")
    d.add_argument("--out", required=True, help="folder for ca.pem, ca.key, fullchain.pem, privkey.pem")
    d.add_argument(
        "--device", help="issue a per-device certificate for DEVICE.<domain> instead of *.<domain>"
    )
    d.set_defaults(func=_cmd_certs_dev)
    c = sub.add_parser("check", help="show what the server would serve and whether it is valid here")
    c.set_defaults(func=_cmd_certs_check)
