"""`kiosk doctor` for the log: refused without recipient, key hygiene, database and writer state."""

from __future__ import annotations

import sqlite3
import time

from log_support import config, filled, keypair, store, turn

from kiosk.store.health import doctor_checks
from kiosk.store.sink import LogSink


def by_name(checks):
    assert all(status in ("OK", "WARN", "FAIL") for _, status, _, _ in checks)
    return {name: (status, detail, fix) for name, status, detail, fix in checks}


def operator_pub(tmp_path):
    """The operator's key pair, with the private half moved off "the kiosk" as it should be."""
    op = keypair(tmp_path)
    (tmp_path / "operator.key").rename(tmp_path / "operators-laptop.key")
    return op


def test_no_recipient_is_a_warning_that_says_logging_is_refused(tmp_path):
    # The out-of-the-box state: the kiosk answers, the log waits for the operator's key.
    checks = by_name(doctor_checks(config(tmp_path)))
    status, detail, fix = checks["log recipients"]
    assert status == "WARN" and "refused" in detail and "kiosk logs keygen" in fix


def test_healthy_log(tmp_path):
    op = operator_pub(tmp_path)
    with store(tmp_path / "interactions.db", op) as s:
        s.append(turn())
    checks = by_name(doctor_checks(config(tmp_path, op.path)))
    assert checks["log recipients"][0] == "OK" and op.fingerprint in checks["log recipients"][1]
    assert checks["log database"][:2] == ("OK", "1 record(s), chain intact (0 shredded)")
    assert checks["log disk"][0] in ("OK", "WARN")
    assert "log private key" not in checks


def test_a_private_key_on_the_kiosk_is_flagged(tmp_path):
    op = keypair(tmp_path)  # operator.key left beside operator.key.pub
    checks = by_name(doctor_checks(config(tmp_path, op.path)))
    assert checks["log private key"][0] == "FAIL"


def test_a_damaged_or_tampered_database_fails(tmp_path):
    op = operator_pub(tmp_path)
    db = filled(tmp_path / "interactions.db", op, 3)
    with sqlite3.connect(db) as c:
        c.execute("DELETE FROM records WHERE id = 2")
    checks = by_name(doctor_checks(config(tmp_path, op.path)))
    assert checks["log database"][0] == "FAIL" and "record 2" in checks["log database"][1]
    db.write_bytes(b"\0" * 4096)
    assert by_name(doctor_checks(config(tmp_path, op.path)))["log database"][0] == "FAIL"


def test_the_live_writer_fault_shows(tmp_path):
    op = operator_pub(tmp_path)
    (tmp_path / "blocker").write_text("")
    cfg = config(tmp_path, op.path, path=str(tmp_path / "blocker" / "log.db"))
    sink = LogSink(cfg, retry_s=(0.05, 0.05))
    sink.start()
    sink.submit(turn())
    deadline = time.monotonic() + 5
    while sink.status().state != "fault" and time.monotonic() < deadline:
        time.sleep(0.01)
    checks = by_name(doctor_checks(cfg))
    assert checks["log writer"][0] == "FAIL" and "log.cannot-open" in checks["log writer"][1]
    sink.close(timeout=1)


def test_disabled_is_a_warning(tmp_path):
    checks = by_name(doctor_checks(config(tmp_path, enabled=False)))
    assert checks == {"log": checks["log"]} and checks["log"][0] == "WARN"
