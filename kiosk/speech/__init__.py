"""The voice chain: wake word, live transcript, spoken answer, barge-in (see pipeline.py)."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from kiosk.errors import SpeechError


def require(module: str, package: str) -> ModuleType:
    """Import an optional engine, or say which package to install (a coded error, not a traceback)."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise SpeechError(
            "speech.engine-missing", f"{package} is not installed", f"pip install {package}"
        ) from e


def require_file(path: Path, what: str, fix: str) -> Path:
    if not path.exists():
        raise SpeechError("speech.model-missing", f"{what} {path} does not exist", fix)
    return path
