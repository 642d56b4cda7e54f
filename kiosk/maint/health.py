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
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk.config import Config
from kiosk.telemetry import host

STARTED = time.monotonic()


@dataclass
class Fact:
    name: str
    status: str  # OK, WARN, FAIL (the doctor's words)
    detail: str
    fix: str = ""


def cpu_temperature(root: Path | None = None) -> Fact:
    temps = [(value, kind) for kind, value in host.cpu_temperatures(root)]
    if not temps:
        return Fact("CPU temperature", "OK", "not available on this machine (no thermal zone)")
    value, kind = max(temps)
    status = "FAIL" if value >= 80 else "WARN" if value >= 70 else "OK"
    fix = "" if status == "OK" else "check the fan and the case's airflow (the Pi 5 throttles at 85 °C)"
    return Fact("CPU temperature", status, f"{value:.1f} °C ({kind})", fix)


def throttling(reader: host.Throttling | None = None) -> Fact:
    flags = (reader or host.Throttling()).read()
    if flags is None:
        return Fact("throttling", "OK", "not a Raspberry Pi here (no vcgencmd): nothing to read")
    on = [f"{cond} {when}" for (cond, when), bit in flags.items() if bit]
    if not on:
        return Fact("throttling", "OK", "never throttled since boot")
    return Fact("throttling", "WARN", ", ".join(on), "use the official 27 W power supply; check cooling")


def memory() -> Fact:
    mem = host.memory()
    if mem is None:
        return Fact("memory", "WARN", "cannot read /proc/meminfo", "")
    total, free = mem["total"] / 2**20, mem["available"] / 2**20
    status = "WARN" if free / total < 0.1 else "OK"
    return Fact("memory", status, f"{free:,.0f} MiB available of {total:,.0f} MiB", "close other programs" if status != "OK" else "")


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


def uptime() -> Fact:
    system = host.uptime_s()
    kiosk = time.monotonic() - STARTED
    return Fact("uptime", "OK", f"system {_duration(system if system is not None else -1.0)}, kiosk process {_duration(kiosk)}")


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
