"""Every on-disk location the kiosk knows, in one place.

The kiosk runs from a checkout (a developer machine, CI and the OS image install it
editable from its folder) or from a wheel. Read-only data is looked up in this order:

1. an environment variable: ``KIOSK_ASSETS_DIR`` (venue assets, prompts, theme, lexicon),
   ``KIOSK_MANIFEST`` (the model manifest);
2. the checkout around the package: ``<checkout>/assets`` and ``<checkout>/models``;
3. the copies inside an installed wheel: ``kiosk/_assets`` and ``kiosk/_models``
   (pyproject.toml maps the top-level folders there).

Models the kiosk assembles or downloads need a writable folder: ``KIOSK_MODELS_DIR``,
else the checkout's ``models/``, else ``$XDG_DATA_HOME/kiosk/models`` (by default
``~/.local/share/kiosk/models``) for a wheel install, whose package may be read-only.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
"""The checkout, when there is one (for a wheel install this is site-packages)."""
IN_CHECKOUT = (REPO_ROOT / "assets").is_dir() and (REPO_ROOT / "models" / "manifest.toml").is_file()

SYSTEM_CONFIG = Path("/etc/kiosk/kiosk.toml")


def user_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "kiosk" / "kiosk.toml"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "kiosk"


def _located(env: str, in_checkout: Path, in_wheel: Path) -> Path:
    if os.environ.get(env):
        return Path(os.environ[env]).expanduser()
    return in_checkout if IN_CHECKOUT else in_wheel


ASSETS_DIR = _located("KIOSK_ASSETS_DIR", REPO_ROOT / "assets", PACKAGE_DIR / "_assets")
MANIFEST_PATH = _located(
    "KIOSK_MANIFEST", REPO_ROOT / "models" / "manifest.toml", PACKAGE_DIR / "_models" / "manifest.toml"
)
MODELS_DIR = _located("KIOSK_MODELS_DIR", REPO_ROOT / "models", default_data_dir() / "models")
DEMO_KNOWLEDGE_DIR = ASSETS_DIR / "knowledge" / "demo-library"
PROMPTS_DIR = ASSETS_DIR / "prompts"
BENCH_DIR = ASSETS_DIR / "bench"
"""Question sets for `kiosk bench answers` and the tests (an installed kiosk never reads tests/)."""
THEME_PATH = ASSETS_DIR / "kiosk.tcss"
