"""Tampering with a real log file: each scenario is caught, or is a limit docs/interaction-log.md states.

A real retention run and ``purge --all`` only ever shred the oldest records (periods
never go back), so the only gap a real log can hold starts at record 1; every other
gap, and every deletion, edit or reordering without one, is named by ``verify``.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from log_support import filled, keypair, store, turn

from kiosk.store import audit, sealed
from kiosk.store.log import DAY_S, META_FIELDS, LogStore, canonical, chain_hash

T0 = 1_790_000_000.0


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _verify(db: Path, key=None, now: float | None = None, retention_days: int = 3) -> audit.VerifyReport:
    with LogStore(db, readonly=True, retention_days=retention_days) as s:
        return audit.verify(s, key, now=now)


def _key(tmp_path: Path):
    return sealed.load_private_key(tmp_path / "operator.key", None)


def _aged(tmp_path: Path) -> tuple[Path, float]:
    """Six days of five turns with retention 3: records 1-15 shredded by real retention runs."""
    op = keypair(tmp_path)
    clock = Clock()
    db = tmp_path / "log.db"
    with store(db, op, clock=clock, retention_days=3) as s:
        for day in range(6):
            for i in range(5):
                clock.t += 60
                s.append(turn(day * 10 + i, ts=clock.t))
            clock.t += DAY_S
        s.purge()
    return db, clock.t


def _purged(tmp_path: Path) -> Path:
    """Five turns, a real ``purge --all``, five more."""
    op = keypair(tmp_path)
    db = tmp_path / "log.db"
    with store(db, op) as s:
        for i in range(5):
            s.append(turn(i))
        s.purge(everything=True)
        for i in range(5, 10):
            s.append(turn(i))
    return db


@contextlib.contextmanager
def _db(path: Path) -> Iterator[sqlite3.Connection]:
    """A plain connection that commits and really closes (sqlite3's own ``with`` does not close)."""
    c = sqlite3.connect(path)
    try:
        with c:
            yield c
    finally:
        c.close()


def _restore(backup: Path, db: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.copy(backup, db)


def _sql(db: Path, *statements: str, params: tuple = ()) -> None:
    with _db(db) as c:
        for sql in statements:
            c.execute(sql, params if "?" in sql else ())


def _rehash_from(c: sqlite3.Connection, start: int) -> None:
    """What an attacker without the key can do: recompute every hash after an edit."""
    c.row_factory = sqlite3.Row
    row = c.execute("SELECT hash FROM records WHERE id = ?", [start - 1]).fetchone()
    prev = row[0] if row else bytes(32)
    for r in c.execute("SELECT * FROM records WHERE id >= ? ORDER BY id", [start]).fetchall():
        digest = chain_hash(prev, canonical(dict(r)), r["content"])
        c.execute("UPDATE records SET prev = ?, hash = ? WHERE id = ?", [prev, digest, r["id"]])
        prev = digest
    c.execute("UPDATE head SET last_id = (SELECT max(id) FROM records), last_hash = ?", [prev])


def _forge_gap(c: sqlite3.Connection, first: int, last: int, period: str, reason: str) -> None:
    """Delete records first..last and write the gap row a real run would have written."""
    last_hash = c.execute("SELECT hash FROM records WHERE id = ?", [last]).fetchone()[0]
    c.execute("DELETE FROM records WHERE id BETWEEN ? AND ?", [first, last])
    c.execute(
        "INSERT INTO gaps VALUES (?, ?, ?, ?, ?, ?, 0)",
        [first, last, last_hash, period, last - first + 1, reason],
    )


# (name, tampering, first bad record, code without the key); the key finds the same.
CAUGHT = [
    ("edit outcome", "UPDATE records SET outcome = 'refused' WHERE id = 5", 5, "log.record-edited"),
    ("edit timing", "UPDATE records SET total_ms = 1 WHERE id = 7", 7, "log.record-edited"),
    ("edit source", "UPDATE records SET source = 'web' WHERE id = 2", 2, "log.record-edited"),
    ("edit period", "UPDATE records SET period = '2000-01-01' WHERE id = 3", 3, "log.record-edited"),
    ("edit key id", "UPDATE records SET key_id = 'feedfeedfeedfeed' WHERE id = 4", 4, "log.record-edited"),
    ("edit content", "UPDATE records SET content = substr(content, 1, 40) WHERE id = 6", 6, "log.record-edited"),
    ("edit hash", "UPDATE records SET hash = zeroblob(32) WHERE id = 8", 8, "log.record-edited"),
    ("edit prev", "UPDATE records SET prev = zeroblob(32) WHERE id = 9", 9, "log.chain-broken"),
    ("delete middle", "DELETE FROM records WHERE id = 4", 4, "log.record-missing"),
    ("delete first", "DELETE FROM records WHERE id = 1", 1, "log.record-missing"),
    ("delete a run", "DELETE FROM records WHERE id BETWEEN 3 AND 6", 3, "log.record-missing"),
    ("delete newest", "DELETE FROM records WHERE id = 10", 10, "log.tail-missing"),
    ("delete data keys", "DELETE FROM data_keys", 1, "log.key-missing"),
    ("head edited", "UPDATE head SET last_hash = zeroblob(32)", 10, "log.head-mismatch"),
    ("gap past the head", "INSERT INTO gaps VALUES (11, 12, zeroblob(32), '2000-01-01', 2, 'retention', 0)",
     11, "log.gap-forged"),
    ("gap over kept records", "INSERT INTO gaps VALUES (1, 3, zeroblob(32), '2000-01-01', 3, 'retention', 0)",
     4, "log.record-missing"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "sql", "first_bad", "code"), CAUGHT, ids=[c[0] for c in CAUGHT])
def test_tampering_is_named(tmp_path, name, sql, first_bad, code):
    db = filled(tmp_path / "log.db", keypair(tmp_path), 10)
    assert _verify(db, _key(tmp_path)).ok
    _sql(db, sql)
    for key in (None, _key(tmp_path)):
        report = _verify(db, key)
        assert (report.first_bad, report.code) == (first_bad, code), report.problem


def test_reordered_and_swapped_rows(tmp_path):
    db = filled(tmp_path / "log.db", keypair(tmp_path), 10)
    backup = tmp_path / "copy.db"
    shutil.copy(db, backup)
    cols = [f for f in (*META_FIELDS, "content", "prev", "hash") if f != "id"]
    sets = ", ".join(f"{f} = ?" for f in cols)
    with _db(db) as c:
        r5, r6 = (
            c.execute(f"SELECT {', '.join(cols)} FROM records WHERE id = ?", [i]).fetchone() for i in (5, 6)
        )
        c.execute(f"UPDATE records SET {sets} WHERE id = 5", r6)
        c.execute(f"UPDATE records SET {sets} WHERE id = 6", r5)
    assert (_verify(db).first_bad, _verify(db).code) == (5, "log.chain-broken")
    _restore(backup, db)
    with _db(db) as c:  # only the sealed contents swapped
        c3, c4 = (c.execute("SELECT content FROM records WHERE id = ?", [i]).fetchone()[0] for i in (3, 4))
        c.execute("UPDATE records SET content = ? WHERE id = 3", [c4])
        c.execute("UPDATE records SET content = ? WHERE id = 4", [c3])
    assert (_verify(db).first_bad, _verify(db).code) == (3, "log.record-edited")


def test_a_forged_operator_gap_mid_chain_is_rejected_even_with_the_key(tmp_path):
    """Issue 16 item 3: records 4-6 deleted, a gap row claims purge --all shredded them."""
    db = filled(tmp_path / "log.db", keypair(tmp_path), 10)
    with _db(db) as c:
        period = c.execute("SELECT period FROM records WHERE id = 4").fetchone()[0]
        _forge_gap(c, 4, 6, period, "operator")
    for key in (None, _key(tmp_path)):
        report = _verify(db, key)
        assert (report.first_bad, report.code) == (4, "log.gap-forged"), report.problem
        assert "record 3" in report.problem


def test_a_forged_retention_gap_mid_chain_claiming_an_old_period_is_rejected(tmp_path):
    db = filled(tmp_path / "log.db", keypair(tmp_path), 10)
    with _db(db) as c:
        _forge_gap(c, 5, 7, "2000-01-01", "retention")
    report = _verify(db, _key(tmp_path))
    assert (report.first_bad, report.code) == (5, "log.gap-forged")


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ("UPDATE gaps SET records = records + 1", "log.gap-forged"),
        ("UPDATE gaps SET reason = 'cosmic ray'", "log.gap-forged"),
        ("UPDATE gaps SET period_max = '2999-01-01'", "log.gap-unexpired"),
        ("UPDATE gaps SET last_hash = zeroblob(32)", "log.chain-broken"),
        ("UPDATE gaps SET last_id = last_id - 1", "log.gap-forged"),
        ("UPDATE gaps SET last_id = last_id - 1, records = records - 1", "log.record-missing"),
        ("INSERT INTO gaps VALUES (16, 16, zeroblob(32), '2000-01-01', 1, 'retention', 0)", "log.gap-forged"),
    ],
)
def test_a_real_retention_gap_that_was_edited_is_rejected(tmp_path, change, code):
    db, now = _aged(tmp_path)
    assert _verify(db, _key(tmp_path), now=now).ok
    _sql(db, change)
    report = _verify(db, now=now)
    assert not report.ok and report.code == code, report.problem


