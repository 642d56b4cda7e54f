"""Service-level objectives of a soak: each target with a verdict and by how much.

The targets live in the config's ``[slo]`` section (so a fleet states its objectives
once, beside the rest of the device's settings); the soak measures, this module judges.
A target whose figure was not measured (no LLM answers, no temperature sensor) is
reported as ``met: None`` with the reason, never silently passed.
"""

from __future__ import annotations

from typing import Any

# name in [slo] -> (what it is compared with in the stats, unit, label)
TARGETS: dict[str, tuple[str, str, str]] = {
    "ttft_p95_ms": ("ttft_ms.p95", "ms", "p95 time to first shown word"),
    "itl_p95_ms": ("itl_ms.p95", "ms", "p95 inter-token latency (first 64 tokens)"),
    "e2e_p95_ms": ("e2e_ms.p95", "ms", "p95 end-to-end (question in to answer done)"),
    "max_error_rate": ("error_rate", "", "share of questions that ended in an error"),
    "max_temp_c": ("temp_c_max", "°C", "highest CPU temperature"),
}


def _lookup(stats: dict[str, Any], path: str) -> float | None:
    value: Any = stats
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def slo_verdicts(slo: Any, stats: dict[str, Any], temp_max: float | None) -> list[dict[str, Any]]:
    out = []
    for name, (path, unit, label) in TARGETS.items():
        target = float(getattr(slo, name))
        value = temp_max if name == "max_temp_c" else _lookup(stats, path)
        row: dict[str, Any] = {"name": name, "label": label, "unit": unit, "target": target, "value": value}
        if value is None:
            row.update(met=None, by=None, note="not measured on this host" if name == "max_temp_c"
                       else "no data in this run")
        else:
            row.update(met=value <= target, by=round(value - target, 4))
        out.append(row)
    return out


def verdict(row: dict[str, Any]) -> str:
    return "not measured" if row["met"] is None else "met" if row["met"] else "missed"


def verdict_words(rows: list[dict[str, Any]]) -> dict[str, str]:
    return {row["name"]: verdict(row) for row in rows}
