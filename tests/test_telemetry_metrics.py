"""Which events move which instrument, and host readings that are absent, not invented."""

from __future__ import annotations

import stat

from telemetry_support import attrs, decode, telemetry_config

from kiosk import events as ev
from kiosk import host
from kiosk.telemetry.metrics import Telemetry
from kiosk.telemetry.outbox import Outbox


def _points(box: Outbox) -> dict[str, list]:
    body = box.db.execute("SELECT body FROM batch WHERE signal='metrics' ORDER BY id DESC").fetchone()[0]
    req, _ = decode("metrics", body, gzipped=True)
    out: dict[str, list] = {}
    for m in req.resource_metrics[0].scope_metrics[0].metrics:
        kind = m.WhichOneof("data")
        out[m.name] = [(attrs(dp.attributes), dp) for dp in getattr(m, kind).data_points]
    return out


def test_events_become_counts_and_histograms(tmp_path):
    cfg = telemetry_config(tmp_path)
    box = Outbox.from_config(cfg)
    tele = Telemetry(cfg, box)
    c = {"conversation_id": "c1"}
    seq = [
        ev.ConversationStarted(**c, t=0.0, source="voice"),
        ev.WakeDetected(**c, t=0.1, phrase="hello kiosk", engine="vosk"),
        ev.ListeningStarted(**c, t=0.1, reason="wake"),
        ev.ListeningStopped(**c, t=2.0, reason="end-of-speech", speech_s=1.5),
        ev.TranscriptFinal(**c, t=2.0, text="secret words", engine="whisper", audio_s=2.0, decode_s=0.5),
        ev.QuestionReceived(**c, t=2.0, text="secret words", source="voice", turn=1),
        ev.AnswerStarted(**c, t=2.1, mode="llm"),
        ev.AnswerToken(**c, t=2.8, text="Hi"),
        ev.AnswerToken(**c, t=2.9, text=" there"),
        ev.AnswerDone(**c, t=3.0, text="Hi there", outcome="answered", engine="llama.cpp:x", tokens=10,
                      ttft_ms=800.0, total_ms=1000.0),
        ev.QuestionReceived(**c, t=4.0, text="q", source="voice", turn=2),
        ev.AnswerStarted(**c, t=4.1, mode="llm"),
        ev.AnswerDone(**c, t=5.0, text="fact", outcome="answered", engine="x", tokens=3, ttft_ms=300.0,
                      total_ms=900.0, fallback=True),
        ev.ListeningStarted(**c, t=6.0, reason="push-to-talk"),
        ev.ListeningStopped(**c, t=11.0, reason="no-speech"),
        ev.QuestionReceived(**c, t=12.0, text="q", source="web", turn=3),
        ev.AnswerCancelled(**c, t=12.5, reason="user"),
        ev.QuestionReceived(**c, t=13.0, text="q", source="kiosk", turn=4),
        ev.Fault(**c, t=13.1, code="llm.failed", message="boom on 'secret words'", fix="see the kiosk log"),
        ev.AnswerCancelled(**c, t=13.2, reason="error"),
        ev.SpeakingStarted(**c, t=14.0, engine="piper"),
        ev.ConversationReset(**c, t=20.0, reason="idle"),
        ev.MaintAttempt(conversation_id="", t=21.0, where="web", client="10.9.8.7", outcome="refused", failures=1),
        ev.MaintAttempt(conversation_id="", t=22.0, where="web", client="10.9.8.7", outcome="refused", failures=2),
        ev.MaintAttempt(conversation_id="", t=23.0, where="screen", outcome="accepted"),
    ]  # fmt: skip
    for e in seq:
        tele(e)
    tele.collect()
    p = _points(box)
    turns = {a["outcome"]: dp.as_int for a, dp in p["kiosk.turns"]}
    assert turns == {"llm": 1, "fallback": 1, "cancelled": 1, "fault": 1}
    assert {a["source"]: dp.as_int for a, dp in p["kiosk.questions"]} == {"voice": 2, "web": 1, "kiosk": 1}
    assert p["kiosk.wakes"][0][1].as_int == 1 and p["kiosk.wakes.no_speech"][0][1].as_int == 1
    assert p["kiosk.push_to_talk"][0][1].as_int == 1
    assert {a["code"]: dp.as_int for a, dp in p["kiosk.faults"]} == {"llm.failed": 1}
    maint = {(a["where"], a["outcome"]): dp.as_int for a, dp in p["kiosk.maint.attempts"]}
    assert maint == {("web", "refused"): 2, ("screen", "accepted"): 1}
    (_, eos), = p["kiosk.voice.eos_to_first_token"]  # fmt: skip
    assert eos.count == 1 and abs(eos.sum - 800.0) < 1e-6, "end of speech (2.0) to first token (2.8)"
    (_, rtf), = p["kiosk.stt.real_time_factor"]  # fmt: skip
    assert rtf.count == 1 and abs(rtf.sum - 0.25) < 1e-9
    ttft = {a["outcome"]: dp for a, dp in p["kiosk.answer.ttft"]}
    assert ttft["llm"].sum == 800.0 and ttft["fallback"].sum == 300.0
    assert sum(b for b in ttft["llm"].bucket_counts) == 1, "the SDK's histogram, with explicit buckets"
    (info, _), = p["kiosk.build.info"]  # fmt: skip
    assert (info["kiosk.stt.engine"], info["kiosk.wake.engine"], info["kiosk.tts.engine"]) == (
        "whisper",
        "vosk",
        "piper",
    )
    tele.shutdown()
    # the fault went as a log record: code and fix, never the message
    body = box.db.execute("SELECT body FROM batch WHERE signal='logs'").fetchone()[0]
    req, raw = decode("logs", body, gzipped=True)
    (record,) = req.resource_logs[0].scope_logs[0].log_records
    a = attrs(record.attributes)
    assert (a["kiosk.fault.code"], a["kiosk.fault.fix"]) == ("llm.failed", "see the kiosk log")
    assert b"secret" not in raw and b"boom" not in raw
    metrics_raw = decode(
        "metrics", box.db.execute("SELECT body FROM batch WHERE signal='metrics'").fetchone()[0], True
    )[1]
    assert b"secret" not in metrics_raw and b"Hi there" not in metrics_raw and b"10.9.8.7" not in metrics_raw


