"""The sealed store on a real SQLite file: sealing, retention, tamper evidence, damage."""

from __future__ import annotations

import sqlite3

import pytest
from log_support import SECRET_A, SECRET_Q, filled, keypair, raw_bytes, store, turn

from kiosk.errors import LogError
from kiosk.store import audit, sealed
from kiosk.store.log import DAY_S, META_FIELDS, LogStore, canonical, chain_hash

PLAINTEXT_MARKERS = [b"quokka", b"zanzibar", b"Wilhelmina", b"conv0000", b"Opening hours"]


class Clock:
    def __init__(self, t: float = 1_790_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _key(tmp_path, name="operator", passphrase=None):
    return sealed.load_private_key(tmp_path / f"{name}.key", passphrase)


def test_append_export_roundtrip_for_each_recipient(tmp_path):
    op, tech = keypair(tmp_path), keypair(tmp_path, "tech")
    with store(tmp_path / "log.db", op, tech) as s:
        ids = [s.append(turn(i, mode="instant", outcome="instant")) for i in range(3)]
    assert ids == [1, 2, 3]
    with LogStore(tmp_path / "log.db", readonly=True) as s:
        for name in ("operator", "tech"):
            rows = list(audit.export(s, _key(tmp_path, name)))
            assert [r["question"] for r in rows] == [f"{SECRET_Q} #{i}" for i in range(3)]
            assert rows[0]["answer"] == f"{SECRET_A} #0"
            assert rows[0]["conversation"] == "conv00000000" and rows[0]["sources"] == ["Opening hours"]
            assert rows[0]["outcome"] == "instant" and rows[0]["ttft_ms"] == 120.5


def test_a_key_that_is_not_a_recipient_is_told_wrong_key(tmp_path):
    op = keypair(tmp_path)
    keypair(tmp_path, "stranger")
    with store(tmp_path / "log.db", op) as s:
        s.append(turn())
        with pytest.raises(LogError) as e:
            list(audit.export(s, _key(tmp_path, "stranger")))
    assert e.value.code == "log.wrong-key" and op.fingerprint in e.value.message


def test_no_plaintext_reaches_any_file(tmp_path):
    op = keypair(tmp_path)
    db = tmp_path / "log.db"
    s = store(db, op, redact_pii=False)
    for i in range(200):
        s.append(turn(i))
    live = raw_bytes(db)  # WAL still holds the recent frames: read it before any checkpoint
    assert len(live) > 100_000
    s.close()
    for blob in (live, raw_bytes(db)):
        for marker in PLAINTEXT_MARKERS:
            assert marker not in blob
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("log.db")] == ["log.db"]


def test_retention_shreds_rows_and_keys_from_the_raw_file(tmp_path):
    op = keypair(tmp_path)
    clock = Clock()
    db = tmp_path / "log.db"
    s = store(db, op, clock=clock, retention_days=3)
    for day in range(6):
        for i in range(20):
            clock.t += 60
            s.append(turn(day * 100 + i, ts=clock.t))
        clock.t += DAY_S
    with sqlite3.connect(db) as c:
        old = [c.execute("SELECT min(period) FROM records").fetchone()[0]]
        old_content = [r[0] for r in c.execute("SELECT content FROM records WHERE period = ?", old)]
        old_wraps = [r[0] for r in c.execute("SELECT wrapped FROM data_keys WHERE period = ?", old)]
    assert len(old_content) == 20 and len(old_wraps) == 1
    assert s.db.execute("SELECT count(DISTINCT period) FROM records").fetchone()[0] == 4  # rolls purged too
    before = raw_bytes(db)
    assert all(w in before for w in old_wraps)  # the search below would find them if they were left
    result = s.purge()
    assert result["records"] == 20 and result["wrapped_keys"] == 1 and result["wal_truncated"]
    after = raw_bytes(db)
    for blob in old_content + old_wraps:
        for off in range(0, len(blob) - 16, 16):  # no 16-byte fragment survives anywhere
            assert blob[off : off + 16] not in after
    report = audit.verify(s, _key(tmp_path))
    assert report.ok, report.problem
    assert report.records == 60 and report.shredded == 60 and report.authenticated == 60
    s.append(turn(999, ts=clock.t))
    assert audit.verify(s).ok
    s.close()


def test_period_roll_makes_a_new_key_and_purges(tmp_path):
    op = keypair(tmp_path)
    clock = Clock()
    s = store(tmp_path / "log.db", op, clock=clock, retention_days=1)
    s.append(turn(1, ts=clock.t))
    clock.t += 3 * DAY_S
    s.append(turn(2, ts=clock.t))  # new day: new key, and yesterday-but-two is shredded
    rows = s.db.execute("SELECT id FROM records").fetchall()
    assert rows == [(2,)]
    assert s.db.execute("SELECT count(DISTINCT key_id) FROM data_keys").fetchone()[0] == 1
    s.close()
    # a restart mid-day cannot reuse the key it cannot unwrap
    s2 = store(tmp_path / "log.db", op, clock=clock)
    s2.append(turn(3, ts=clock.t))
    assert s2.db.execute("SELECT count(DISTINCT key_id) FROM data_keys").fetchone()[0] == 2
    assert [r["id"] for r in audit.export(s2, _key(tmp_path))] == [2, 3]
    s2.close()


