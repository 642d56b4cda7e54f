"""What the maintenance health screen (and ``/maint/api/health``) shows, from the real parts.

Device facts come from the kernel (/sys thermal zones, /proc) and, on a Pi, the firmware
(``vcgencmd get_throttled``); everything else is ``kiosk doctor``'s own checks, so the
screen and the command can never disagree. A fact this machine cannot give (no thermal
zone in a VM, no vcgencmd off a Pi) says so instead of inventing a value.

``doctor_checks`` is this area's line in ``kiosk doctor``: is a PIN set, is entry locked.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk.config import Config

THROTTLE_BITS = {
    0: "under-voltage now",
    1: "ARM frequency capped now",
    2: "throttled now",
    3: "soft temperature limit now",
    16: "under-voltage has occurred",
    17: "frequency capping has occurred",
    18: "throttling has occurred",
    19: "soft temperature limit has occurred",
}
STARTED = time.monotonic()


@dataclass
class Fact:
    name: str
    status: str  # OK, WARN, FAIL (the doctor's words)
    detail: str
    fix: str = ""


def cpu_temperature(root: Path = Path("/sys/class/thermal")) -> Fact:
    temps = []
    for zone in sorted(root.glob("thermal_zone*")):
        try:
            temps.append(
                (int((zone / "temp").read_text().strip()) / 1000.0, (zone / "type").read_text().strip())
            )
        except (OSError, ValueError):
            continue
    if not temps:
        return Fact("CPU temperature", "OK", "not available on this machine (no thermal zone)")
    value, kind = max(temps)
    status = "FAIL" if value >= 80 else "WARN" if value >= 70 else "OK"
    fix = "" if status == "OK" else "check the fan and the case's airflow (the Pi 5 throttles at 85 °C)"
    return Fact("CPU temperature", status, f"{value:.1f} °C ({kind})", fix)


def throttling() -> Fact:
    tool = shutil.which("vcgencmd")
    if tool is None:
        return Fact("throttling", "OK", "not a Raspberry Pi here (no vcgencmd): nothing to read")
    try:
        out = subprocess.run([tool, "get_throttled"], capture_output=True, text=True, timeout=5).stdout
        value = int(out.strip().split("=")[1], 16)
    except (OSError, subprocess.SubprocessError, IndexError, ValueError) as e:
        return Fact("throttling", "WARN", f"vcgencmd get_throttled failed: {e}", "update the Pi firmware")
    if not value:
        return Fact("throttling", "OK", "never throttled since boot (0x0)")
    flags = [text for bit, text in THROTTLE_BITS.items() if value & (1 << bit)]
    return Fact(
        "throttling",
        "WARN",
        f"{hex(value)}: {', '.join(flags)}",
        "use the official 27 W power supply; check cooling",
    )


def memory(meminfo: Path = Path("/proc/meminfo")) -> Fact:
    try:
        info = {
            k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in meminfo.read_text().splitlines())
        }
    except (OSError, ValueError):
        return Fact("memory", "WARN", "cannot read /proc/meminfo", "")
    total, free = info.get("MemTotal", 0) / 1024, info.get("MemAvailable", 0) / 1024
    status = "WARN" if total and free / total < 0.1 else "OK"
    return Fact(
        "memory",
        status,
        f"{free:,.0f} MiB available of {total:,.0f} MiB",
        "close other programs" if status != "OK" else "",
    )


def disk(path: Path) -> Fact:
    folder = path
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    usage = shutil.disk_usage(folder)
    status = "WARN" if usage.free < 256 * 2**20 else "OK"
    return Fact(
        "disk", status, f"{usage.free / 2**30:.1f} GiB free of {usage.total / 2**30:.1f} GiB at {folder}",
        "free space or lower [log] retention_days" if status != "OK" else "",
    )  # fmt: skip


def uptime(proc: Path = Path("/proc/uptime")) -> Fact:
    try:
        system = float(proc.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        system = -1.0
    kiosk = time.monotonic() - STARTED
    return Fact("uptime", "OK", f"system {_duration(system)}, kiosk process {_duration(kiosk)}")


def _duration(seconds: float) -> str:
    if seconds < 0:
        return "unknown"
    d, rest = divmod(int(seconds), 86400)
    h, rest = divmod(rest, 3600)
    return f"{d}d {h}h {rest // 60}m" if d else f"{h}h {rest // 60}m {rest % 60}s"


def model(assistant: Any) -> Fact:
    if assistant is None:
        return Fact("model", "OK", "no assistant in this process")
    if assistant.llm is None:
        err = getattr(assistant, "llm_error", None)
        return Fact("model", "WARN", f"none: answers from the knowledge only ({err.message if err else 'not loaded'})",
                    err.fix if err else "")  # fmt: skip
    return Fact("model", "OK", f"{assistant.llm.name} loaded")


def telemetry(config: Config) -> list[Fact]:
    """The telemetry outbox, when the telemetry area exists in this build."""
    try:
        module = importlib.import_module("kiosk.telemetry.health")
    except ImportError:
        return [Fact("telemetry", "OK", "not configured (no telemetry in this build)")]
    try:
        return [Fact(*_row(r)) for r in module.doctor_checks(config)]
    except Exception as e:  # another area's bug must not blank this screen
        return [Fact("telemetry", "WARN", f"telemetry status failed: {e}", "report this bug")]


def _row(check: Any) -> tuple[str, str, str, str]:
    if isinstance(check, tuple):
        return tuple(str(x) for x in check)  # type: ignore[return-value]
    return (str(check.name), str(check.status), str(check.detail), str(getattr(check, "fix", "")))


def device_facts(config: Config, assistant: Any = None) -> list[Fact]:
    return [cpu_temperature(), throttling(), memory(), disk(config.data_dir), uptime(), model(assistant)]


def all_facts(config: Config, assistant: Any = None) -> list[Fact]:
    """Device facts, then every doctor check (engines, certificate days, log sink, ...)."""
    from kiosk import doctor

    facts = device_facts(config, assistant)
    facts += [Fact(*_row(c)) for c in doctor.run_checks(config)]
    if "kiosk.telemetry.health" not in getattr(doctor, "AREA_HEALTH", ()):
        facts += telemetry(config)
    return facts


def faults(facts: list[Fact]) -> list[Fact]:
    return [f for f in facts if f.status != "OK"]


def as_dicts(facts: list[Fact]) -> list[dict[str, str]]:
    return [dict(name=f.name, status=f.status, detail=f.detail, fix=f.fix) for f in facts]


def doctor_checks(config: Config) -> list[tuple[str, str, str, str]]:
    from kiosk.errors import KioskError
    from kiosk.maint.gate import PinGate

    try:
        gate = PinGate(config)
    except KioskError as e:
        return [("maint", "FAIL", e.message, e.fix)]
    try:
        stored, error = gate.pin_status()
        if stored is None:
            assert error is not None
            return [
                ("maint PIN", "WARN" if error.code == "maint.no-pin" else "FAIL", error.message, error.fix)
            ]
        rows = [("maint PIN", "OK", f"argon2id hash in {stored.source}", "")]
        if stored.source.startswith("/") and os.stat(stored.source).st_uid != 0:
            rows[0] = (
                "maint PIN",
                "WARN",
                f"{stored.source} is not owned by root",
                f"chown root {stored.source}",
            )
        state = gate.state()
        if state.locked:
            rows.append(("maint lockout", "WARN", f"{state.failures} wrong PINs in a row: locked for {state.remaining_s:.0f} s",
                         "wait; someone may be guessing the PIN (see kiosk maint status)"))  # fmt: skip
        return rows
    finally:
        gate.lockout.close()
