"""An operator's first run: `kiosk init` in an empty folder through `kiosk doctor` with no FAIL,
every config error at once, `kiosk serve` refusing a bad certificate before loading
anything, and the refused-log warning once, in one line, with its fix."""

from __future__ import annotations

import logging
import shutil
import tomllib

import pytest

from kiosk import cli
from kiosk import config as config_mod
from kiosk.store import sink as sink_mod


def test_init_from_an_empty_folder_through_doctor(tmp_path, capsys):
    folder = tmp_path / "kiosk"
    assert cli.main(["init", "--dir", str(folder)]) == 0
    said = capsys.readouterr().out
    assert "OFF THIS DEVICE" in said and str(folder / "operator.key") in said
    assert "kiosk-001.fleet.test" in said and f"--config {folder / 'kiosk.toml'} doctor" in said

    text = (folder / "kiosk.toml").read_text()
    data = tomllib.loads(text)
    cfg = config_mod.load(folder / "kiosk.toml")  # strict: every key valid
    set_by_init = {"data.dir", "log.recipients", "web.device_id", "web.fleet_domain", "web.cert", "web.key"}
    for key, default, doc in config_mod.documented_keys():
        if ".NAME." in key:  # a table of sections ([llm.backend.NAME]): a commented example
            assert f"{key.rsplit('.', 1)[1]} = " in text and doc in text, key
            continue
        section, name = key.split(".")
        assert name in data[section], key  # every key is written out...
        assert f"# {doc}" in text, key  # ...with its meaning
        if key not in set_by_init:
            assert data[section][name] == default, key  # ...at its default
    assert cfg.log.recipients == [str(folder / "operator.key.pub")]
    assert (folder / "operator.key").stat().st_mode & 0o777 == 0o600

    # Straight after init doctor fails on one thing only: the private key still lies here.
    assert cli.main(["--config", str(folder / "kiosk.toml"), "doctor", "--json"]) == 1
    import json

    checks = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in checks if c["status"] == "FAIL"] == ["log private key"]
    # The operator moves it to their computer, as init said; then nothing fails.
    laptop = tmp_path / "operators-laptop"
    laptop.mkdir()
    shutil.move(folder / "operator.key", laptop / "operator.key")
    assert cli.main(["--config", str(folder / "kiosk.toml"), "doctor", "--json"]) == 0
    checks = json.loads(capsys.readouterr().out)
    assert [c for c in checks if c["status"] == "FAIL"] == []
    web = next(c for c in checks if c["name"] == "web cert")
    assert web["status"] == "OK" and "(per-device)" in web["detail"]


def test_init_never_overwrites_without_force(tmp_path, capsys):
    folder = tmp_path / "kiosk"
    assert cli.main(["init", "--dir", str(folder)]) == 0
    before = (folder / "operator.key.pub").read_bytes()
    assert cli.main(["init", "--dir", str(folder)]) == cli.ExitCode.ERROR
    assert "already exist" in capsys.readouterr().err
    assert (folder / "operator.key.pub").read_bytes() == before
    assert cli.main(["init", "--dir", str(folder), "--force", "--device", "kiosk-042"]) == 0
    assert config_mod.load(folder / "kiosk.toml").web.device_id == "kiosk-042"


def test_doctor_lists_every_config_error_at_once(tmp_path, capsys):
    path = tmp_path / "k.toml"
    path.write_text(
        f'[data]\ndir = "{tmp_path / "data"}"\n[log]\nenabled = false\n'
        '[venue]\nnmae = "x"\n[llm]\nmax_tokenz = 3\ntemperature = 9.0\n[sesion]\nidle = 1\n'
    )
    assert cli.main(["--config", str(path), "doctor"]) == 1
    out = capsys.readouterr()
    fails = [line for line in out.out.splitlines() if line.startswith("FAIL config")]
    assert len(fails) == 4
    for word in ("venue.nmae", "llm.max_tokenz", "llm.temperature", "[sesion]"):
        assert any(word in line for line in fails), word
    assert "config problem" not in out.err  # said once, by doctor


def test_serve_checks_the_certificate_before_loading_models(tmp_path, capsys, monkeypatch):
    from kiosk import runtime

    def must_not_load(*a, **k):
        raise AssertionError("models loaded before the certificate was checked")

    monkeypatch.setattr(runtime, "build", must_not_load)
    path = tmp_path / "k.toml"
    path.write_text(f'[data]\ndir = "{tmp_path / "data"}"\n[web]\ncert = "{tmp_path / "none.pem"}"\n')
    assert cli.main(["--config", str(path), "serve"]) == cli.ExitCode.ERROR
    err = capsys.readouterr().err
    assert "error [certs." in err and "fix:" in err


def test_refused_log_warning_once_in_one_line_with_the_fix(tmp_path, caplog):
    cfg = config_mod.from_mapping({"data": {"dir": str(tmp_path)}}, source="test")
    sink_mod._warned.clear()
    with caplog.at_level(logging.WARNING, logger="kiosk.store.sink"):
        for _ in range(3):
            sink_mod.LogSink(cfg)
    lines = [r.getMessage() for r in caplog.records if r.name == "kiosk.store.sink"]
    assert len(lines) == 1 and "\n" not in lines[0]
    assert "fix:" in lines[0] and "kiosk init" in lines[0]
    assert lines[0].lower().count("refused") <= 1  # no doubled wording


@pytest.mark.parametrize("enabled", [True, False])
def test_progress_bar_draws_only_when_asked(enabled, capsys):
    from kiosk.progress import steps

    with steps("asking", 3, enabled=enabled) as bar:
        for _ in range(3):
            bar.advance()
    assert capsys.readouterr().out == ""  # never on stdout (--json stays clean)
