"""Every on-disk location the kiosk knows, in one place.

Assets and the model manifest live beside the package (the kiosk is installed from its
checkout, on a developer machine and on the OS image alike), so they are found relative
to this file rather than through package data.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = REPO_ROOT / "assets"
MODELS_DIR = REPO_ROOT / "models"
MANIFEST_PATH = MODELS_DIR / "manifest.toml"
DEMO_KNOWLEDGE_DIR = ASSETS_DIR / "knowledge" / "demo-library"
PROMPTS_DIR = ASSETS_DIR / "prompts"
BENCH_DIR = ASSETS_DIR / "bench"
"""Question sets for `kiosk bench answers` and the tests (an installed kiosk never reads tests/)."""
THEME_PATH = ASSETS_DIR / "kiosk.tcss"

SYSTEM_CONFIG = Path("/etc/kiosk/kiosk.toml")


def user_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "kiosk" / "kiosk.toml"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "kiosk"
