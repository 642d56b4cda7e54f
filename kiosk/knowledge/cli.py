"""``kiosk knowledge check``: what staff should know about the knowledge folder.

Lists the files the kiosk skipped (and why), the files whose control characters were
removed, and the lines that address the assistant instead of stating a fact ("ignore
previous instructions"): the kiosk would read those to visitors word for word.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from kiosk.config import Config
from kiosk.knowledge.files import FileLimits, lint, read_folder
from kiosk.knowledge.index import load_entries


def _cmd_check(args: argparse.Namespace, config: Config) -> int:
    folder = Path(args.folder or config.knowledge.path)
    read = read_folder(folder, FileLimits.from_config(config.knowledge))
    findings = lint(read.files)
    cleaned = [f for f in read.files if f.cleaned]
    entries = len(load_entries(folder, read=read)) if read.files else 0
    if args.json:
        print(json.dumps({
            "folder": str(folder), "files": len(read.files), "entries": entries,
            "skipped": [{"code": e.code, "message": e.message, "fix": e.fix} for e in read.skipped],
            "cleaned": [{"file": f.rel, "removed": f.cleaned} for f in cleaned],
            "lint": [vars(x) for x in findings],
        }, indent=2))  # fmt: skip
    else:
        print(f"{folder}: {len(read.files)} file(s), {entries} entries")
        for e in read.skipped:
            print(f"SKIPPED {e.message} (fix: {e.fix})")
        for f in cleaned:
            print(f"CLEANED {f.rel}: {f.cleaned} control character(s) or escape sequence(s) removed")
        for x in findings:
            print(f"LINT {x.file}:{x.line}: {x.why}: {x.text!r}")
        if not (read.skipped or cleaned or findings):
            print("ok: nothing to report")
    return 1 if read.skipped or findings else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("knowledge", help="check the venue's knowledge folder")
    sub = p.add_subparsers(dest="knowledge_command", metavar="COMMAND", required=True)
    c = sub.add_parser("check", help="list skipped files, removed control characters and lint findings")
    c.add_argument("folder", nargs="?", help="knowledge folder (default: [knowledge] path)")
    c.add_argument("--json", action="store_true", help="print JSON")
    c.set_defaults(func=_cmd_check)
