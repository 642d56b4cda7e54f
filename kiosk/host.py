"""What the host says about itself: temperature, throttling, CPU frequency, memory.

Read from the places a Raspberry Pi 5 (and most Linux machines) expose them:
``/sys/class/thermal/thermal_zone*/temp``, ``vcgencmd get_throttled`` (Raspberry Pi
firmware), ``/sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq`` (else the
``cpu MHz`` lines of /proc/cpuinfo), /proc/self/status and /proc/meminfo. A value the
host does not expose is ``None``: absent, never invented, so a report on a VM without
thermal zones shows "not available" rather than a made-up 0 degrees.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

THERMAL = Path("/sys/class/thermal")
CPUS = Path("/sys/devices/system/cpu")

# Bits of `vcgencmd get_throttled` (Raspberry Pi firmware documentation).
THROTTLE_BITS = {
    0: "under-voltage",
    1: "arm-frequency-capped",
    2: "throttled",
    3: "soft-temperature-limit",
    16: "under-voltage-occurred",
    17: "arm-frequency-capped-occurred",
    18: "throttled-occurred",
    19: "soft-temperature-limit-occurred",
}


@dataclass(frozen=True)
class HostSample:
    t: float
    """time.monotonic() of the sample."""
    temp_c: float | None
    """Hottest CPU thermal zone, degrees Celsius."""
    throttled: int | None
    """The raw `vcgencmd get_throttled` bit field."""
    throttle_flags: tuple[str, ...] | None
    freq_mhz: float | None
    """Mean current CPU frequency over all cores, MHz."""
    rss_mb: float | None
    """Resident memory of this process, MiB."""
    mem_available_mb: float | None
    load1: float | None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["throttle_flags"] = list(self.throttle_flags) if self.throttle_flags is not None else None
        return d


def cpu_temp_c(root: Path = THERMAL) -> float | None:
    temps = []
    for zone in sorted(root.glob("thermal_zone*")):
        try:
            kind = (zone / "type").read_text().strip().lower()
            value = int((zone / "temp").read_text().strip()) / 1000.0
        except (OSError, ValueError):
            continue
        if "cpu" in kind or "soc" in kind or "x86_pkg" in kind or kind.startswith("acpi"):
            temps.append(value)
    return round(max(temps), 1) if temps else None


def throttled(vcgencmd: str | None = None) -> int | None:
    exe = vcgencmd or shutil.which("vcgencmd")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "get_throttled"], capture_output=True, text=True, timeout=2).stdout
        return int(out.strip().split("=", 1)[1], 16)
    except (OSError, subprocess.SubprocessError, IndexError, ValueError):
        return None


def throttle_flags(bits: int | None) -> tuple[str, ...] | None:
    if bits is None:
        return None
    return tuple(name for bit, name in THROTTLE_BITS.items() if bits & (1 << bit))


def cpu_freq_mhz(cpus: Path = CPUS, cpuinfo: Path = Path("/proc/cpuinfo")) -> float | None:
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


def _kib_field(path: Path, name: str) -> float | None:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(name + ":"):
                return round(int(line.split()[1]) / 1024.0, 1)
    except (OSError, ValueError, IndexError):
        return None
    return None


def rss_mb(pid: int | str = "self") -> float | None:
    return _kib_field(Path(f"/proc/{pid}/status"), "VmRSS")


def sample() -> HostSample:
    bits = throttled()
    try:
        load1: float | None = round(os.getloadavg()[0], 2)
    except OSError:
        load1 = None
    return HostSample(
        t=time.monotonic(),
        temp_c=cpu_temp_c(),
        throttled=bits,
        throttle_flags=throttle_flags(bits),
        freq_mhz=cpu_freq_mhz(),
        rss_mb=rss_mb(),
        mem_available_mb=_kib_field(Path("/proc/meminfo"), "MemAvailable"),
        load1=load1,
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
    return {
        "machine": model or os.uname().machine,
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_mb": _kib_field(Path("/proc/meminfo"), "MemTotal"),
        "kernel": os.uname().release,
        "hostname": os.uname().nodename,
    }