def test_host_readings_are_absent_where_the_source_is(tmp_path):
    assert list(host.cpu_temperatures(tmp_path)) == []
    zone = tmp_path / "thermal_zone0"
    zone.mkdir()
    (zone / "temp").write_text("61234\n")
    (zone / "type").write_text("cpu-thermal\n")
    assert list(host.cpu_temperatures(tmp_path)) == [("cpu-thermal", 61.234)]
    assert host.Throttling(command="").read() is None
    # the Pi's firmware tool cannot exist here: a stand-in speaking its output format
    fake = tmp_path / "vcgencmd"
    fake.write_text("#!/bin/sh\necho throttled=0x50005\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    flags = host.Throttling(command=str(fake)).read()
    assert flags[("under-voltage", "now")] == 1 and flags[("throttled", "now")] == 1
    assert flags[("arm-frequency-capped", "now")] == 0 and flags[("under-voltage", "since-boot")] == 1
    assert flags[("throttled", "since-boot")] == 1 and flags[("soft-temperature-limit", "since-boot")] == 0
    assert host.parse_throttled("error=1") is None


def test_no_thermal_zone_no_vcgencmd_means_no_point_at_all(tmp_path, monkeypatch):
    monkeypatch.setattr(host, "THERMAL_DIR", tmp_path)
    cfg = telemetry_config(tmp_path)
    box = Outbox.from_config(cfg)
    tele = Telemetry(cfg, box)
    tele._throttle = host.Throttling(command="")
    tele.collect()
    p = _points(box)
    assert "kiosk.host.cpu.temperature" not in p and "kiosk.host.throttled" not in p
    assert "kiosk.cert.days_left" not in p, "no web certificate configured"
    assert p["kiosk.data_dir.free"][0][1].as_int > 0 and "system.cpu.load_average.1m" in p
    tele.shutdown()


def test_certificate_days_to_expiry(tmp_path):
    from kiosk.web import devca

    ca = devca.make_ca()
    leaf = devca.issue_leaf(ca, ["kiosk-t18.fleet.test"])
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    devca.write_leaf(leaf, [ca.cert], cert, key)
    cfg = telemetry_config(tmp_path)
    cfg.web.cert, cfg.web.key = str(cert), str(key)
    box = Outbox.from_config(cfg)
    tele = Telemetry(cfg, box)
    tele.collect()
    (_, dp), = _points(box)["kiosk.cert.days_left"]  # fmt: skip
    assert 89.9 < dp.as_double < 90.0, "issued 1 h ago for 90 days"
    tele.shutdown()
