"""Loading an area (logs, speech, web) that may lack an optional dependency.

Each area brings its CLI commands (``kiosk.<area>.cli.register``) and its doctor
checks (``kiosk.<area>.health.doctor_checks``). An area whose optional library is not
installed (the ``voice`` or ``web`` extra left out) is skipped and *reported*; any
other import failure is a bug in the kiosk and is raised, not hidden.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

AREAS = ("store", "speech", "web", "knowledge", "telemetry", "maint")


@dataclass(frozen=True)
class Missing:
    area: str
    dependency: str

    @property
    def message(self) -> str:
        return f"the {self.area} commands and checks are unavailable: {self.dependency} is not installed"

    @property
    def fix(self) -> str:
        return "run os-image/install.sh (or pip install the kiosk's extras)"


def load(area: str, part: str) -> ModuleType | Missing | None:
    """``kiosk.<area>.<part>``, what is missing for it, or None if the area has no such part."""
    name = f"kiosk.{area}.{part}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name == name:
            return None  # e.g. knowledge has commands but no doctor checks of its own
        top = (e.name or "").split(".")[0]
        if not top or top == "kiosk":
            raise  # our own module is missing or broken: a bug, never skipped
        return Missing(area, top)