def test_a_prefix_gap_newer_than_the_record_after_it_is_rejected(tmp_path):
    db = filled(tmp_path / "log.db", keypair(tmp_path), 10)
    with _db(db) as c:
        _forge_gap(c, 1, 3, "2999-12-31", "operator")  # records "from the future" before today's record 4
    report = _verify(db)
    assert (report.first_bad, report.code) == (3, "log.gap-forged"), report.problem


def test_real_retention_and_purge_verify_and_count(tmp_path):
    db, now = _aged(tmp_path)
    report = _verify(db, _key(tmp_path), now=now)
    assert report.ok and (report.records, report.shredded, report.authenticated) == (15, 15, 15)
    with _db(db) as c:
        assert c.execute("SELECT first_id, last_id, records, reason FROM gaps").fetchall() == [
            (1, 15, 15, "retention")
        ]
    db2 = _purged(tmp_path / "p")  # a second log, another folder
    report = _verify(db2, sealed.load_private_key(tmp_path / "p" / "operator.key", None))
    assert report.ok and (report.records, report.shredded, report.purged_early) == (5, 5, 5)


def test_a_clock_set_back_never_makes_retention_cut_the_middle(tmp_path):
    """The Pi's clock jumps back two days mid-log: periods do not, so retention shreds a prefix."""
    op = keypair(tmp_path)
    clock = Clock()
    db = tmp_path / "log.db"
    with store(db, op, clock=clock, retention_days=3) as s:
        for i in range(3):
            s.append(turn(i, ts=clock.t))
        clock.t -= 2 * DAY_S  # set back
        for i in range(3, 6):
            s.append(turn(i, ts=clock.t))
        clock.t += 10 * DAY_S
        s.append(turn(6, ts=clock.t))
        s.purge()
        periods = [r[0] for r in s.db.execute("SELECT period FROM records ORDER BY id")]
    assert periods == sorted(periods)
    report = _verify(db, _key(tmp_path), now=clock.t)
    assert report.ok and report.shredded == 6, report.problem


