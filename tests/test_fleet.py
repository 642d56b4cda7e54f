"""Fleet readiness: the cost model, host readings, the thermal verdict, and a short real soak."""

from __future__ import annotations

import json
import re
import stat
import subprocess
from pathlib import Path

import pytest

from kiosk import config as config_mod
from kiosk import host
from kiosk.cli import main
from kiosk.errors import ConfigError, KioskError
from kiosk.fleet import cost
from kiosk.fleet.report import read_soak, rejudge
from kiosk.fleet.slo import slo_verdicts
from kiosk.fleet.soak import parse_levels, parse_mix, percentiles, thermal_verdict

# --- cost model -------------------------------------------------------------------------


def test_worked_example_is_reproduced_to_the_dollar() -> None:
    out = cost.compute(cost.load_inputs(cost.WORKED_EXAMPLE_PATH))
    assert out["tokens_total"] == 65_700_000
    assert out["cloud_compute"] == 52_560
    assert out["cloud_total"] == 142_560
    assert out["edge_total"] == 126_000
    assert out["edge_saves"] == 16_560
    assert out["cheaper"] == "edge"


def test_the_published_10000_per_day_figure_costs_ten_times_the_tokens() -> None:
    """The published text says 10,000 requests/day; its own totals are those of 1,000/day."""
    out = cost.compute(cost.load_inputs(cost.WORKED_EXAMPLE_PATH, {"workload": {"requests_per_day": 10_000}}))
    assert out["tokens_total"] == 657_000_000
    assert out["cloud_compute"] == 525_600
    assert out["cloud_total"] == 615_600
    assert out["edge_total"] == 126_000  # the edge side does not depend on the rate


def test_break_even_rate_is_where_the_totals_meet() -> None:
    inputs = cost.load_inputs(cost.WORKED_EXAMPLE_PATH)
    rate = cost.compute(inputs)["break_even_requests_per_day"]
    at = cost.compute(cost.load_inputs(cost.WORKED_EXAMPLE_PATH, {"workload": {"requests_per_day": rate}}))
    assert at["edge_total"] == pytest.approx(at["cloud_total"], rel=1e-3)
    below = cost.compute(cost.load_inputs(cost.WORKED_EXAMPLE_PATH, {"workload": {"requests_per_day": rate * 0.9}}))
    assert below["cheaper"] == "cloud"


def test_devices_come_from_the_measured_capacity() -> None:
    inputs = cost.load_inputs(
        None, {"edge": {"devices": 0, "capacity_answers_per_day": 300}, "workload": {"requests_per_day": 1000}}
    )
    out = cost.compute(inputs)
    assert out["devices"] == 4 and out["devices_from"] == "measured capacity"
    assert out["edge_capex"] == pytest.approx(4 * 240 * 3 / 3)


def test_defaults_cite_a_source_for_every_value() -> None:
    for line in cost.DEFAULTS_PATH.read_text("utf-8").splitlines():
        if re.match(r"^\w+\s*=", line):
            assert re.search(r"#\s*(seed|worked example|assumption|filled in|per-token|0 =)", line), line


def test_bad_inputs_name_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "in.toml"
    bad.write_text("[edge]\ndevcies = 3\n")
    with pytest.raises(ConfigError, match=r"edge\.devcies"):
        cost.load_inputs(bad)
    bad.write_text("[cloud]\nprice_per_token = -1\n")
    with pytest.raises(ConfigError, match=r"cloud\.price_per_token"):
        cost.load_inputs(bad)
    with pytest.raises(ConfigError, match=r"needs|capacity"):
        cost.compute(cost.load_inputs(None, {"edge": {"devices": 0}}))


def test_bench_cost_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "cost", "--inputs", str(cost.WORKED_EXAMPLE_PATH), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["edge_total"] == 126_000 and out["cloud_total"] == 142_560
    assert out["inputs"]["edge"]["device_cost"] == 1200


# --- host readings ----------------------------------------------------------------------


