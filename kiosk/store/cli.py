"""``kiosk logs ...``: the operator's commands for the sealed interaction log.

keygen runs on the operator's computer (the private key never belongs on a kiosk);
stats, verify and purge run on the kiosk without any key; export needs the private key.
Every failure is a coded error printed as a sentence and a fix, never a traceback.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import functools
import getpass
import json
import os
import re
import sqlite3
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from kiosk.cli import ExitCode
from kiosk.cli import report as report_error
from kiosk.config import Config
from kiosk.errors import KioskError, LogError
from kiosk.store import audit, sealed
from kiosk.store.log import LogStore, db_error, log_path

PASSPHRASE_ENV = "KIOSK_LOG_PASSPHRASE"
Handler = Callable[[argparse.Namespace, Config], int]


def _guarded(fn: Handler) -> Handler:
    @functools.wraps(fn)
    def run(args: argparse.Namespace, config: Config) -> int:
        try:
            return fn(args, config)
        except sqlite3.Error as e:
            err: KioskError = db_error(e, getattr(args, "db", None) or log_path(config), "read")
        except KioskError as e:
            err = e
        return report_error(err)

    return run


def register(subparsers: argparse._SubParsersAction) -> None:
    logs = subparsers.add_parser(
        "logs", help="sealed interaction log: keys, export, stats, verify, purge",
        description="The interaction log is sealed to the operator's public key; the kiosk cannot read it.",
    )  # fmt: skip
    sub = logs.add_subparsers(dest="logs_command", metavar="COMMAND", required=True)

    p = sub.add_parser("keygen", help="make an operator key pair (run this on the operator's computer)")
    p.add_argument("--out", required=True, type=Path, help="private key file to write (FILE.pub beside it)")
    p.add_argument(
        "--passphrase", action="store_true", help="protect the private key, asking for a passphrase"
    )
    p.add_argument("--passphrase-file", type=Path, help="protect the private key with the passphrase in FILE")
    p.add_argument("--force", action="store_true", help="overwrite existing key files")
    p.set_defaults(func=cmd_keygen)

    p = sub.add_parser("export", help="decrypt records with the operator's private key")
    p.add_argument("--key", required=True, type=Path, help="the operator's private key file")
    _passphrase_arg(p)
    p.add_argument("--since", help="first date or time to export (ISO 8601, UTC unless it says otherwise)")
    p.add_argument("--until", help="export records before this date or time (ISO 8601)")
    p.add_argument(
        "--format", choices=("jsonl", "csv"), default="jsonl", help="output format (default jsonl)"
    )
    p.add_argument("--out", type=Path, help="write to FILE (mode 0600) instead of standard output")
    _db_arg(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("stats", help="count records from the clear metadata (no key needed)")
    p.add_argument("--json", action="store_true", help="print JSON")
    _db_arg(p)
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("verify", help="check the hash chain; with --key also open every record")
    p.add_argument("--key", type=Path, help="the operator's private key: also authenticate each record")
    _passphrase_arg(p)
    _db_arg(p)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("purge", help="delete expired records now and destroy their data keys")
    p.add_argument("--all", action="store_true", help="shred every record, not only expired ones")
    p.add_argument("--yes", action="store_true", help="confirm --all")
    _db_arg(p)
    p.set_defaults(func=cmd_purge)


def _db_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", type=Path, help="log database (default: [log] path)")


def _passphrase_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--passphrase-file", type=Path, help=f"read the key's passphrase from FILE (or set {PASSPHRASE_ENV})"
    )


def _read_passphrase_file(path: Path) -> bytes:
    try:
        return path.read_bytes().rstrip(b"\r\n")
    except OSError as e:
        raise LogError("log.passphrase-file", f"cannot read {path}: {e.strerror}", "check the path") from e


def _load_key(args: argparse.Namespace) -> X25519PrivateKey:
    passphrase: bytes | None = None
    if args.passphrase_file:
        passphrase = _read_passphrase_file(args.passphrase_file)
    elif os.environ.get(PASSPHRASE_ENV):
        passphrase = os.environ[PASSPHRASE_ENV].encode()
    try:
        return sealed.load_private_key(args.key, passphrase)
    except LogError as e:
        if e.code != "log.passphrase-needed" or not sys.stdin.isatty():
            raise
    return sealed.load_private_key(args.key, getpass.getpass(f"Passphrase for {args.key}: ").encode())


def _store(args: argparse.Namespace, config: Config, readonly: bool = True) -> LogStore:
    path = args.db or log_path(config)
    if not Path(path).is_file():
        raise LogError("log.missing", f"there is no log at {path}", "check [log] path or --db")
    return LogStore(path, retention_days=config.log.retention_days, readonly=readonly)


@_guarded
def cmd_keygen(args: argparse.Namespace, config: Config) -> int:
    passphrase: bytes | None = None
    if args.passphrase_file:
        passphrase = _read_passphrase_file(args.passphrase_file)
    elif args.passphrase:
        passphrase = getpass.getpass("New passphrase: ").encode()
        if passphrase != getpass.getpass("Repeat it: ").encode():
            raise LogError("log.passphrase-mismatch", "the two passphrases differ", "run keygen again")
    if args.passphrase_file is not None and not passphrase:
        raise LogError(
            "log.passphrase-empty", f"{args.passphrase_file} is empty", "write a passphrase into it"
        )
    recipient = sealed.write_keypair(args.out, passphrase, overwrite=args.force)
    protected = ", passphrase-protected" if passphrase else ""
    print(f"private key: {args.out} (mode 0600{protected}): keep it off the kiosk")
    print(f"public key:  {recipient.path} (fingerprint {recipient.fingerprint})")
    print(f'on the kiosk: copy the .pub file there and set [log] recipients = ["{recipient.path}"]')
    return 0


def _parse_time(text: str | None, flag: str) -> float | None:
    if not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError as e:
        raise LogError("log.bad-time", f"{flag} {text!r} is not an ISO 8601 date or time",
                       "write e.g. 2026-11-24 or 2026-11-24T13:00") from e  # fmt: skip
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


@_guarded
def cmd_export(args: argparse.Namespace, config: Config) -> int:
    since, until = _parse_time(args.since, "--since"), _parse_time(args.until, "--until")
    key = _load_key(args)
    with _store(args, config) as store:
        rows = audit.export(store, key, since, until)
        problems: list[audit.ExportProblem] = []
        records = _records_only(rows, problems)
        if args.out:
            count = _write_private(args.out, lambda f: _emit(records, f, args.format))
        else:
            count = _emit(records, sys.stdout, args.format)
    for p in problems:
        print(f"error: {p.message}", file=sys.stderr)
    print(f"exported {count} record(s)" + (f", {len(problems)} could not be opened" if problems else ""),
          file=sys.stderr)  # fmt: skip
    return ExitCode.FAILED if problems else ExitCode.OK


def _records_only(rows: Iterator, problems: list[audit.ExportProblem]) -> Iterator[dict]:
    """Records go to the output; a record that does not open is set aside to be reported."""
    for row in rows:
        if isinstance(row, audit.ExportProblem):
            problems.append(row)
        else:
            yield row


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_C1_OR_DEL = re.compile(r"[\x7f-\x9f]")


def csv_cell(value: object) -> object:
    """One spreadsheet-safe cell: a visitor's text never becomes a formula or a terminal command.

    Control characters (ESC, BEL, CR, ... and the C1 range, which some terminals read as
    ESC [) become U+FFFD; a cell that a spreadsheet would evaluate (= + - @, or a tab or
    CR before them) gets a leading apostrophe, the OWASP recipe. Newlines stay (CSV quotes
    them). Numbers are left as numbers.
    """
    if isinstance(value, list | dict):
        value = json.dumps(value, ensure_ascii=False)
    if not isinstance(value, str):
        return value
    if value.startswith(_FORMULA_START):
        value = "'" + value
    return _CONTROL.sub("\ufffd", value)


def jsonl_line(rec: dict) -> str:
    """Exact JSON; C1 controls and DEL are escaped too, so a terminal shows them as text."""
    return _C1_OR_DEL.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(rec, ensure_ascii=False))


def _emit(records: Iterator, out: IO[str], fmt: str) -> int:
    count = 0
    writer: csv.DictWriter | None = None
    for rec in records:
        if fmt == "jsonl":
            out.write(jsonl_line(rec) + "\n")
        else:
            if writer is None:
                writer = csv.DictWriter(out, fieldnames=list(rec))
                writer.writeheader()
            writer.writerow({k: csv_cell(v) for k, v in rec.items()})
        count += 1
    return count


def _write_private(path: Path, write: Callable[[IO[str]], int]) -> int:
    """Decrypted text goes to a file only its owner can read."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            return write(f)
    except OSError as e:
        raise LogError(
            "log.export-write", f"cannot write {path}: {e.strerror}", "choose another --out"
        ) from e


@_guarded
def cmd_stats(args: argparse.Namespace, config: Config) -> int:
    with _store(args, config) as store:
        result = audit.stats(store)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"log {result['path']} ({result['bytes']:,} bytes)")
    print(f"records: {result['records']} ({result['first'] or '-'} .. {result['last'] or '-'})")
    print(f"shredded by retention: {result['shredded']}; data keys held: {result['data_keys']}")
    for name in ("by_outcome", "by_mode", "by_source", "redactions"):
        items = ", ".join(f"{k or '-'} {v}" for k, v in result[name].items()) or "-"
        print(f"{name.replace('_', ' ')}: {items}")
    print(f"mean time to first word: {result['avg_ttft_ms']} ms; mean answer: {result['avg_total_ms']} ms")
    print(f"recipients: {', '.join(result['recipients']) or '-'}")
    return 0


@_guarded
def cmd_verify(args: argparse.Namespace, config: Config) -> int:
    key = _load_key(args) if args.key else None
    with _store(args, config) as store:
        report = audit.verify(store, key)
    if report.ok:
        opened = f", {report.authenticated} opened and authenticated" if key else ""
        early = f" ({report.purged_early} early, by purge --all)" if report.purged_early else ""
        print(f"ok: {report.records} record(s) chained{opened}; {report.shredded} shredded{early}")
        return 0
    print(f"FAILED at record {report.first_bad}: {report.problem} [{report.code}]", file=sys.stderr)
    return ExitCode.FAILED


@_guarded
def cmd_purge(args: argparse.Namespace, config: Config) -> int:
    if args.all and not args.yes:
        raise LogError("log.confirm", "--all shreds every record in the log", "add --yes to confirm")
    with _store(args, config, readonly=False) as store:
        result = store.purge(everything=args.all)
    print(f"shredded {result['records']} record(s) and {result['wrapped_keys']} wrapped key(s)"
          f" from before {result['cutoff'] if not args.all else 'now'}")  # fmt: skip
    if not result["wal_truncated"]:
        print("note: another process is reading the log; its WAL is truncated at the next checkpoint")
    return 0
