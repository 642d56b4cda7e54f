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
import json
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

    with rt:
        asyncio.run(serve())
    return ExitCode.OK


def _check_certificate(config: Config) -> None:
    """Refuse at once, with the fix, when HTTPS could not start with this certificate.

    An ACME kiosk is the exception: it gets (or renews) its own certificate when it starts,
    so a missing or old one is what it is about to fix, not a reason to refuse."""
    from kiosk.web.certs import device_hostname, validate

    if config.certs.mode == "acme":
        return

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
    return ExitCode.OK


def _cmd_certs_check(args: argparse.Namespace, config: Config) -> int:
    from kiosk.web.certs import cert_paths, device_hostname, load_roots, validate

    try:
        hostname = device_hostname(config)
        roots = load_roots(config.certs.roots)
    except CertError as e:
        print(f"FAIL [{e.code}] {e.message}\n     fix: {e.fix}")
        return ExitCode.FAILED
    report = validate(*cert_paths(config), hostname, roots=roots)
    print("\n".join(report.lines()))
    return ExitCode.OK if report.ok else ExitCode.FAILED


def _needs_acme(config: Config) -> int:
    if config.certs.mode != "acme":
        print(
            f'[certs] mode is "{config.certs.mode}": the certificate is a file copied onto the device\n'
            '     fix: set [certs] mode = "acme" and acme_directory to let the kiosk get its own',
            file=sys.stderr,
        )
        return ExitCode.ERROR
    return ExitCode.OK


def _cmd_certs_renew(args: argparse.Namespace, config: Config) -> int:
    """Exit 0 when a valid certificate is in place afterwards, whatever the attempt did."""
    if code := _needs_acme(config):
        return code
    from kiosk.web.renewal import Renewer

    try:
        renewer = Renewer(config)
        outcome = renewer.renew(force=args.force, respect_backoff=False)
        report = renewer.current()
    except CertError as e:
        print(f"FAIL [{e.code}] {e.message}\n     fix: {e.fix}")
        return ExitCode.FAILED
    print(f"{outcome.result}: {outcome.detail}")
    if outcome.error is not None:
        print(f"FAIL [{outcome.error.code}] {outcome.error.message}\n     fix: {outcome.error.fix}")
        if report.ok:
            print("the current certificate stays in place and keeps serving")
    if report.ok:
        print(f"in place: {report.cert_path} ({report.matched}, {report.days_left:.1f} days left)")
        return ExitCode.OK
    print(f"no valid certificate in place: [{report.problems[0].code}] {report.problems[0].message}")
    return ExitCode.FAILED


def _cmd_certs_status(args: argparse.Namespace, config: Config) -> int:
    from kiosk.web.renewal import Renewer

    try:
        info = Renewer(config).status()
    except CertError as e:
        print(f"FAIL [{e.code}] {e.message}\n     fix: {e.fix}")
        return ExitCode.FAILED
    if args.json:
        print(json.dumps(info, indent=2))
        return ExitCode.OK
    err = info["last_error"]
    rows = [
        ("mode", info["mode"]),
        ("certificate", info["certificate"] + ("" if info["valid"] else f"  (NOT VALID: {info['problem']})")),
        ("issuer", info["issuer"] or "-"),
        ("names", ", ".join(info["names"]) or "-"),
        ("serial", info["serial"] or "-"),
        ("not after", info["not_after"] or "-"),
        ("next renewal", info["next_renewal"] if info["mode"] == "acme" else "- (mode files)"),
        ("backing off", info["next_attempt"] or "no"),
        ("last success", info["last_success"] or "-"),
        ("last error", f"[{err['code']}] {err['message']} (fix: {err['fix']})" if err else "none"),
    ]
    for name, value in rows:
        print(f"{name + ':':14} {value}")
    return ExitCode.OK


def register(subparsers) -> None:
    p = subparsers.add_parser("serve", help="serve the web UI over HTTPS without the kiosk screen")
    p.add_argument("--port", type=int, help="override [web] port")
    p.add_argument("--no-llm", action="store_true", help="answer from the knowledge only")
    p.set_defaults(func=_cmd_serve)

    certs = subparsers.add_parser(
        "certs", help="development certificates, checks, and ACME renewal of the device's certificate"
    )
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
    r = sub.add_parser("renew", help="get or renew the certificate over ACME now ([certs] mode = acme)")
    r.add_argument("--force", action="store_true", help="renew even when the certificate is not due")
    r.set_defaults(func=_cmd_certs_renew)
    st = sub.add_parser("status", help="issuer, names, serial, expiry, next renewal and last error")
    st.add_argument("--json", action="store_true", help="print as JSON")
    st.set_defaults(func=_cmd_certs_status)
