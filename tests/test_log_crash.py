"""SIGKILL the writer during sustained writes: the log opens, verifies, and keeps every committed turn."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from log_support import keypair

from kiosk.store import audit, sealed
from kiosk.store.log import LogStore

KILLS = 50
WRITER = Path(__file__).with_name("log_crash_writer.py")
ROOT = Path(__file__).resolve().parent.parent


def _run_and_kill(db: Path, pub: str, rng: random.Random) -> list[int]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(WRITER), str(db), pub], stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    first = proc.stdout.readline()  # writing has begun: kill during sustained writes, not at import
    assert first, "the writer died before committing anything"
    time.sleep(rng.uniform(0.0, 0.15))
    os.kill(proc.pid, signal.SIGKILL)
    rest = proc.stdout.read()
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return [int(x) for x in (first + rest).split()]


@pytest.mark.slow
def test_sigkill_during_writes_loses_no_committed_turn(tmp_path):
    rng = random.Random(1234)
    op = keypair(tmp_path)
    db = tmp_path / "log.db"
    committed: list[int] = []
    for _ in range(KILLS):
        committed += _run_and_kill(db, op.path, rng)
        with LogStore(db, retention_days=1, readonly=True) as s:
            now = s.db.execute("SELECT max(ts) FROM records").fetchone()[0]
            report = audit.verify(s, now=now)
            assert report.ok, report.problem
            present = {r[0] for r in s.db.execute("SELECT id FROM records")}
            gaps = s.db.execute("SELECT first_id, last_id FROM gaps").fetchall()
        shredded = {i for a, b in gaps for i in range(a, b + 1)}
        lost = [i for i in committed if i not in present and i not in shredded]
        assert not lost, f"committed turns lost: {lost[:10]}"
    # ids only grow (a turn committed but killed before it was printed leaves a hole in this list)
    assert committed == sorted(set(committed))
    assert shredded, "the soak should have crossed retention purges"
    key = sealed.load_private_key(tmp_path / "operator.key", None)
    with LogStore(db, retention_days=1, readonly=True) as s:
        report = audit.verify(s, key, now=now)
    assert report.ok and report.authenticated == len(present)
    print(f"\n{KILLS} SIGKILLs, {len(committed)} turns committed, {len(present)} kept, "
          f"{len(shredded)} shredded by retention, verify ok")  # fmt: skip
