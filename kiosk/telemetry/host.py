"""Host readings for telemetry: what the machine says, never a guess.

Each reader returns nothing when the source is absent (a laptop has no ``vcgencmd``; a
container may have no thermal zone), so a gauge that cannot be read is *missing* from
the batch rather than reported as zero: a fleet dashboard then shows "no data", not a
cool and unthrottled Pi that does not exist.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

THERMAL_DIR = Path("/sys/class/thermal")
THROTTLE_BITS = {
    0: ("under-voltage", "now"),
    1: ("arm-frequency-capped", "now"),
    2: ("throttled", "now"),
    3: ("soft-temperature-limit", "now"),
    16: ("under-voltage", "since-boot"),
    17: ("arm-frequency-capped", "since-boot"),
    18: ("throttled", "since-boot"),
    19: ("soft-temperature-limit", "since-boot"),
}
"""The Raspberry Pi firmware's ``get_throttled`` bit meanings (documented by Raspberry Pi)."""


def cpu_temperatures(root: Path | None = None) -> Iterator[tuple[str, float]]:
    """(zone type, degrees Celsius) for every readable thermal zone."""
    for zone in sorted((root or THERMAL_DIR).glob("thermal_zone*")):
        try:
            milli = int((zone / "temp").read_text().strip())
            kind = (zone / "type").read_text().strip() or zone.name
        except (OSError, ValueError):
            continue
        yield kind, milli / 1000.0


def parse_throttled(text: str) -> dict[tuple[str, str], int] | None:
    """``throttled=0x50005`` -> {(condition, when): 0|1}; None if it is not that output."""
    m = re.search(r"throttled=(0x[0-9a-fA-F]+|\d+)", text)
    if not m:
        return None
    value = int(m.group(1), 0)
    return {name: (value >> bit) & 1 for bit, name in THROTTLE_BITS.items()}


class Throttling:
    """``vcgencmd get_throttled`` where the firmware tool exists (looked up once)."""

    def __init__(self, command: str | None = None) -> None:
        self.command = command if command is not None else shutil.which("vcgencmd")

    def read(self) -> dict[tuple[str, str], int] | None:
        if not self.command:
            return None
        try:
            out = subprocess.run([self.command, "get_throttled"], capture_output=True, text=True,
                                 timeout=2.0, check=False)  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            return None
        return parse_throttled(out.stdout) if out.returncode == 0 else None


def memory() -> dict[str, int] | None:
    """Bytes: total and available (the kernel's estimate of what can be had without swapping)."""
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    fields = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            fields[name] = int(parts[0]) * 1024
    if "MemTotal" not in fields or "MemAvailable" not in fields:
        return None
    return {"total": fields["MemTotal"], "available": fields["MemAvailable"]}


def uptime_s() -> float | None:
    try:
        return float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def load_average() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:
        return None


def disk_free(path: Path) -> int | None:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


@dataclass
class _CertCache:
    key: tuple[str, float] | None = None
    not_after: dt.datetime | None = None


class CertExpiry:
    """Days until the web certificate expires, re-read only when the file changes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._cache = _CertCache()

    def days_left(self, now: dt.datetime | None = None) -> float | None:
        if not self.path:
            return None
        try:
            key = (self.path, os.stat(self.path).st_mtime)
        except OSError:
            return None
        if key != self._cache.key:
            from cryptography import x509

            try:
                certs = x509.load_pem_x509_certificates(Path(self.path).read_bytes())
            except (OSError, ValueError):
                self._cache = _CertCache(key, None)
                return None
            self._cache = _CertCache(key, certs[0].not_valid_after_utc if certs else None)
        if self._cache.not_after is None:
            return None
        now = now or dt.datetime.now(dt.UTC)
        return (self._cache.not_after - now).total_seconds() / 86400.0
