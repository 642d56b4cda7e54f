"""Settings written from maintenance: validated, atomic under SIGKILL, rolled back when refused."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kiosk import config as config_mod
from kiosk.errors import ConfigError, KioskError, MaintError
from kiosk.maint import settings

WRITER = Path(__file__).parent / "maint_settings_writer.py"
PADDING = "# " + "operator notes " * 60 + "\n"


def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "kiosk.toml"
    # a large file (lots of operator comments) so a kill often lands inside a write
    path.write_text(
        PADDING * 60 + f'[data]\ndir = "{tmp_path / "data"}"\n[knowledge]\nembeddings = false\n'
        '[venue]\nname = "Original"\n'
    )
    return path


def test_sigkill_mid_write_leaves_the_old_or_the_new_config(tmp_path):
    path = config_file(tmp_path)
    rng = random.Random(19)
    seen = set()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    for _ in range(10):
        proc = subprocess.Popen([sys.executable, str(WRITER), str(path)], stdout=subprocess.PIPE, text=True, env=env)
        assert proc.stdout is not None
        proc.stdout.readline()  # at least one full write happened
        time.sleep(rng.uniform(0.0, 0.15))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        cfg = config_mod.load(path)  # strict: a broken file would raise here
        assert (cfg.venue.name, cfg.speech.volume) in (("Version A", 0.25), ("Version B", 0.75))
        assert path.read_text().startswith(PADDING)  # the operator's comments survive
        kept = config_mod.load(settings.prev_file(path))
        assert kept.venue.name in ("Original", "Version A", "Version B")
        seen.add(cfg.venue.name)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    # a kill can leave a temp file behind (never the config itself): it is harmless and named as such
    assert all(name.startswith(".kiosk.toml.") for name in leftovers)
    assert seen  # at least one version seen


def test_invalid_values_are_refused_before_anything_is_written(tmp_path):
    path = config_file(tmp_path)
    before = path.read_text()
    with pytest.raises(ConfigError) as e:
        settings.write_settings(path, {"speech.wake_sensitivity": 3.0})
    assert "speech.wake_sensitivity" in e.value.message
    with pytest.raises(MaintError):
        settings.write_settings(path, {"llm.model": "/tmp/evil.gguf"})
    assert path.read_text() == before and not settings.prev_file(path).exists()
    assert settings.parse_value("speech.wake_phrases", "hello kiosk, hey library") == ["hello kiosk", "hey library"]
    with pytest.raises(ConfigError):
        settings.parse_value("speech.volume", "loud")


def test_a_setting_refused_at_start_is_rolled_back(tmp_path, copy_knowledge):
    path = config_file(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    settings.write_settings(path, {"knowledge.path": str(copy_knowledge)}, data_dir=data)
    settings.clear_pending(config_mod.load(path))
    # the technician points the kiosk at a folder that does not exist: valid TOML, valid type
    settings.write_settings(path, {"knowledge.path": str(tmp_path / "no-such-folder")}, data_dir=data)
    cfg = config_mod.load(path, strict=False)
    assert settings.pending(cfg) is not None
    built: list[str] = []

    def build(c):
        from kiosk.runtime import open_knowledge

        k = open_knowledge(c)  # the real start-up step that refuses a missing folder
        built.append(c.knowledge.path)
        k.index.close()
        return c

    restored, _, notice = settings.start_with_rollback(cfg, build)
    assert restored.knowledge.path == str(copy_knowledge) and built == [str(copy_knowledge)]
    assert notice and "knowledge.path" in notice and "previous settings are back" in notice
    assert config_mod.load(path).knowledge.path == str(copy_knowledge)
    assert settings.pending(restored) is None
    # a start that succeeds clears the marker and keeps the new file
    settings.write_settings(path, {"speech.wake_phrases": ["hello library"]}, data_dir=data)
    cfg = config_mod.load(path, strict=False)
    again, _, notice = settings.start_with_rollback(cfg, lambda c: c)
    assert notice is None and again.speech.wake_phrases == ["hello library"] and settings.pending(again) is None


def test_without_a_marker_a_failing_start_is_not_touched(tmp_path):
    path = config_file(tmp_path)
    cfg = config_mod.load(path)

    def build(c):
        raise KioskError("knowledge.missing", "no knowledge", "")

    with pytest.raises(KioskError):
        settings.start_with_rollback(cfg, build)
