"""Delivery against a collector the tests control: outage, 503, 429 with Retry-After, a
response slower than the timeout, TLS errors, mTLS and a token, a 400, partial success."""

from __future__ import annotations

import ssl
import time

import pytest
from telemetry_support import FakeCollector, telemetry_config, wait_for

from kiosk.telemetry.health import doctor_checks
from kiosk.telemetry.metrics import Telemetry
from kiosk.telemetry.otlp import Sender, SyncThread, parse_retry_after
from kiosk.telemetry.outbox import Outbox
from kiosk.telemetry.status import status
from kiosk.web import devca


class Rig:
    """The kiosk's telemetry without a timer: each ``interval()`` closes one interval."""

    def __init__(self, cfg) -> None:
        self.cfg = cfg
        self.outbox = Outbox.from_config(cfg)
        self.sync = SyncThread(Sender(cfg, self.outbox), cfg.telemetry.interval_s)
        self.tele = Telemetry(cfg, self.outbox, on_batch=lambda _b, _s: self.sync.notify())
        self.sync.start()

    def interval(self) -> None:
        self.tele.collect()

    def close(self) -> None:
        self.sync.stop()
        self.tele.shutdown()
        self.outbox.close()


@pytest.fixture
def collector():
    c = FakeCollector()
    yield c
    c.close()


def _seqs(collector: FakeCollector) -> list[int]:
    return [seq for _, seq in collector.metric_batches()]


def test_outage_503_429_slow_then_everything_arrives_once_or_as_a_known_duplicate(tmp_path, collector):
    cfg = telemetry_config(tmp_path, collector.url, timeout_s=0.3)
    rig = Rig(cfg)
    try:
        for _ in range(5):  # the collector is down for five intervals
            rig.interval()
            time.sleep(0.1)
        assert collector.received == []
        st = status(cfg)
        assert (st.batches, st.state, st.last_error["code"]) == (5, "retrying", "telemetry.unreachable")

        collector.mode = "503"
        collector.start()
        assert wait_for(lambda: sum(a[2] == "503" for a in collector.attempts) >= 3)
        t503 = [a[0] for a in collector.attempts if a[2] == "503"]
        assert t503[-1] - t503[0] > 0.1, "backoff between retries, not a tight loop"
        assert status(cfg).batches == 5, "nothing is deleted without a 2xx"

        collector.retry_after = "1"
        collector.mode = "429"
        assert wait_for(lambda: any(a[2] == "429" for a in collector.attempts))
        t429 = next(a[0] for a in collector.attempts if a[2] == "429")
        collector.mode = "slow"  # the next try gets no answer within timeout_s
        assert wait_for(lambda: any(a[2] == "slow" for a in collector.attempts))
        t_next = next(a[0] for a in collector.attempts if a[0] > t429)
        assert t_next - t429 >= 1.0, "Retry-After respected"
        collector.mode = "ok"
        for _ in range(3):
            rig.interval()
        assert wait_for(lambda: status(cfg).batches == 0)
    finally:
        rig.close()
    seqs = _seqs(collector)
    produced = status(cfg).produced
    assert sorted(set(seqs)) == list(range(1, produced + 1)), "every interval arrived"
    first_seen: set[int] = set()
    dups = 0
    for seq in seqs:
        dups += seq in first_seen
        first_seen.add(seq)
    assert dups >= 1, "the slow send (received, answered too late) was sent again"
    ids = {}
    for bid, seq in collector.metric_batches():
        assert ids.setdefault(seq, bid) == bid, "a duplicate carries the same batch id"
    st = status(cfg)
    assert st.state == "ok" and st.last_success is not None and st.sent >= produced


def _tls_pair(tmp_path, name: str, names: list[str], server_auth: bool = True):
    ca = devca.make_ca(f"{name} CA")
    leaf = devca.issue_leaf(ca, names, server_auth=server_auth)
    cert, key, ca_file = tmp_path / f"{name}.pem", tmp_path / f"{name}.key", tmp_path / f"{name}-ca.pem"
    devca.write_leaf(leaf, [], cert, key)
    ca_file.write_bytes(devca.cert_pem(ca.cert))
    return ca_file, cert, key


