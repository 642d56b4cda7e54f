"""Config: defaults, strictness (unknown keys and wrong types name the key), README docs."""

from __future__ import annotations

import json
import re

import pytest

from kiosk import config as config_mod
from kiosk import paths
from kiosk.errors import ConfigError


def test_defaults_without_any_file(monkeypatch, tmp_path):
    monkeypatch.setattr(paths, "SYSTEM_CONFIG", tmp_path / "none.toml")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    cfg = config_mod.load()
    assert cfg.source == "built-in defaults"
    assert cfg.session.idle_reset_s == 45
    assert cfg.llm.model == "gemma3-270m"


def test_user_config_is_found(monkeypatch, tmp_path):
    monkeypatch.setattr(paths, "SYSTEM_CONFIG", tmp_path / "none.toml")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "kiosk").mkdir()
    (tmp_path / "kiosk" / "kiosk.toml").write_text('[venue]\nname = "Town Museum"\n')
    assert config_mod.load().venue.name == "Town Museum"


def test_file_values_override_defaults(tmp_path):
    path = tmp_path / "k.toml"
    path.write_text('[llm]\nmax_tokens = 64\n[session]\nidle_reset_s = 30\n[speech]\nwake_phrases = ["hey kiosk"]\n')
    cfg = config_mod.load(path)
    assert (cfg.llm.max_tokens, cfg.session.idle_reset_s, cfg.speech.wake_phrases) == (64, 30.0, ["hey kiosk"])
    assert cfg.source == str(path)


@pytest.mark.parametrize(
    ("text", "code", "named"),
    [
        ("[llm]\nmax_tokenz = 5\n", "config.unknown-key", "llm.max_tokenz"),
        ("[lm]\nmodel = 'x'\n", "config.unknown-key", "[lm]"),
        ("[llm]\nmax_tokens = 'many'\n", "config.type", "llm.max_tokens"),
        ("[session]\nidle_reset_s = true\n", "config.type", "session.idle_reset_s"),
        ("[speech]\nwake_phrases = 'hello'\n", "config.type", "speech.wake_phrases"),
        ("[speech]\nwake_phrases = [1]\n", "config.type", "speech.wake_phrases[0]"),
        ("[llm]\nmax_tokens = 0\n", "config.range", "llm.max_tokens"),
        ("[llm]\nmax_tokens = 2000\nn_ctx = 2048\n", "config.range", "llm.max_tokens"),
        ("[llm\nmodel = 1\n", "config.syntax", "not valid TOML"),
        ("llm = 3\n", "config.type", "llm"),
        ("[session]\nidle_reset_s = nan\n", "config.range", "session.idle_reset_s"),
        ("[llm]\nbudget_s = inf\n", "config.range", "llm.budget_s"),
        ("[session]\nmax_turns = 0\n", "config.range", "session.max_turns"),
        ("[speech]\nvolume = 7.0\n", "config.range", "speech.volume"),
        ("[llm]\nthreads = -3\n", "config.range", "llm.threads"),
    ],
)
def test_bad_config_names_the_key(tmp_path, text, code, named):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        config_mod.load(path)
    assert err.value.code == code
    assert named in err.value.message


def test_missing_and_binary_files_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        config_mod.load(tmp_path / "missing.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError) as err:
        config_mod.load(binary)
    assert err.value.code == "config.syntax"


def _readme_default(value) -> str:
    """A default as README's table writes it: TOML-like, paths relative to the checkout."""
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str) and value.startswith(str(paths.REPO_ROOT) + "/"):
        return f"`{value[len(str(paths.REPO_ROOT)) + 1:]}`"
    if isinstance(value, str | list):
        return f"`{json.dumps(value)}`"
    return f"`{value!r}`"


def test_readme_table_matches_every_key_default_and_meaning():
    readme = (paths.REPO_ROOT / "README.md").read_text("utf-8")
    rows = {m[1]: (m[2], m[3]) for m in re.finditer(r"^\| `(\w+(?:\.\w+)+)` \| (.*?) \| (.*?) \|$", readme, re.M)}
    keys = config_mod.documented_keys()
    for key, default, doc in keys:
        assert key in rows, f"README lacks a row for {key}"
        assert rows[key] == (_readme_default(default), doc), f"README's row for {key} disagrees with config.py"
    assert set(rows) == {k for k, _, _ in keys}, "README documents keys the code does not have"


