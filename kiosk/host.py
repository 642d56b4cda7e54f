"""Host readings: what the machine says about itself, never a guess.

One module for telemetry's gauges, the soak's per-minute figures (kiosk bench soak) and
the maintenance health screen, read from where a Raspberry Pi 5 (and most Linux
machines) expose them: thermal zones, ``vcgencmd get_throttled`` (Raspberry Pi firmware),
cpufreq, /proc.

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


# --- the soak's per-minute sample -------------------------------------------------------

CPUS = Path("/sys/devices/system/cpu")


def cpu_temp_c(root: Path | None = None) -> float | None:
    """The hottest CPU/SoC thermal zone, degrees Celsius (None: the host has none)."""
    temps = [c for kind, c in cpu_temperatures(root)
             if any(k in kind.lower() for k in ("cpu", "soc", "x86_pkg", "acpi"))]
    return round(max(temps), 1) if temps else None


def throttled_bits(command: str | None = None) -> int | None:
    """The raw ``get_throttled`` bit field (None without the firmware tool)."""
    flags = Throttling(command).read()
    if flags is None:
        return None
    return sum(1 << bit for bit, name in THROTTLE_BITS.items() if flags.get(name))


def throttle_flags(bits: int | None) -> tuple[str, ...] | None:
    if bits is None:
        return None
    return tuple(f"{cond}-occurred" if when == "since-boot" else cond
                 for bit, (cond, when) in THROTTLE_BITS.items() if bits & (1 << bit))


def cpu_freq_mhz(cpus: Path = CPUS, cpuinfo: Path = Path("/proc/cpuinfo")) -> float | None:
    """Mean current frequency over all cores (cpufreq, else /proc/cpuinfo's "cpu MHz")."""
    freqs = []
    for f in cpus.glob("cpu[0-9]*/cpufreq/scaling_cur_freq"):
        try:
            freqs.append(int(f.read_text().strip()) / 1000.0)
        except (OSError, ValueError):
            continue
    if not freqs:
        try:
            freqs = [float(line.split(":", 1)[1]) for line in cpuinfo.read_text().splitlines()
                     if line.lower().startswith("cpu mhz")]
        except (OSError, ValueError):
            freqs = []
    return round(sum(freqs) / len(freqs), 1) if freqs else None


def rss_mb(pid: int | str = "self") -> float | None:
    """Resident memory of a process, MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024.0, 1)
    except (OSError, ValueError, IndexError):
        return None
    return None


@dataclass(frozen=True)
class HostSample:
    t: float
    """time.monotonic() of the sample."""
    temp_c: float | None
    throttled: int | None
    freq_mhz: float | None
    rss_mb: float | None
    mem_available_mb: float | None
    load1: float | None


def sample() -> HostSample:
    import time

    mem = memory()
    load = load_average()
    return HostSample(
        t=time.monotonic(),
        temp_c=cpu_temp_c(),
        throttled=throttled_bits(),
        freq_mhz=cpu_freq_mhz(),
        rss_mb=rss_mb(),
        mem_available_mb=round(mem["available"] / 2**20, 1) if mem else None,
        load1=round(load[0], 2) if load else None,
    )


def describe() -> dict:
    """The device as a report names it: machine, CPU model, cores, memory."""
    model = None
    for path in (Path("/proc/device-tree/model"), Path("/sys/firmware/devicetree/base/model")):
        try:
            model = path.read_text().strip("\x00\n ")
            break
        except OSError:
            continue
    cpu = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware")):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = memory()
    return {
        "machine": model or os.uname().machine,
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_mb": round(mem["total"] / 2**20, 1) if mem else None,
        "kernel": os.uname().release,
        "hostname": os.uname().nodename,
    }
