"""The command line as a user runs it: real subprocesses, real exit codes."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from kiosk.cli import BENCHES, ExitCode, build_parser


def run_kiosk(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kiosk", *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd)


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command words, its help, its parser) for every command and subcommand."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield (*path, name), helps.get(name), sub
                yield from _walk(sub, (*path, name))


def _leaves(parser: argparse.ArgumentParser):
    return [(words, sub) for words, _, sub in _walk(parser)
            if not any(isinstance(a, argparse._SubParsersAction) for a in sub._actions)]  # fmt: skip


def test_every_command_and_option_has_help_text():
    parser = build_parser()
    commands = list(_walk(parser))
    names = {" ".join(words) for words, _, _ in commands}
    assert {"run", "ask", "doctor", "bench llm", "models", "listen", "logs export", "certs check"} <= names
    missing = [" ".join(w) for w, h, _ in commands if not h]
    assert not missing, f"commands without help: {missing}"
    bare = [f"{' '.join(w)} {a.dest}" for w, _, sub in commands for a in sub._actions
            if not a.help and a.dest != "help" and not isinstance(a, argparse._SubParsersAction)]  # fmt: skip
    assert not bare, f"options without help: {bare}"


def _required_args(sub: argparse.ArgumentParser) -> list[str]:
    """The least a command needs to parse: each positional or required option, with a value."""
    out: list[str] = []
    for a in sub._actions:
        if not (a.required or not a.option_strings) or a.dest == "help":
            continue
        value = str(a.choices[0]) if a.choices else "1" if a.type is int else "x"
        out += [a.option_strings[0], value] if a.option_strings else [value]
    return out


def test_config_works_before_or_after_every_subcommand(tmp_path):
    parser = build_parser()
    leaves = _leaves(parser)
    assert len(leaves) >= 15
    for words, sub in leaves:
        rest = _required_args(sub)
        for argv in (["--config", "A.toml", *words, *rest], [*words, "--config", "A.toml", *rest],
                     [*words, *rest, "--config", "A.toml"]):  # fmt: skip
            args = parser.parse_args(argv)
            assert args.config == "A.toml", argv
        # given on both sides, the one nearer the command wins; given nowhere, None
        assert parser.parse_args(["--config", "A", *words, "--config", "B", *rest]).config == "B"
        assert parser.parse_args([*words, *rest]).config is None
        assert parser.parse_args([*words, "-v", *rest]).verbose is True


def test_ask_takes_config_after_the_subcommand(tmp_path):
    # the README's promise, through the real command (knowledge only: no model loaded)
    result = run_kiosk("ask", "--config", write_config(tmp_path), "--no-llm", "When is storytime?")
    assert result.returncode == ExitCode.OK, result.stderr
    assert "10:30am" in result.stdout


def test_every_option_a_bench_reads_is_on_its_parser():
    import importlib
    import inspect
    import re

    parser = build_parser()
    for words, sub in _leaves(parser):
        if words[0] != "bench":
            continue
        module, func, _, _ = BENCHES[words[1]]
        source = inspect.getsource(getattr(importlib.import_module(module), func))
        read = set(re.findall(r"args\.(\w+)", source)) | set(re.findall(r"getattr\(args, \"(\w+)\"", source))
        dests = {a.dest for a in sub._actions}
        assert read <= dests | {"what", "command", "func", "config", "verbose"}, (words, read - dests)
    assert {"records", "rounds", "dir"} <= {a.dest for a in dict(_leaves(parser))[("bench", "log")]._actions}


def test_exit_codes_are_one_table(tmp_path):
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3, 130]
    usage = run_kiosk("ask")  # no question: argparse's usage error
    assert usage.returncode == ExitCode.USAGE and "usage:" in usage.stderr


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


def test_config_error_names_the_key_and_is_a_kiosk_error(tmp_path):
    path = write_config(tmp_path, "[llm]\nmax_tokenz = 3\n")
    result = run_kiosk("ask", "--no-llm", "When is storytime?", "--config", path)
    assert result.returncode == ExitCode.ERROR
    assert "llm.max_tokenz" in result.stderr and "Traceback" not in result.stderr
    # doctor reads on and lists it as a FAIL line (with every other bad key; test_first_run)
    result = run_kiosk("--config", path, "doctor")
    assert result.returncode == ExitCode.FAILED
    assert "FAIL config" in result.stdout and "llm.max_tokenz" in result.stdout


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
    assert result.returncode == ExitCode.FAILED
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


def test_a_missing_optional_library_leaves_its_area_out_and_says_so(monkeypatch, capsys):
    import importlib

    from kiosk import areas
    from kiosk.cli import main

    real = importlib.import_module

    def without_aiohttp(name, *a, **kw):
        if name == "kiosk.web.cli":
            raise ModuleNotFoundError("No module named 'aiohttp'", name="aiohttp")
        return real(name, *a, **kw)

    monkeypatch.setattr(importlib, "import_module", without_aiohttp)
    missing = areas.load("web", "cli")
    assert isinstance(missing, areas.Missing) and missing.dependency == "aiohttp"
    assert main(["models", "list"]) == ExitCode.OK  # the rest of the CLI works
    err = capsys.readouterr().err
    assert "web commands and checks are unavailable: aiohttp is not installed" in err
    assert "serve" not in build_parser()._actions[-1].choices


@pytest.mark.parametrize(
    "error",
    [ModuleNotFoundError("No module named 'kiosk.web.gone'", name="kiosk.web.gone"),
     ImportError("cannot import name 'start_web' from 'kiosk.web.server'")],
)  # fmt: skip
def test_a_broken_area_is_a_bug_not_a_missing_library(monkeypatch, error):
    import importlib

    from kiosk import areas

    def broken(name, *a, **kw):
        raise error

    monkeypatch.setattr(importlib, "import_module", broken)
    with pytest.raises(ImportError):
        areas.load("web", "cli")
