"""The maintenance PIN and its lockout: policy, argon2id, set-pin, persistence, audit."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
from log_support import keypair
from maint_support import PIN, Clock

from kiosk import config as config_mod
from kiosk import events as ev
from kiosk.errors import MaintError
from kiosk.maint import pin as pin_mod
from kiosk.maint.gate import PinGate
from kiosk.maint.lockout import FIRST_LOCK_S, FREE_TRIES, MAX_LOCK_S, lock_after
from kiosk.store import audit, sealed
from kiosk.store.log import LogStore
from kiosk.store.sink import LogSink


def WallClock() -> Clock:
    return Clock(1_800_000_000.0)


def maint_config(tmp_path, **maint) -> config_mod.Config:
    data = {
        "data": {"dir": str(tmp_path / "data")},
        "log": {"enabled": False},
        "maint": {"pin_file": str(tmp_path / "etc" / "maint-pin"), **maint},
    }
    return config_mod.from_mapping(data, source="test")


def set_pin(cfg: config_mod.Config, pin: str = PIN) -> None:
    pin_mod.write_pin_file(pin_mod.pin_file(cfg), pin_mod.hash_pin(pin))


@pytest.mark.parametrize(
    "bad", ["123456", "000000", "111111", "654321", "121212", "123123", "112233", "123321", "147258", "890123",
            "12345", "", "12a456", "１２３４５６", "9" * 13]
)
def test_obvious_short_and_odd_pins_are_refused(bad):
    with pytest.raises(MaintError) as e:
        pin_mod.check_pin(bad)
    assert e.value.fix


def test_hash_is_argon2id_with_the_stated_parameters_and_verifies():
    encoded = pin_mod.hash_pin(PIN)
    assert encoded.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PIN not in encoded
    assert pin_mod.verify(encoded, PIN)
    assert not pin_mod.verify(encoded, "482916")
    assert not pin_mod.verify("garbage", PIN)


def test_set_pin_from_a_file_writes_only_the_hash(tmp_path):
    cfg_file = tmp_path / "kiosk.toml"
    target = tmp_path / "etc" / "maint-pin"
    cfg_file.write_text(f'[data]\ndir = "{tmp_path / "data"}"\n[maint]\npin_file = "{target}"\n')
    (tmp_path / "pin.txt").write_text(PIN + "\n")
    run = [sys.executable, "-m", "kiosk", "--config", str(cfg_file), "maint", "set-pin"]
    out = subprocess.run([*run, "--pin-file", str(tmp_path / "pin.txt")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    text = target.read_text()
    assert text.startswith("$argon2id$") and PIN not in text
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    stored = pin_mod.load_pin(config_mod.load(cfg_file))
    assert stored is not None and pin_mod.verify(stored.encoded, PIN)
    # an obvious PIN is refused and the stored hash is untouched
    (tmp_path / "weak.txt").write_text("123456\n")
    out = subprocess.run([*run, "--pin-file", str(tmp_path / "weak.txt")], capture_output=True, text=True)
    assert out.returncode != 0 and "maint.pin-obvious" in out.stderr and "fix:" in out.stderr
    assert target.read_text() == text
    # without a terminal and without --pin-file it says how, rather than reading stdin
    out = subprocess.run(run, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert out.returncode != 0 and "--pin-file" in out.stderr


def test_print_hash_for_provisioning_via_config(tmp_path):
    (tmp_path / "pin.txt").write_text(PIN)
    out = subprocess.run(
        [sys.executable, "-m", "kiosk", "maint", "set-pin", "--pin-file", str(tmp_path / "pin.txt"), "--print-hash"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    cfg = maint_config(tmp_path, pin_hash=out.stdout.strip())
    gate = PinGate(cfg)
    assert gate.attempt(PIN, "screen").accepted
    assert gate.pin_status()[0].source == "config [maint] pin_hash"


def test_no_pin_means_no_entry_and_says_how(tmp_path):
    gate = PinGate(maint_config(tmp_path))
    result = gate.attempt(PIN, "screen")
    assert result.outcome == "no-pin" and "set-pin" in result.error.fix
    assert gate.state().failures == 0


def test_a_pin_file_others_may_write_is_not_trusted(tmp_path):
    cfg = maint_config(tmp_path)
    set_pin(cfg)
    os.chmod(pin_mod.pin_file(cfg), 0o666)
    result = PinGate(cfg).attempt(PIN, "screen")
    assert result.outcome == "no-pin" and result.error.code == "maint.pin-file-writable"


def test_lock_delays_double_from_30s_to_one_hour():
    assert [lock_after(n) for n in range(1, FREE_TRIES)] == [0.0] * (FREE_TRIES - 1)
    assert [lock_after(n) for n in range(5, 13)] == [30, 60, 120, 240, 480, 960, 1920, 3600]
    assert lock_after(40) == MAX_LOCK_S


def test_lockout_timing_with_an_injected_clock(tmp_path):
    cfg = maint_config(tmp_path)
    set_pin(cfg)
    clock = WallClock()
    events: list[ev.Event] = []
    gate = PinGate(cfg, emit=events.append, clock=clock)
    outcomes = [gate.attempt("000001", "screen").outcome for _ in range(FREE_TRIES - 1)]
    assert outcomes == ["refused"] * 4 and not gate.state().locked
    fifth = gate.attempt("000001", "web", "127.0.0.9")
    assert fifth.outcome == "refused" and fifth.retry_after_s == FIRST_LOCK_S
    # locked: the right PIN is refused too, without counting another failure
    right = gate.attempt(PIN, "screen")
    assert right.outcome == "locked-out" and right.retry_after_s == pytest.approx(30)
    clock.now += 29
    assert gate.attempt(PIN, "web").outcome == "locked-out"
    clock.now += 1.5
    sixth = gate.attempt("000001", "screen")
    assert sixth.outcome == "refused" and sixth.retry_after_s == 60 and sixth.failures == 6
    clock.now += 60.5
    ok = gate.attempt(PIN, "screen")
    assert ok.accepted and gate.state().failures == 0
    # the audit events: every attempt, never the digits
    attempts = [e for e in events if isinstance(e, ev.MaintAttempt)]
    assert len(attempts) == 9
    assert [a.outcome for a in attempts][-4:] == ["locked-out", "locked-out", "refused", "accepted"]
    assert attempts[4].where == "web" and attempts[4].client == "127.0.0.9"
    assert not any(PIN in ev.to_json(e) or "000001" in ev.to_json(e) for e in events)


def test_lockout_survives_a_restart_and_a_clock_set_back(tmp_path):
    cfg = maint_config(tmp_path)
    set_pin(cfg)
    clock = WallClock()
    gate = PinGate(cfg, clock=clock)
    for _ in range(FREE_TRIES):
        gate.attempt("000001", "screen")
    gate.lockout.close()
    # "pull the plug": a new process, a new gate on the same data dir
    code = (
        "import sys; from kiosk import config; from kiosk.maint.gate import PinGate\n"
        f"g = PinGate(config.load(sys.argv[1]), clock=lambda: {clock.now + 10})\n"
        f"print(g.attempt({PIN!r}, 'screen').outcome, round(g.state().remaining_s))"
    )
    cfg_file = tmp_path / "kiosk.toml"
    cfg_file.write_text(f'[data]\ndir = "{cfg.data_dir}"\n[maint]\npin_file = "{pin_mod.pin_file(cfg)}"\n')
    out = subprocess.run([sys.executable, "-c", code, str(cfg_file)], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["locked-out", "20"]
    # a clock that went back a day (no RTC battery) locks no longer than the lock itself
    back = PinGate(cfg, clock=lambda: clock.now - 86400)
    assert back.state().remaining_s == FIRST_LOCK_S
    later = PinGate(cfg, clock=lambda: clock.now + 31)
    assert later.attempt(PIN, "screen").accepted


def test_attempts_are_audited_in_the_sealed_log(tmp_path):
    recipient = keypair(tmp_path)
    cfg = config_mod.from_mapping(
        {
            "data": {"dir": str(tmp_path / "data")},
            "log": {"recipients": [str(tmp_path / "operator.key.pub")], "path": str(tmp_path / "log.db")},
            "maint": {"pin_file": str(tmp_path / "maint-pin")},
        }
    )
    set_pin(cfg)
    sink = LogSink(cfg)
    sink.start()
    gate = PinGate(cfg, emit=sink)
    gate.attempt("000001", "web", "127.0.0.3")
    gate.attempt(PIN, "screen")
    gate.action("screen", "settings", "speech.volume")
    assert sink.flush()
    sink.close()
    with LogStore(tmp_path / "log.db", readonly=True) as store:
        assert audit.verify(store).ok
        stats = audit.stats(store)
        assert stats["by_source"] == {"maint-screen": 2, "maint-web": 1}
        assert stats["by_outcome"] == {"refused": 1, "accepted": 1, "settings": 1}
        assert stats["avg_ttft_ms"] is None  # audit records are not turns
        private = sealed.load_private_key(tmp_path / "operator.key", None)
        rows = [r for r in audit.export(store, private) if isinstance(r, dict)]
    assert rows[0]["audit"]["client"] == "127.0.0.3" and rows[0]["mode"] == "audit"
    raw = (tmp_path / "log.db").read_bytes()
    assert b"127.0.0.3" not in raw and PIN.encode() not in raw
    assert recipient.fingerprint in stats["recipients"]
