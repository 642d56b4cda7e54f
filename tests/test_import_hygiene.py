"""The core stays headless: importing it pulls in neither Textual nor aiohttp."""

from __future__ import annotations

import subprocess
import sys

CORE = [
    "kiosk.assistant", "kiosk.runtime", "kiosk.cli", "kiosk.events", "kiosk.config", "kiosk.store.sink",
    "kiosk.telemetry.sink", "kiosk.telemetry.metrics", "kiosk.telemetry.otlp", "kiosk.telemetry.cli",
]  # fmt: skip


def test_core_imports_no_face_libraries():
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in CORE)
        + "bad = [m for m in ('textual', 'aiohttp') if m in sys.modules]\n"
        + "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
