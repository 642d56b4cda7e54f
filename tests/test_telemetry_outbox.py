"""The outbox: durable (WAL, fsync'd commits), bounded by size and age with drop-oldest,
and the dropped count kept, persisted and sent as a metric."""

from __future__ import annotations

import gzip
import os

from telemetry_support import decode, metadata, telemetry_config

from kiosk.telemetry.metrics import Telemetry
from kiosk.telemetry.outbox import Outbox, outbox_path


def _fill(box: Outbox, n: int, size: int = 1000) -> list[int]:
    seqs = []
    for _ in range(n):
        _, seq = box.add(lambda bid, seq: {"metrics": os.urandom(size)})
        seqs.append(seq)
    return seqs


def test_commits_are_durable_wal_with_full_sync(tmp_path):
    box = Outbox(tmp_path / "o.db", max_bytes=10**6, max_age_s=86400)
    assert box.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert box.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL: fsync at each commit
    _fill(box, 3)
    box.close()
    again = Outbox(tmp_path / "o.db", max_bytes=10**6, max_age_s=86400)
    st = again.stats()
    assert (st.batches, st.produced) == (3, 3)
    _, seq = again.add(lambda bid, seq: {"metrics": b"x"})
    assert seq == 4, "sequence numbers continue across a restart, never reused"


def test_size_bound_drops_oldest_whole_batches_and_counts_them(tmp_path):
    box = Outbox(tmp_path / "o.db", max_bytes=10_500, max_age_s=86400)
    for _ in range(30):
        box.add(lambda bid, seq: {"metrics": os.urandom(700), "logs": os.urandom(300)})
    st = box.stats()
    assert st.bytes <= 10_500
    assert st.batches == 10 and st.rows == 20, "a batch is kept or dropped whole"
    assert st.dropped == st.dropped_size == 20
    kept = [r[0] for r in box.db.execute("SELECT DISTINCT seq FROM batch ORDER BY seq")]
    assert kept == list(range(21, 31)), "the oldest go first"


def test_age_bound_drops_old_batches_even_without_new_ones(tmp_path):
    now = [1_800_000_000.0]
    box = Outbox(tmp_path / "o.db", max_bytes=10**6, max_age_s=86400, clock=lambda: now[0])
    _fill(box, 4)
    now[0] += 3600
    _fill(box, 2)
    now[0] += 86400 - 1800  # the first four are now older than a day, the last two not
    assert box.enforce() == 4
    st = box.stats()
    assert (st.batches, st.dropped_age, st.dropped_size) == (2, 4, 0)
    box.close()
    assert Outbox(tmp_path / "o.db", max_bytes=10**6, max_age_s=86400).stats().dropped == 4, "persisted"


def test_dropped_count_is_itself_a_metric(tmp_path):
    cfg = telemetry_config(tmp_path, max_outbox_mb=0.01)  # 10 KiB: a few batches
    box = Outbox.from_config(cfg)
    tele = Telemetry(cfg, box)
    for _ in range(12):
        tele.collect()
    st = box.stats()
    assert st.dropped_size > 0 and st.bytes <= 0.01 * 1024 * 1024
    body = box.db.execute("SELECT body FROM batch WHERE signal='metrics' ORDER BY id DESC").fetchone()[0]
    req, _ = decode("metrics", body, gzipped=True)
    points = {}
    for m in req.resource_metrics[0].scope_metrics[0].metrics:
        if m.name == "kiosk.telemetry.dropped":
            points = {dp.attributes[0].value.string_value: dp.as_int for dp in m.sum.data_points}
    # the last batch reports the drops made before it was collected
    assert points["size"] >= st.dropped_size - 2 and points["size"] > 0
    assert points["age"] == 0
    tele.shutdown()


def test_every_item_carries_the_batch_id_and_seq(tmp_path):
    cfg = telemetry_config(tmp_path)
    box = Outbox.from_config(cfg)
    tele = Telemetry(cfg, box)
    tele.collect()
    bid, seq, body = box.db.execute("SELECT batch_id, seq, body FROM batch").fetchone()
    req, _ = decode("metrics", body, gzipped=True)
    metrics = req.resource_metrics[0].scope_metrics[0].metrics
    assert len(metrics) > 10
    assert all(metadata(m) == {"kiosk.batch_id": bid, "kiosk.batch_seq": seq} for m in metrics)
    assert gzip.decompress(body)  # stored compressed
    assert outbox_path(cfg).exists()
    tele.shutdown()


def test_status_json_and_doctor_for_a_kiosk_without_endpoint(tmp_path, capsys):
    import json

    from telemetry_support import write_toml

    from kiosk.cli import main
    from kiosk.telemetry.health import doctor_checks

    cfg = telemetry_config(tmp_path)
    box = Outbox.from_config(cfg)
    tele = Telemetry(cfg, box)
    tele.collect()
    tele.collect()
    tele.shutdown()
    box.close()
    conf = tmp_path / "k.toml"
    write_toml(conf, cfg)
    assert main(["telemetry", "status", "--json", "--config", str(conf)]) == 0
    st = json.loads(capsys.readouterr().out)
    assert (st["state"], st["batches"], st["produced"], st["endpoint"]) == ("local", 2, 2, "")
    assert st["oldest"] and st["last_success"] is None
    assert main(["--config", str(conf), "telemetry", "flush"]) == 1, "nothing can be sent: not empty"
    (row,) = doctor_checks(cfg)
    assert row[0] == "telemetry" and row[1] == "OK" and "no [telemetry] endpoint" in row[2]