def test_rehashed_edits_and_inserted_records_need_the_key(tmp_path):
    """Without the key an attacker can recompute the chain; the seals they cannot make."""
    db = filled(tmp_path / "log.db", keypair(tmp_path), 10)
    backup = tmp_path / "copy.db"
    shutil.copy(db, backup)
    for tamper, first_bad in (
        (lambda c: c.execute("UPDATE records SET ts = ts - 3600 WHERE id = 5"), 5),
        (lambda c: c.execute("UPDATE records SET outcome = 'refused' WHERE id = 2"), 2),
        # a forged record appended with a copied sealed content and an existing key id
        (lambda c: c.execute("INSERT INTO records SELECT 11, key_id, period, ts + 1, source, turn, mode, outcome,"
                             " reason, engine, stt_engine, wake_engine, ttft_ms, total_ms, tokens, fallback, fault,"
                             " redactions, content, prev, hash FROM records WHERE id = 10"), 11),
    ):  # fmt: skip
        _restore(backup, db)
        with _db(db) as c:
            tamper(c)
            _rehash_from(c, first_bad)
        assert _verify(db).ok  # the documented limit of an unkeyed chain
        report = _verify(db, _key(tmp_path))
        assert (report.first_bad, report.code) == (first_bad, "log.record-corrupt"), report.problem


def test_a_corrupt_wrapped_key_is_named_with_the_key(tmp_path):
    db = filled(tmp_path / "log.db", keypair(tmp_path), 3)
    _sql(db, "UPDATE data_keys SET wrapped = zeroblob(length(wrapped))")
    assert _verify(db).ok
    report = _verify(db, _key(tmp_path))
    assert (report.first_bad, report.code) == (1, "log.key-corrupt")


def test_a_record_spliced_from_another_log_is_caught(tmp_path):
    op = keypair(tmp_path)
    a = filled(tmp_path / "a.db", op, 5)
    b = filled(tmp_path / "b.db", op, 5)
    with _db(a) as c:
        c.execute("ATTACH ? AS other", [str(b)])
        c.execute("DELETE FROM records WHERE id = 3")
        c.execute("INSERT INTO records SELECT * FROM other.records WHERE id = 3")
    report = _verify(a)
    assert (report.first_bad, report.code) == (3, "log.chain-broken")


# --- the limits docs/interaction-log.md states: pinned, so the docs stay exact --------------


def test_limit_newest_records_deleted_with_the_head_rewritten(tmp_path):
    db = filled(tmp_path / "log.db", keypair(tmp_path), 10)
    with _db(db) as c:
        last_hash = c.execute("SELECT hash FROM records WHERE id = 6").fetchone()[0]
        c.execute("DELETE FROM records WHERE id > 6")
        c.execute("UPDATE head SET last_id = 6, last_hash = ?", [last_hash])
    assert _verify(db, _key(tmp_path)).ok


def test_limit_oldest_records_deleted_under_a_forged_prefix_gap(tmp_path):
    """A prefix whose gap claims an expired period (or purge --all) looks like a real run."""
    db = filled(tmp_path / "log.db", keypair(tmp_path), 10)
    with _db(db) as c:
        _forge_gap(c, 1, 4, "2000-01-01", "retention")
    report = _verify(db, _key(tmp_path))
    assert report.ok and report.shredded == 4
