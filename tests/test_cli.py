"""The command line as a user runs it: real subprocesses, real exit codes."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from kiosk.cli import build_parser


def run_kiosk(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kiosk", *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd)


def _walk(parser: argparse.ArgumentParser, path: str = "kiosk"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield f"{path} {name}", helps.get(name)
                yield from _walk(sub, f"{path} {name}")


def test_every_command_has_help_text():
    commands = list(_walk(build_parser()))
    assert {"kiosk run", "kiosk ask", "kiosk doctor", "kiosk bench", "kiosk models"} <= {c for c, _ in commands}
    missing = [c for c, h in commands if not h]
    assert not missing, f"commands without help: {missing}"


def write_config(tmp_path, text: str = "") -> str:
    path = tmp_path / "kiosk.toml"
    path.write_text(f'[data]\ndir = "{tmp_path / "data"}"\n[log]\nenabled = false\n{text}')
    return str(path)


@pytest.mark.llm
def test_ask_streams_an_answer(tmp_path):
    result = run_kiosk("--config", write_config(tmp_path), "ask", "When is storytime?")
    assert result.returncode == 0, result.stderr
    assert "10:30am" in result.stdout


@pytest.mark.llm
def test_ask_json_prints_events_with_timestamps(tmp_path):
    result = run_kiosk("--config", write_config(tmp_path), "ask", "--json", "What is the capital of France?")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["type"] for e in events][:3] == ["conversation-started", "question", "answer-started"]
    assert events[-1]["type"] == "answer-done" and events[-1]["outcome"] == "refused"
    assert all(isinstance(e["t"], float) for e in events)
    assert [e["t"] for e in events] == sorted(e["t"] for e in events)


def test_config_error_names_the_key_and_exits_2(tmp_path):
    path = write_config(tmp_path, "[llm]\nmax_tokenz = 3\n")
    result = run_kiosk("--config", path, "ask", "--no-llm", "When is storytime?")
    assert result.returncode == 2
    assert "llm.max_tokenz" in result.stderr and "Traceback" not in result.stderr
    # doctor reads on and lists it as a FAIL line (with every other bad key; test_first_run)
    result = run_kiosk("--config", path, "doctor")
    assert result.returncode == 1 and "FAIL config" in result.stdout and "llm.max_tokenz" in result.stdout


@pytest.mark.llm
def test_doctor_passes_on_this_machine_and_warns_about_the_microphone(tmp_path):
    result = run_kiosk("--config", write_config(tmp_path), "doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = {line.split()[1]: line.split()[0] for line in result.stdout.splitlines() if line[:4].strip() in
             {"OK", "WARN", "FAIL"}}
    for check in ("config", "data", "llama-cpp", "model", "knowledge", "microphone"):
        assert check in lines, result.stdout
    assert lines["model"] == "OK" and lines["knowledge"] == "OK"
    from kiosk.doctor import audio_check

    # No sound card (here and in CI): said as a warning, not fatal.
    assert lines["microphone"] == ("OK" if audio_check().status == "OK" else "WARN")


def test_doctor_fails_on_a_missing_model_with_the_fix(tmp_path):
    result = run_kiosk("--config", write_config(tmp_path, f'[llm]\nmodel = "{tmp_path}/gone.gguf"\n'), "doctor")
    assert result.returncode == 1
    assert "FAIL model" in result.stdout and "gone.gguf" in result.stdout


def test_corrupt_model_falls_back_to_knowledge_answers(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 1000)
    result = run_kiosk("--config", write_config(tmp_path, f'[llm]\nmodel = "{bad}"\n'), "ask", "When is storytime?")
    assert result.returncode == 0
    assert "10:30am" in result.stdout
    assert "warning" in result.stderr and "broken.gguf" in result.stderr


def test_doctor_reports_an_unusable_data_dir_without_a_traceback(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cfg = tmp_path / "k.toml"
    cfg.write_text(f'[data]\ndir = "{blocker}/sub"\n[log]\nenabled = false\n')
    result = run_kiosk("--config", str(cfg), "doctor")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert "FAIL data dir" in result.stdout
