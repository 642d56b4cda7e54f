"""A kiosk process SIGKILLed in the middle of a send, then restarted: every interval it
produced arrives, none is lost, and a duplicate only ever carries a batch id already seen.
Also: with no endpoint the kiosk makes no network call at all (checked in a subprocess
whose sockets refuse and record every connect), and still keeps the outbox."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from telemetry_support import FakeCollector, free_port, telemetry_config, wait_for, write_toml

from kiosk import paths
from kiosk.cli import main as kiosk_main
from kiosk.telemetry.status import status

SCRIPT = Path(__file__).with_name("telemetry_kiosk.py")


def _kiosk(conf: Path, seconds: float, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(paths.REPO_ROOT)}
    return subprocess.Popen([sys.executable, str(SCRIPT), str(conf), "marker", str(seconds), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip


@pytest.fixture
def collector():
    c = FakeCollector()
    yield c
    c.close()


def test_sigkill_mid_send_then_outage_and_restart_loses_nothing(tmp_path, collector):
    collector.start()
    cfg = telemetry_config(tmp_path, collector.url, interval_s=0.2, timeout_s=5.0)
    conf = tmp_path / "kiosk.toml"
    write_toml(conf, cfg)
    first = _kiosk(conf, -1)
    try:
        assert wait_for(lambda: len(collector.metric_batches()) >= 3, timeout=60)
        collector.mode = "hold"  # the next request is received, and its answer never comes
        assert collector.held.wait(30)
        held_ids = collector.received[-1].ids
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    collector.release.set()
    killed_at = status(cfg).produced
    assert status(cfg).batches >= 1, "the batch in flight is still in the outbox"
    collector.stop()  # and the collector is down while the kiosk restarts
    collector.mode = "ok"
    second = _kiosk(conf, 2.5)
    assert second.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    outage_end = status(cfg).produced
    collector.start()
    _out, err = second.communicate(timeout=90)
    assert second.returncode == 0, err
    assert kiosk_main(["telemetry", "flush", "--config", str(conf)]) == 0

    produced = status(cfg).produced
    assert outage_end > killed_at + 2, "intervals produced during the outage after the restart"
    assert produced > outage_end, "and after the collector came back"
    got = collector.metric_batches()
    seqs = [seq for _, seq in got]
    assert sorted(set(seqs)) == list(range(1, produced + 1)), "no interval lost"
    seen: set[tuple[str, int]] = set()
    duplicates = []
    for item in got:
        if item in seen:
            duplicates.append(item)
        seen.add(item)
    assert any(d in held_ids for d in duplicates), "the send cut off by the kill was sent again"
    assert len({bid for bid, _ in got}) == produced, "one batch id per interval"
    print(f"\noutage-and-restart: produced {produced}, received {len(set(seqs))} distinct, "
          f"lost {produced - len(set(seqs))}, duplicated {len(duplicates)}")  # fmt: skip


@pytest.mark.parametrize("endpoint", ["", "closed-port"])
def test_no_endpoint_no_network_call_at_all(tmp_path, endpoint):
    url = f"http://127.0.0.1:{free_port()}" if endpoint else ""
    cfg = telemetry_config(tmp_path, url, interval_s=0.1)
    conf = tmp_path / "kiosk.toml"
    write_toml(conf, cfg)
    proc = _kiosk(conf, 1.0, "--forbid-network")
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    calls = int(out.split("NETCALLS ")[1].split()[0])
    st = status(cfg)
    if endpoint:
        assert calls > 0, "the check sees a connect when there is an endpoint"
    else:
        assert calls == 0, out
        assert st.state == "local" and st.batches >= 5, "the outbox is kept without an endpoint"
