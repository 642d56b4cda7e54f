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
from pathlib import Path
from typing import Any

from kiosk import host
from kiosk.config import Config
from kiosk.health import Check

STARTED = time.monotonic()


def cpu_temperature(root: Path | None = None) -> Check:
    temps = [(value, kind) for kind, value in host.cpu_temperatures(root)]
    if not temps:
        return Check("CPU temperature", "OK", "not available on this machine (no thermal zone)")
    value, kind = max(temps)
    status = "FAIL" if value >= 80 else "WARN" if value >= 70 else "OK"
    fix = "" if status == "OK" else "check the fan and the case's airflow (the Pi 5 throttles at 85 °C)"
    return Check("CPU temperature", status, f"{value:.1f} °C ({kind})", fix)


def throttling(reader: host.Throttling | None = None) -> Check:
    flags = (reader or host.Throttling()).read()
    if flags is None:
        return Check("throttling", "OK", "not a Raspberry Pi here (no vcgencmd): nothing to read")
    on = [f"{cond} {when}" for (cond, when), bit in flags.items() if bit]
    if not on:
        return Check("throttling", "OK", "never throttled since boot")
    return Check("throttling", "WARN", ", ".join(on), "use the official 27 W power supply; check cooling")


def memory() -> Check:
    mem = host.memory()
    if mem is None:
        return Check("memory", "WARN", "cannot read /proc/meminfo", "")
    total, free = mem["total"] / 2**20, mem["available"] / 2**20
    status = "WARN" if free / total < 0.1 else "OK"
    return Check("memory", status, f"{free:,.0f} MiB available of {total:,.0f} MiB", "close other programs" if status != "OK" else "")


def disk(path: Path) -> Check:
    folder = path
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    usage = shutil.disk_usage(folder)
    status = "WARN" if usage.free < 256 * 2**20 else "OK"
    return Check(
        "disk", status, f"{usage.free / 2**30:.1f} GiB free of {usage.total / 2**30:.1f} GiB at {folder}",
        "free space or lower [log] retention_days" if status != "OK" else "",
    )  # fmt: skip


def uptime() -> Check:
    system = host.uptime_s()
    kiosk = time.monotonic() - STARTED
    return Check("uptime", "OK", f"system {_duration(system if system is not None else -1.0)}, kiosk process {_duration(kiosk)}")


def _duration(seconds: float) -> str:
    if seconds < 0:
        return "unknown"
    d, rest = divmod(int(seconds), 86400)
    h, rest = divmod(rest, 3600)
    return f"{d}d {h}h {rest // 60}m" if d else f"{h}h {rest // 60}m {rest % 60}s"


def model(assistant: Any) -> Check:
    if assistant is None:
        return Check("model", "OK", "no assistant in this process")
    if assistant.llm is None:
        err = getattr(assistant, "llm_error", None)
        return Check("model", "WARN", f"none: answers from the knowledge only ({err.message if err else 'not loaded'})",
                    err.fix if err else "")  # fmt: skip
    return Check("model", "OK", f"{assistant.llm.name} loaded")


def telemetry(config: Config) -> list[Check]:
    """The telemetry outbox, when the telemetry area exists in this build."""
    try:
        module = importlib.import_module("kiosk.telemetry.health")
    except ImportError:
        return [Check("telemetry", "OK", "not configured (no telemetry in this build)")]
    try:
        return list(module.doctor_checks(config))
    except Exception as e:  # another area's bug must not blank this screen
        return [Check("telemetry", "WARN", f"telemetry status failed: {e}", "report this bug")]


def device_facts(config: Config, assistant: Any = None) -> list[Check]:
    return [cpu_temperature(), throttling(), memory(), disk(config.data_dir), uptime(), model(assistant)]


def all_facts(config: Config, assistant: Any = None) -> list[Check]:
    """Device facts, then every doctor check (engines, certificate days, log sink, ...)."""
    from kiosk import doctor

    facts = device_facts(config, assistant)
    facts += doctor.run_checks(config)  # every area's checks, telemetry's outbox among them
    return facts


def faults(facts: list[Check]) -> list[Check]:
    return [f for f in facts if f.status != "OK"]


def as_dicts(facts: list[Check]) -> list[dict[str, str]]:
    return [f.to_dict() for f in facts]


def doctor_checks(config: Config) -> list[Check]:
    from kiosk.errors import KioskError
    from kiosk.maint.gate import PinGate

    try:
        gate = PinGate(config)
    except KioskError as e:
        return [Check.from_error("maint", e)]
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
            rows.append(Check("maint lockout", "WARN", f"{state.failures} wrong PINs in a row: locked for {state.remaining_s:.0f} s",
                         "wait; someone may be guessing the PIN (see kiosk maint status)"))  # fmt: skip
        return rows
    finally:
        gate.lockout.close()