def _ten(tmp_path):
    return filled(tmp_path / "log.db", keypair(tmp_path), 10)


def _verify(db, key=None):
    with LogStore(db, readonly=True) as s:
        return audit.verify(s, key)


@pytest.mark.parametrize(
    ("sql", "first_bad", "code"),
    [
        ("UPDATE records SET outcome = 'refused' WHERE id = 5", 5, "log.record-edited"),
        ("UPDATE records SET total_ms = total_ms + 1 WHERE id = 7", 7, "log.record-edited"),
        ("DELETE FROM records WHERE id = 4", 4, "log.record-missing"),
        ("DELETE FROM records WHERE id = 1", 1, "log.record-missing"),
        ("DELETE FROM records WHERE id = 10", 10, "log.tail-missing"),
        ("DELETE FROM data_keys", 1, "log.key-missing"),
        ("INSERT INTO gaps VALUES (3, 3, x'00', '2999-01-01', 1, 'retention', 0)", 3, "log.gap-forged"),
    ],
)
def test_verify_names_the_first_bad_record(tmp_path, sql, first_bad, code):
    db = _ten(tmp_path)
    assert _verify(db).ok
    with sqlite3.connect(db) as c:
        c.execute(sql)
    report = _verify(db)
    assert (report.first_bad, report.code) == (first_bad, code), report.problem
    assert str(first_bad) in report.problem


def test_verify_detects_reordered_rows(tmp_path):
    db = _ten(tmp_path)
    cols = ", ".join(f for f in (*META_FIELDS, "content", "prev", "hash") if f != "id")
    with sqlite3.connect(db) as c:
        r5 = c.execute(f"SELECT {cols} FROM records WHERE id = 5").fetchone()
        r6 = c.execute(f"SELECT {cols} FROM records WHERE id = 6").fetchone()
        sets = ", ".join(f"{f} = ?" for f in cols.split(", "))
        c.execute(f"UPDATE records SET {sets} WHERE id = 5", r6)
        c.execute(f"UPDATE records SET {sets} WHERE id = 6", r5)
    report = _verify(db)
    assert (report.first_bad, report.code) == (5, "log.chain-broken")


def test_a_rehashed_forgery_passes_the_chain_but_not_the_key(tmp_path):
    """The documented limit of an unkeyed chain, and why verify --key exists."""
    db = _ten(tmp_path)
    with sqlite3.connect(db) as c:
        c.row_factory = sqlite3.Row
        c.execute("UPDATE records SET outcome = 'refused' WHERE id = 5")
        prev = c.execute("SELECT hash FROM records WHERE id = 4").fetchone()[0]
        for row in c.execute("SELECT * FROM records WHERE id >= 5 ORDER BY id").fetchall():
            digest = chain_hash(prev, canonical(dict(row)), row["content"])
            c.execute("UPDATE records SET prev = ?, hash = ? WHERE id = ?", [prev, digest, row["id"]])
            prev = digest
        c.execute("UPDATE head SET last_hash = ?", [prev])
    assert _verify(db).ok
    report = _verify(db, _key(tmp_path))
    assert (report.first_bad, report.code) == (5, "log.record-corrupt")


def test_a_corrupt_row_is_named_and_the_rest_still_export(tmp_path):
    db = _ten(tmp_path)
    with sqlite3.connect(db) as c:
        blob = bytearray(c.execute("SELECT content FROM records WHERE id = 3").fetchone()[0])
        blob[20] ^= 0xFF
        c.execute("UPDATE records SET content = ? WHERE id = 3", [bytes(blob)])
    with LogStore(db, readonly=True) as s:
        out = list(audit.export(s, _key(tmp_path)))
    problems = [r for r in out if isinstance(r, audit.ExportProblem)]
    assert [(p.id, p.code) for p in problems] == [(3, "log.record-corrupt")]
    assert "corrupt record 3" in problems[0].message
    assert len(out) == 10
    assert _verify(db).first_bad == 3


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_a_damaged_file_is_a_clear_error(tmp_path, damage):
    db = _ten(tmp_path)
    data = db.read_bytes()
    if damage == "truncate":
        db.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        db.write_bytes(b"this is not sqlite" * 500)
    else:
        db.write_bytes(b"")
    with pytest.raises(LogError) as e, LogStore(db, readonly=True) as s:
        audit.verify(s)
        audit.stats(s)
    assert e.value.code in ("log.corrupt", "log.not-a-log")
    assert str(db) in e.value.message


def test_a_purge_from_another_process_does_not_orphan_the_writers_key(tmp_path):
    op = keypair(tmp_path)
    db = tmp_path / "log.db"
    writer = store(db, op)
    writer.append(turn(1))
    with LogStore(db) as operator:  # `kiosk logs purge --all --yes` while the kiosk runs
        assert operator.purge(everything=True)["records"] == 1
    writer.append(turn(2))
    rows = list(audit.export(writer, _key(tmp_path)))
    assert [r["id"] for r in rows] == [2]
    report = audit.verify(writer)
    assert report.ok and report.purged_early == 1
    writer.close()
