"""`kiosk logs ...` through argparse, as the main CLI will call it: messages, not tracebacks."""

from __future__ import annotations

import argparse
import csv
import json
import os
import sqlite3
import stat
import time

import pytest
from log_support import config, turn

from kiosk.cli import ExitCode
from kiosk.store import cli
from kiosk.store.log import DAY_S, LogStore, period_of
from kiosk.store.sealed import load_recipient


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kiosk")
    cli.register(p.add_subparsers(dest="command"))
    return p


def run(cfg, *argv) -> int:
    args = parser().parse_args(["logs", *argv])
    return args.func(args, cfg)


@pytest.fixture
def logged(tmp_path, capsys):
    """An operator key with a passphrase, and a log of five turns over three days."""
    pw = tmp_path / "pw.txt"
    pw.write_text("s3cret passphrase\n")
    assert run(None, "keygen", "--out", str(tmp_path / "op.key"), "--passphrase-file", str(pw)) == 0
    assert "fingerprint" in capsys.readouterr().out
    cfg = config(tmp_path, str(tmp_path / "op.key.pub"))
    base = time.time() - 4 * DAY_S
    with LogStore(tmp_path / "interactions.db", recipients=[load_recipient(tmp_path / "op.key.pub")]) as s:
        for i in range(5):
            s.append(turn(i, ts=base + (i // 2) * DAY_S, question=f"q{i} to me@example.com"))
    return cfg, tmp_path, pw


def test_every_logs_command_has_help():
    p = parser()
    logs = p._subparsers._group_actions[0].choices["logs"]
    sub = logs._subparsers._group_actions[0]
    assert set(sub.choices) == {"keygen", "export", "stats", "verify", "purge"}
    for action in sub._choices_actions:
        assert action.help, action.dest
    for name, sp in sub.choices.items():
        for a in sp._actions:
            assert a.help, f"logs {name} {a.option_strings}"


def test_export_jsonl_to_a_private_file(logged, capsys):
    cfg, tmp, pw = logged
    out = tmp / "export.jsonl"
    assert (
        run(cfg, "export", "--key", str(tmp / "op.key"), "--passphrase-file", str(pw), "--out", str(out)) == 0
    )
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["question"] for r in rows] == [f"q{i} to [email]" for i in range(5)]
    assert "exported 5 record(s)" in capsys.readouterr().err


def test_export_csv_with_since_until(logged, capsys, monkeypatch):
    cfg, tmp, _ = logged
    monkeypatch.setenv(cli.PASSPHRASE_ENV, "s3cret passphrase")
    day1, day2 = period_of(time.time() - 3 * DAY_S), period_of(time.time() - 2 * DAY_S)
    assert run(cfg, "export", "--key", str(tmp / "op.key"), "--format", "csv", "--since", day1,
               "--until", day2) == 0  # fmt: skip
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert [r["id"] for r in rows] == ["3", "4"]
    assert json.loads(rows[0]["sources"]) == ["Opening hours"]


@pytest.mark.parametrize(
    ("make_key", "message"),
    [
        ("wrong-passphrase", "wrong passphrase"),
        ("no-passphrase", "protected by a passphrase"),
        ("other-key", "wrong key"),
        ("public-key", "public half"),
    ],
)
def test_key_problems_are_told_apart(logged, capsys, make_key, message):
    cfg, tmp, pw = logged
    key = tmp / "op.key"
    extra = ["--passphrase-file", str(pw)]
    if make_key == "wrong-passphrase":
        (tmp / "bad.txt").write_text("nope")
        extra = ["--passphrase-file", str(tmp / "bad.txt")]
    elif make_key == "no-passphrase":
        extra = []
    elif make_key == "other-key":
        assert run(cfg, "keygen", "--out", str(tmp / "other.key")) == 0
        key, extra = tmp / "other.key", []
    else:
        key = tmp / "op.key.pub"
    capsys.readouterr()
    assert run(cfg, "export", "--key", str(key), *extra) == ExitCode.ERROR
    err = capsys.readouterr().err
    assert message in err and "fix:" in err and "Traceback" not in err


def test_corrupt_record_is_named_and_the_rest_exported(logged, capsys):
    cfg, tmp, pw = logged
    with sqlite3.connect(tmp / "interactions.db") as c:
        c.execute(
            "UPDATE records SET content = substr(content, 1, 40) || x'00' || substr(content, 42) WHERE id = 2"
        )
    assert run(cfg, "export", "--key", str(tmp / "op.key"), "--passphrase-file", str(pw)) == 1
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 4
    assert "corrupt record 2" in captured.err
    assert run(cfg, "verify") == 1
    assert "FAILED at record 2" in capsys.readouterr().err


def test_stats_verify_purge_without_a_key(logged, capsys):
    cfg, tmp, pw = logged
    capsys.readouterr()
    assert run(cfg, "stats", "--json") == 0
    stats = json.loads(capsys.readouterr().out)
    assert (
        stats["records"] == 5
        and stats["redactions"] == {"email": 5}
        and stats["by_outcome"] == {"answered": 5}
    )
    assert run(cfg, "stats") == 0
    assert "records: 5" in capsys.readouterr().out
    assert run(cfg, "verify", "--key", str(tmp / "op.key"), "--passphrase-file", str(pw)) == 0
    assert "5 opened and authenticated" in capsys.readouterr().out
    assert run(cfg, "purge") == 0
    assert "shredded 0 record(s)" in capsys.readouterr().out  # nothing is 30 days old yet
    cfg.log.retention_days = 1
    assert run(cfg, "purge") == 0
    assert "shredded 5 record(s)" in capsys.readouterr().out
    assert run(cfg, "verify") == 0
    assert "0 record(s) chained" in capsys.readouterr().out


def test_purge_all_needs_confirmation(logged, capsys):
    cfg, _, _ = logged
    assert run(cfg, "purge", "--all") == ExitCode.ERROR
    assert "--yes" in capsys.readouterr().err
    assert run(cfg, "purge", "--all", "--yes") == 0


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_a_missing_or_damaged_log_is_an_error_message(logged, capsys, damage):
    cfg, tmp, _ = logged
    db = tmp / "interactions.db"
    if damage == "missing":
        db.unlink()
    else:
        db.write_bytes(db.read_bytes()[:1000])
    for command in ("stats", "verify", "purge"):
        assert run(cfg, command) == ExitCode.ERROR
        err = capsys.readouterr().err
        assert err.startswith("error [log.") and str(db) in err and "Traceback" not in err