def test_tls_verified_against_the_ca_bundle_with_mtls_and_a_bearer_token(tmp_path):
    server_ca, server_cert, server_key = _tls_pair(tmp_path, "collector", ["localhost"])
    client_ca, client_cert, client_key = _tls_pair(tmp_path, "kiosk", ["kiosk-t18"], server_auth=False)
    other_ca, _, _ = _tls_pair(tmp_path, "other", ["localhost"])
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(server_cert, server_key)
    ctx.load_verify_locations(client_ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    collector = FakeCollector(ssl_context=ctx).start()
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    try:
        # 1. the collector's certificate is not from the configured CA: refused, kept, said why
        cfg = telemetry_config(tmp_path, collector.url, ca_bundle=str(other_ca))
        box = Outbox.from_config(cfg)
        Telemetry(cfg, box).collect()
        result = Sender(cfg, box).flush(timeout_s=5)
        assert result.error is not None and result.error.code == "telemetry.tls-verify"
        assert "ca_bundle" in result.error.fix
        assert status(cfg).state == "error" and status(cfg).batches == 1
        rows = doctor_checks(cfg)
        assert rows[0][1] == "FAIL" and "telemetry.tls-verify" in rows[0][2]
        # 2. the right CA, but no client certificate: the collector ends the handshake
        cfg.telemetry.ca_bundle = str(server_ca)
        result = Sender(cfg, box).flush(timeout_s=5)
        assert result.kind == "retry" and collector.received == []
        # 3. mTLS and the token: delivered
        cfg.telemetry.client_cert, cfg.telemetry.client_key = str(client_cert), str(client_key)
        cfg.telemetry.token_file = str(token)
        result = Sender(cfg, box).flush(timeout_s=5)
        assert box.stats().batches == 0, result
        assert collector.received[0].headers["Authorization"] == "Bearer s3cret-token"
        assert collector.received[0].headers["Content-Encoding"] == "gzip"
        box.close()
    finally:
        collector.close()


def test_a_400_parks_the_batch_counts_it_and_the_next_ones_still_go(tmp_path, collector):
    from kiosk.cli import main

    collector.start()
    cfg = telemetry_config(tmp_path, collector.url)
    rig = Rig(cfg)
    try:
        collector.mode = "400"
        rig.interval()
        assert wait_for(lambda: status(cfg).parked == 1)
        collector.mode = "ok"
        rig.interval()
        rig.interval()
        assert wait_for(lambda: len(collector.metric_batches()) == 2)
    finally:
        rig.close()
    st = status(cfg)
    assert st.parked == 1 and "HTTP 400: bad batch" in st.parked_reasons[0]
    assert [seq for _, seq in collector.metric_batches()] == [2, 3]
    rows = {r[0]: r for r in doctor_checks(cfg)}
    assert rows["telemetry parked"][1] == "WARN" and "HTTP 400" in rows["telemetry parked"][2]
    conf = tmp_path / "k.toml"
    from telemetry_support import write_toml

    write_toml(conf, cfg)
    assert main(["--config", str(conf), "telemetry", "flush"]) == 1, "a parked batch is still in the outbox"
    assert main(["--config", str(conf), "telemetry", "discard-parked"]) == 0
    assert main(["telemetry", "flush", "--config", str(conf)]) == 0


def test_partial_success_is_reported_not_retried(tmp_path, collector):
    collector.start()
    collector.partial = 3
    cfg = telemetry_config(tmp_path, collector.url)
    box = Outbox.from_config(cfg)
    Telemetry(cfg, box).collect()
    Sender(cfg, box).flush(timeout_s=5)
    st = status(cfg)
    assert st.batches == 0 and st.rejected == 3 and "too old" in st.last_partial
    assert len(collector.received) == 1
    rows = {r[0]: r for r in doctor_checks(cfg)}
    assert rows["telemetry partial"][1] == "WARN"


def test_uncompressed_when_configured_and_retry_after_as_a_date():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert parse_retry_after("999999") == 3600.0


def test_backoff_grows_with_jitter_and_is_capped(tmp_path):
    cfg = telemetry_config(tmp_path, "http://127.0.0.1:9", interval_s=60.0)
    box = Outbox.from_config(cfg)
    sync = SyncThread(Sender(cfg, box), 60.0)
    waits = [sync.backoff(n) for n in range(1, 15)]
    assert 0.5 <= waits[0] <= 1.0 and waits[3] >= 4.0
    assert max(waits) <= 300.0 and waits[-1] >= 150.0
    assert len({round(sync.backoff(5), 6) for _ in range(5)}) > 1, "jittered"


def test_one_send_in_flight_across_processes(tmp_path, collector):
    """The lock beside the outbox is what the kiosk and `kiosk telemetry flush` share."""
    collector.start()
    cfg = telemetry_config(tmp_path, collector.url)
    box = Outbox.from_config(cfg)
    Telemetry(cfg, box).collect()
    sender = Sender(cfg, box)
    other = Sender(cfg, Outbox.from_config(cfg))
    with other.lock.held(0) as got:
        assert got
        assert sender.send_one().kind == "busy" and collector.received == []
    assert sender.send_one().kind == "sent" and len(collector.received) == 1
