"""``kiosk doctor`` rows for the LLM backends: each configured backend's state, model
and measured latency (a health round trip, and the time to a first token of a
one-token answer), and whether the cloud fallback may be used."""

from __future__ import annotations

import threading
import time

from kiosk.config import Config
from kiosk.errors import KioskError
from kiosk.health import Check
from kiosk.llm.backend import GenerationRequest
from kiosk.llm.factory import build_one, is_loopback, section, strict


def _ttft_ms(backend) -> float | None:
    start = time.perf_counter()
    for _ in backend.stream(GenerationRequest(prompt="Hello", max_tokens=1, temperature=0.0), threading.Event()):
        return round((time.perf_counter() - start) * 1000, 1)
    return None


def _remote(name: str, cfg: Config, role: str, alone: bool) -> tuple[str, str, str, str]:
    b = section(cfg, name)
    label = f"llm {name}"
    if strict(cfg) and not is_loopback(b.url):
        return (label, "WARN", f"{role}: not used, {b.url} is off this device and [privacy] mode is strict",
                'use a loopback url, or set [privacy] mode = "standard"')  # fmt: skip
    down = "FAIL" if alone else "WARN"
    try:
        backend = build_one(name, b, cfg)
        info = backend.info()  # type: ignore[attr-defined]
    except KioskError as e:
        return label, down, f"{role}: {b.kind} at {b.url}: {e.message}", e.fix
    detail = f"{role}: {backend.describe()}, health {info['latency_ms']} ms"  # type: ignore[attr-defined]
    if "version" in info:
        detail += f", server {info['version']}"
    if not info["model_present"]:
        shown = ", ".join(info["models"][:5]) or "none"
        return label, down, f"{detail}; model {b.model!r} not on the server (has: {shown})", (
            f"install the model on the server, or set llm.backend.{name}.model")
    ctx = info.get("context_length")
    if ctx and b.n_ctx > ctx:
        return label, "WARN", f"{detail}; n_ctx {b.n_ctx} is above the model's {ctx}", f"set llm.backend.{name}.n_ctx = {ctx}"
    try:
        ttft = _ttft_ms(backend)
    except KioskError as e:
        return label, down, f"{detail}; a test answer failed: {e.message}", e.fix
    finally:
        backend.client.close()  # type: ignore[attr-defined]
    objective = f" (objective {b.ttft_objective_ms:g} ms)" if b.ttft_objective_ms else ""
    return label, "OK", f"{detail}, first token {ttft} ms{objective}", ""


def doctor_checks(cfg: Config) -> list[Check]:
    rows = []
    names = cfg.llm.backends
    for i, name in enumerate(names):
        role = f"backend {i + 1} of {len(names)}"
        b = section(cfg, name)
        if b.kind == "llama.cpp":
            model = b.model or cfg.llm.model
            rows.append((f"llm {name}", "OK", f"{role}: llama.cpp {model} on the CPU (see the model check)", ""))
            continue
        rows.append(_remote(name, cfg, role, alone=len(names) == 1))
    if not cfg.llm.cloud:
        rows.append(("llm cloud", "OK", "online fallback off (the default): answers never leave the device", ""))
    elif strict(cfg):
        rows.append(("llm cloud", "OK", f"online fallback {cfg.llm.cloud!r} configured but off: privacy mode strict", ""))
    else:
        _, status, detail, fix = _remote(cfg.llm.cloud, cfg, "online fallback (opt-in)", alone=False)
        rows.append(("llm cloud", status, detail, fix))
    return [Check(*row) for row in rows]