def test_temperature_is_read_from_thermal_zones_and_absent_without_them(tmp_path: Path) -> None:
    assert host.cpu_temp_c(tmp_path) is None
    zone = tmp_path / "thermal_zone0"
    zone.mkdir()
    (zone / "type").write_text("cpu-thermal\n")
    (zone / "temp").write_text("52350\n")
    assert host.cpu_temp_c(tmp_path) == 52.4


def test_throttling_is_decoded_from_vcgencmd(tmp_path: Path) -> None:
    """A stand-in for the Pi firmware's vcgencmd, which cannot exist here."""
    fake = tmp_path / "vcgencmd"
    fake.write_text("#!/bin/sh\necho throttled=0x50005\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    bits = host.throttled_bits(str(fake))
    assert bits == 0x50005
    assert host.throttle_flags(bits) == ("under-voltage", "throttled", "under-voltage-occurred",
                                         "throttled-occurred")
    assert host.throttled_bits(str(tmp_path / "missing")) is None


def test_percentiles_are_ordered_and_within_the_data() -> None:
    values = [float(v) for v in range(1, 101)]
    p = percentiles(values)
    assert 1 <= p["p50"] <= p["p95"] <= p["p99"] <= 100
    assert percentiles([]) == {"p50": None, "p95": None, "p99": None}


def test_bad_soak_options_are_clear() -> None:
    with pytest.raises(ConfigError, match="mode"):
        parse_mix("instant=0.5,fast=0.5")
    with pytest.raises(ConfigError, match=r"1\.\.64"):
        parse_levels("0,2")
    assert parse_mix("llm=1,refusal=1") == {"llm": 0.5, "refusal": 0.5}


def _row(minute: float, level: int, itl: float, freq: float | None, throttled: int | None = None) -> dict:
    stats = {"p50": itl, "p95": itl * 2, "p99": itl * 3}
    return {"minute": minute, "concurrency": level, "itl_ms": stats, "e2e_ms": stats, "freq_mhz_mean": freq,
            "temp_c_max": None, "throttled": throttled}


def test_thermal_verdict_compares_first_and_last_minutes_level_by_level() -> None:
    steady = [_row(m, 1 + m % 2, 40.0, 2400.0) for m in range(30)]
    assert thermal_verdict(steady, 60)["verdict"] == "stable"
    slowing = [_row(m, 1 + m % 2, 40.0 + (m * 2 if m >= 25 else 0), 2400.0) for m in range(30)]
    v = thermal_verdict(slowing, 60)
    assert v["verdict"] == "drift" and v["by_concurrency"]["1"]["itl_drift_pct"] > 10
    capped = [_row(m, 1, 40.0, 2400.0 if m < 20 else 1500.0) for m in range(30)]
    assert thermal_verdict(capped, 60)["verdict"] == "drift"
    hot = [_row(m, 1, 40.0, 2400.0, 0x4 if m == 12 else 0) for m in range(30)]
    assert thermal_verdict(hot, 60)["verdict"] == "throttled"
    assert thermal_verdict(steady, 60)["temperature_available"] is False


# --- a short soak on the real model -------------------------------------------------------


@pytest.fixture(scope="module")
def soak_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("soak")
    data = tmp_path_factory.mktemp("data")
    cfg = out / "kiosk.toml"
    cfg.write_text(f'[data]\ndir = "{data}"\n[llm]\nmax_tokens = 32\n')
    raw, wav = out / "q.raw.wav", out / "q.wav"  # a spoken question for the voice chain (flite's clean voice)
    subprocess.run(["flite", "-voice", "rms", "-t", "hello kiosk, when is storytime?", "-o", str(raw)], check=True)
    subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", str(wav), "pad", "0.5", "1.5"], check=True)
    code = main(["--config", str(cfg), "bench", "soak", "--minutes", "0.5", "--window-s", "10",
                 "--concurrency", "1,2", "--out", str(out), "--wav", str(wav), "--json"])
    assert code == 0
    return out


@pytest.mark.llm
def test_soak_writes_consistent_minutes_and_summary(soak_dir: Path) -> None:
    rows, summary = read_soak(soak_dir)
    assert summary is not None and len(rows) == summary["windows"] == 3
    assert [r["concurrency"] for r in rows] == [1, 2, 1]
    overall = summary["overall"]
    assert overall["answers"] == sum(r["answers"] for r in rows) > 0
    assert overall["errors"] == sum(r["errors"] for r in rows) == 0
    assert sum(s["answers"] for s in summary["by_concurrency"].values()) == overall["answers"]
    assert sum(overall["modes"].values()) == overall["answers"] + overall["errors"]
    for stats in [overall, *rows, *summary["by_concurrency"].values()]:
        for key in ("ttft_ms", "e2e_ms", "itl_ms", "gen_ttft_ms"):
            p = stats[key]
            if p["p50"] is not None:
                assert p["p50"] <= p["p95"] <= p["p99"], (key, p)
        if stats.get("ttft_ms", {}).get("p50") is not None:
            assert stats["ttft_ms"]["p50"] <= stats["e2e_ms"]["p50"] + 0.5
    for r in rows:
        assert len(r["answers_ms"]) == r["answers"]
        assert r["rss_mb_max"] and r["rss_mb_max"] > 50
    if host.cpu_temp_c() is None:  # this host has no thermal zones: absent, not invented
        assert all(r["temp_c_max"] is None for r in rows)
        temp = next(v for v in summary["slo"] if v["name"] == "max_temp_c")
        assert temp["met"] is None and temp["value"] is None
    assert summary["device"]["cores"] >= 1 and summary["model"].startswith("llama.cpp:")
    voice = summary["voice"]  # the WAV went through wake, VAD and STT into the same Assistant
    assert voice["utterances"] == 3 and voice["answered"] >= 2
    p = voice["end_of_speech_to_first_token_ms"]
    assert 0 < p["p50"] <= p["p95"] <= p["p99"]


@pytest.mark.llm
def test_soak_report_is_self_contained_and_rebuilds(soak_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = soak_dir / "report.html"
    html = report.read_text("utf-8")
    assert html.count("data:image/png;base64,") == 4
    assert not re.search(r"""(src|href)=['"]?https?:""", html)
    assert "<script" not in html
    assert "Service-level objectives" in html and "Cost: edge against cloud" in html
    report.unlink()
    assert main(["bench", "report", str(soak_dir), "--json"]) == 0
    assert report.is_file() and json.loads(capsys.readouterr().out)["complete"] is True


@pytest.mark.llm
def test_slo_verdict_flips_when_a_target_is_tightened(soak_dir: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    _, summary = read_soak(soak_dir)
    assert summary is not None
    measured = summary["overall"]["e2e_ms"]["p95"]
    loose = config_mod.from_mapping({"slo": {"e2e_p95_ms": measured * 2 + 1}}).slo
    tight = config_mod.from_mapping({"slo": {"e2e_p95_ms": max(measured / 2, 0.001)}}).slo
    verdict = {v["name"]: v for v in slo_verdicts(loose, summary["overall"], None)}
    assert verdict["e2e_p95_ms"]["met"] is True
    verdict = {v["name"]: v for v in rejudge(summary, tight)["slo"]}
    assert verdict["e2e_p95_ms"]["met"] is False and verdict["e2e_p95_ms"]["by"] > 0
    cfg = tmp_path / "tight.toml"
    cfg.write_text(f"[slo]\ne2e_p95_ms = {max(measured / 2, 0.001)}\n")
    assert main(["--config", str(cfg), "bench", "report", str(soak_dir), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["slo"]["e2e_p95_ms"] == "missed" and out["capacity_answers_per_day"] == 0


def test_report_of_a_missing_soak_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(KioskError, match=r"soak\.jsonl"):
        read_soak(tmp_path)
    (tmp_path / "soak.jsonl").write_text('{"kind": "window", "window": 0}\n{"kind": "summ')
    rows, summary = read_soak(tmp_path)  # a run killed mid-line keeps its complete minutes
    assert len(rows) == 1 and summary is None
