"""Every config number has a range the kiosk can live with; strings and lists are bounded."""

from __future__ import annotations

import dataclasses

import pytest

from kiosk import config as config_mod
from kiosk import paths
from kiosk.errors import ConfigError


def _load(tmp_path, text: str, strict: bool = True) -> config_mod.Config:
    path = tmp_path / "k.toml"
    path.write_text(text, "utf-8")
    return config_mod.load(path, strict=strict)


def test_every_number_key_has_a_range_and_the_readme_shows_it():
    readme = (paths.REPO_ROOT / "README.md").read_text("utf-8")
    for sec_name, sec_cls in config_mod.sections().items():
        for f in dataclasses.fields(sec_cls):
            default = getattr(sec_cls(), f.name)
            if isinstance(default, int | float) and not isinstance(default, bool):
                bounds = config_mod.value_range(f)
                assert bounds is not None, f"{sec_name}.{f.name} has no range"
                low, high = bounds
                assert low <= default <= high
                row = next(line for line in readme.splitlines() if f"`{sec_name}.{f.name}`" in line)
                assert f"Range {low}..{high}." in row, row


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[llm]\nn_ctx = 4294967312\n", "llm.n_ctx"),
        ("[web]\nmax_connections = 0\n", "web.max_connections"),
        (f"[llm]\nseed = {2**63}\n", "llm.seed"),
        (f"[session]\nmax_turns = {2**63 - 1}\n", "session.max_turns"),
        ("[log]\nretention_days = 1000000000000\n", "log.retention_days"),
        ("[web]\nrate_per_minute = 0\n", "web.rate_per_minute"),
        ("[knowledge]\nmax_file_kb = 0\n", "knowledge.max_file_kb"),
        ("[web]\nmax_connections = 100\nmax_connections_total = 50\n", "web.max_connections"),
    ],
)
def test_a_number_out_of_range_names_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, text)
    assert err.value.code == "config.range" and key in err.value.message
    assert len(err.value.message) < 300  # a 19-digit number is shortened, not pasted


def test_a_huge_string_or_list_is_refused(tmp_path):
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, '[venue]\nname = "' + "x" * 100_000 + '"\n')
    assert err.value.code == "config.range" and "venue.name" in err.value.message
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, "[speech]\nwake_phrases = [" + ", ".join('"hi"' for _ in range(100)) + "]\n")
    assert "speech.wake_phrases" in err.value.message
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, '[venue]\nname = "' + "x" * (20 * 1024 * 1024) + '"\n')
    assert err.value.code == "config.too-large"


def test_the_running_kiosk_keeps_its_default_for_an_out_of_range_key(tmp_path):
    cfg = _load(tmp_path, '[venue]\nname = "Town Museum"\n[llm]\nn_ctx = 4294967312\n[web]\nmax_connections = 0\n',
                strict=False)  # fmt: skip
    assert cfg.venue.name == "Town Museum"
    assert cfg.llm.n_ctx == config_mod.LLMConfig().n_ctx
    assert cfg.web.max_connections == config_mod.WebConfig().max_connections
    assert {p.code for p in cfg.problems} == {"config.range"}
