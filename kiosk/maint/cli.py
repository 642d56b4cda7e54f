"""``kiosk maint set-pin | status``: the technician's PIN, set from a shell.

``set-pin`` asks twice without echo, or reads one line from ``--pin-file`` for
provisioning scripts (``--print-hash`` prints the hash for ``[maint] pin_hash`` instead of
writing the file, so first-boot provisioning can carry a hash and never the PIN).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from kiosk.config import Config
from kiosk.errors import MaintError


def _read_pin(args: argparse.Namespace) -> str:
    if args.pin_file:
        try:
            lines = Path(args.pin_file).read_text("utf-8").splitlines()
        except OSError as e:
            raise MaintError(
                "maint.pin-file", f"cannot read {args.pin_file}: {e.strerror}", "check the path"
            ) from e
        return lines[0].strip() if lines else ""
    if not sys.stdin.isatty():
        raise MaintError(
            "maint.no-tty",
            "set-pin asks for the PIN on a terminal",
            "run it on a terminal, or pass --pin-file FILE",
        )
    first = getpass.getpass("New maintenance PIN (6-12 digits): ")
    from kiosk.maint.pin import check_pin

    check_pin(first)  # say so now, not after typing it twice
    if getpass.getpass("The same PIN again: ") != first:
        raise MaintError(
            "maint.pin-mismatch", "the two PINs differ; nothing was changed", "run set-pin again"
        )
    return first


def cmd_set_pin(args: argparse.Namespace, config: Config) -> int:
    from kiosk.maint.pin import hash_pin, pin_file, write_pin_file

    encoded = hash_pin(_read_pin(args))
    if args.print_hash:
        print(encoded)
        return 0
    path = Path(args.out) if args.out else pin_file(config)
    try:
        write_pin_file(path, encoded)
    except PermissionError as e:
        raise MaintError(
            "maint.pin-write",
            f"cannot write {path}: {e.strerror}",
            "run as root (sudo kiosk maint set-pin), or set [maint] pin_file to a file you may write",
        ) from e
    print(f"maintenance PIN set: its argon2id hash is in {path} (mode 0640)")
    return 0


def cmd_status(args: argparse.Namespace, config: Config) -> int:
    from kiosk.maint.gate import PinGate

    gate = PinGate(config)
    try:
        stored, error = gate.pin_status()
        state = gate.state()
        print(f"PIN: {'set (' + stored.source + ')' if stored else 'not set'}")
        if error is not None:
            print(f"     {error.message}; fix: {error.fix}")
        print(f"wrong PINs in a row: {state.failures}")
        print(f"locked: {f'for {state.remaining_s:.0f} s more' if state.locked else 'no'}")
        for ts, place, client, outcome in gate.lockout.recent(5):
            import datetime as dt

            when = dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")
            print(f"  {when} {place:6} {client or '-':15} {outcome}")
    finally:
        gate.lockout.close()
    return 0


def register(subparsers) -> None:
    maint = subparsers.add_parser(
        "maint", help="maintenance mode: set the technician's PIN, show the lockout"
    )
    sub = maint.add_subparsers(dest="maint_command", required=True, metavar="ACTION")
    p = sub.add_parser("set-pin", help="set the maintenance PIN (asked twice without echo)")
    p.add_argument("--pin-file", help="read the PIN from the first line of FILE (provisioning scripts)")
    p.add_argument("--out", help="hash file to write (default: [maint] pin_file, /etc/kiosk/maint-pin)")
    p.add_argument("--print-hash", action="store_true", help="print the hash for [maint] pin_hash instead")
    p.set_defaults(func=cmd_set_pin)
    p = sub.add_parser("status", help="is a PIN set, how many wrong PINs, is entry locked")
    p.set_defaults(func=cmd_status)
