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

from kiosk.config import Config
from kiosk.errors import CertError


def _cmd_serve(args: argparse.Namespace, config: Config) -> int:
    from kiosk import runtime
    from kiosk.web.server import start_web

    if args.port is not None:
        config.web.port = args.port
    _check_certificate(config)  # seconds of model loading only for a server that can start
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

    try:
        asyncio.run(serve())
    finally:
        rt.close()
    return 0


def _check_certificate(config: Config) -> None:
    """Refuse at once, with the fix, when HTTPS could not start with this certificate."""
    from kiosk.web.certs import device_hostname, validate

    report = validate(config.web.cert, config.web.key, device_hostname(config))
    report.raise_for_problems()


def _cmd_certs_dev(args: argparse.Namespace, config: Config) -> int:
    from cryptography import x509

    from kiosk.web.certs import spki_sha256_b64
    from kiosk.web.devca import make_dev

    domain = args.domain or config.web.fleet_domain
    # Per-device by default: a fleet-wide wildcard's key on one stolen kiosk exposes them all.
    device = "" if args.wildcard else (args.device or config.web.device_id)
    out = Path(args.out) if args.out else config.data_dir / "certs"
    files = make_dev(domain, out, device_id=device)
    leaf = x509.load_pem_x509_certificates(files.cert.read_bytes())[0]
    print(f"CA certificate:   {files.ca_cert}  (trust this in development browsers only)")
    print(f"CA key:           {files.ca_key}")
    print(f"certificate:      {files.cert}  (leaf + CA)")
    print(f"key:              {files.key}")
    print(f"leaf SPKI sha256: {spki_sha256_b64(leaf)}")
    print("\nin the kiosk config:\n[web]")
    print(f'device_id = "{device or config.web.device_id}"' if device else "# (wildcard: any device_id)")
    print(f'fleet_domain = "{domain}"\ncert = "{files.cert}"\nkey = "{files.key}"')
    return 0


def _cmd_certs_check(args: argparse.Namespace, config: Config) -> int:
    from kiosk.web.certs import device_hostname, validate

    try:
        hostname = device_hostname(config)
    except CertError as e:
        print(f"FAIL [{e.code}] {e.message}\n     fix: {e.fix}")
        return 1
    report = validate(config.web.cert, config.web.key, hostname)
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


def register(subparsers) -> None:
    p = subparsers.add_parser("serve", help="serve the web UI over HTTPS without the kiosk screen")
    p.add_argument("--port", type=int, help="override [web] port")
    p.add_argument("--no-llm", action="store_true", help="answer from the knowledge only")
    p.set_defaults(func=_cmd_serve)

    certs = subparsers.add_parser("certs", help="make development certificates or check the configured one")
    sub = certs.add_subparsers(dest="certs_command", required=True, metavar="ACTION")
    d = sub.add_parser("dev", help="make a local CA and a certificate for this device, for development")
    d.add_argument("--domain", help="fleet domain (default: [web] fleet_domain)")
    d.add_argument(
        "--out", help="folder for ca.pem, ca.key, fullchain.pem, privkey.pem (default: <data dir>/certs)"
    )
    d.add_argument("--device", help="device label for DEVICE.<domain> (default: [web] device_id)")
    d.add_argument(
        "--wildcard", action="store_true", help="issue a fleet-wide *.<domain> instead (one key for all)"
    )
    d.set_defaults(func=_cmd_certs_dev)
    c = sub.add_parser("check", help="show what the server would serve and whether it is valid here")
    c.set_defaults(func=_cmd_certs_check)