def test_an_engine_choice_outside_its_list_names_the_key(tmp_path):
    path = tmp_path / "k.toml"
    path.write_text('[speech]\nwake_engine = "vsok"\n')
    with pytest.raises(ConfigError) as e:
        config_mod.load(path)
    assert e.value.code == "config.choice" and "speech.wake_engine" in e.value.message
    assert "pocketsphinx" in e.value.fix
    path.write_text('[speech]\nstt_engine = "whisper"\ntts_engine = "espeak-ng"\n')
    assert config_mod.load(path).speech.stt_engine == "whisper"


def test_speech_timing_defaults_come_from_the_config():
    from kiosk.speech import frontend, vad

    cfg = config_mod.SpeechConfig()
    assert (
        cfg.speech_start_s, cfg.trailing_silence_s, cfg.max_utterance_s, cfg.no_speech_s,
    ) == (vad.SPEECH_START_S, vad.TRAILING_SILENCE_S, vad.MAX_UTTERANCE_S, vad.NO_SPEECH_S)  # fmt: skip
    t = frontend.Timeouts()
    assert (t.follow_up_s, t.refractory_s, t.trailing_silence_s) == (
        cfg.follow_up_s, cfg.refractory_s, cfg.trailing_silence_s,
    )  # fmt: skip


def test_every_key_has_a_doc_string():
    keys = config_mod.documented_keys()
    assert len(keys) > 40
    assert all(doc.strip() for _, _, doc in keys)


def test_dependent_keys_are_judged_together(tmp_path):
    path = tmp_path / "k.toml"
    path.write_text("[llm]\nmax_tokens = 2000\nn_ctx = 8192\n")
    cfg = config_mod.load(path)
    assert (cfg.llm.max_tokens, cfg.llm.n_ctx) == (2000, 8192)


def test_lenient_load_judges_a_key_with_the_keys_read_after_it(tmp_path):
    """The running kiosk loads leniently: a key that names a later one must not fall back.

    Found in the booted test image: [llm] backends = ["hailo"] comes before its
    [llm.backend.hailo] section, and a per-key check put the kiosk back on the CPU backend."""
    path = tmp_path / "k.toml"
    path.write_text('[llm]\nbackends = ["hailo"]\nmax_tokens = 2000\nn_ctx = 8192\n\n'
                    '[llm.backend.hailo]\nkind = "ollama"\nurl = "http://127.0.0.1:8000"\n')
    cfg = config_mod.load(path, strict=False)
    assert cfg.problems == []
    assert cfg.llm.backends == ["hailo"] and "hailo" in cfg.llm.backend
    assert (cfg.llm.max_tokens, cfg.llm.n_ctx) == (2000, 8192)
    path.write_text('[llm]\nbackends = ["nowhere"]\n')
    cfg = config_mod.load(path, strict=False)
    assert cfg.llm.backends == ["cpu"] and [p.code for p in cfg.problems] == ["config.range"]


def test_lenient_load_keeps_the_venue_and_lists_the_bad_keys(tmp_path):
    path = tmp_path / "k.toml"
    path.write_text('[venue]\nname = "Town Museum"\n[llm]\nmax_tokenz = 3\nmax_tokens = "many"\n[session]\n'
                    "idle_reset_s = nan\n[bogus]\nx = 1\n")
    with pytest.raises(ConfigError):
        config_mod.load(path)
    cfg = config_mod.load(path, strict=False)
    assert cfg.venue.name == "Town Museum"
    assert cfg.llm.max_tokens == config_mod.LLMConfig().max_tokens
    assert cfg.session.idle_reset_s == 45
    assert sorted(p.code for p in cfg.problems) == [
        "config.range", "config.type", "config.unknown-key", "config.unknown-key"]
