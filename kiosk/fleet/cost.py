"""The 3-year cost model: N kiosks on the edge beside a cloud endpoint, from named inputs.

Why a model in code rather than a spreadsheet: the number of devices a fleet needs comes
from the soak's measured capacity (answers per day one device sustains within its SLOs),
so the two must be computed together, and every input must be a named, editable value
whose default says where it came from (``assets/bench/cost-defaults.toml``). An inputs
file overrides any subset of the defaults; an unknown key is an error naming it, because
a misspelt input otherwise silently costs the default.

All money is in one currency (the defaults are US dollars, as published). Totals are over
``workload.years``:

- edge   = capex (device cost x devices x years / device life) + power + connectivity
           (per device per year) + operations (FTE x cost per FTE-year) + extras per year
- cloud  = compute (tokens x price per token + GPUs x hours per day x days x price per
           hour) + operations + extras per year
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from kiosk import paths
from kiosk.errors import ConfigError

DEFAULTS_PATH = paths.ASSETS_DIR / "bench" / "cost-defaults.toml"
WORKED_EXAMPLE_PATH = paths.ASSETS_DIR / "bench" / "cost-worked-example.toml"
DAYS_PER_YEAR = 365


@dataclass
class Workload:
    requests_per_day: float
    tokens_per_request: float
    years: float


@dataclass
class Edge:
    devices: int
    """Kiosks in the fleet; 0 means: as many as the measured capacity needs."""
    device_cost: float
    device_life_years: float
    power_per_device_year: float
    """Used as given when above 0; otherwise power_watts x hours x tariff."""
    power_watts: float
    tariff_per_kwh: float
    connectivity_per_device_year: float
    ops_fte: float
    fte_cost_per_year: float
    extras_per_year: float
    capacity_answers_per_day: float
    """Answers per day one device sustains within its SLOs (from `kiosk bench soak`)."""


@dataclass
class Cloud:
    price_per_token: float
    gpus: float
    gpu_hours_per_day: float
    gpu_price_per_hour: float
    ops_fte: float
    fte_cost_per_year: float
    extras_per_year: float


@dataclass
class CostInputs:
    workload: Workload
    edge: Edge
    cloud: Cloud


_SECTIONS: dict[str, type] = {"workload": Workload, "edge": Edge, "cloud": Cloud}


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError as e:
        raise ConfigError("cost.inputs-missing", f"cost inputs file {path} does not exist",
                          "give an existing TOML file to --inputs") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("cost.inputs-invalid", f"cost inputs file {path} is not valid TOML: {e}",
                          "fix the TOML syntax at the line named") from e


def load_inputs(path: str | Path | None = None, overrides: dict[str, dict[str, Any]] | None = None) -> CostInputs:
    """The defaults, overridden by ``path`` (any subset of keys), then by ``overrides``."""
    merged = _read(DEFAULTS_PATH)
    layers = [(_read(Path(path)), str(path))] if path else []
    if overrides:
        layers.append((overrides, "overrides"))
    for layer, source in layers:
        for section, values in layer.items():
            if section not in _SECTIONS or not isinstance(values, dict):
                raise ConfigError("cost.unknown-key", f"unknown section [{section}] in {source}",
                                  f"use only {', '.join(f'[{s}]' for s in _SECTIONS)}")
            known = {f.name for f in fields(_SECTIONS[section])}
            for key, value in values.items():
                if key not in known:
                    raise ConfigError("cost.unknown-key", f"unknown key {section}.{key} in {source}",
                                      f"known keys in [{section}]: {', '.join(sorted(known))}")
                if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                        or value < 0:
                    raise ConfigError("cost.bad-value", f"{section}.{key} = {value!r} in {source} is not a number >= 0",
                                      "give a plain non-negative number")
                merged[section][key] = value
    built = {}
    for section, cls in _SECTIONS.items():
        values = merged.get(section, {})
        missing = [f.name for f in fields(cls) if f.name not in values]
        if missing:
            raise ConfigError("cost.defaults-incomplete", f"{DEFAULTS_PATH} lacks {section}.{missing[0]}",
                              "restore the shipped defaults file")
        built[section] = cls(**{f.name: (int(values[f.name]) if f.type == "int" else float(values[f.name]))
                                for f in fields(cls)})
    inputs = CostInputs(**built)
    if inputs.workload.years <= 0 or inputs.edge.device_life_years <= 0:
        raise ConfigError("cost.bad-value", "workload.years and edge.device_life_years must be above 0",
                          "give the horizon and the device life in years")
    return inputs


def _edge_total(e: Edge, devices: int, years: float) -> dict[str, float]:
    power = e.power_per_device_year if e.power_per_device_year > 0 else \
        e.power_watts * 24 * DAYS_PER_YEAR / 1000 * e.tariff_per_kwh
    parts = {
        "edge_capex": e.device_cost * devices * years / e.device_life_years,
        "edge_power": power * devices * years,
        "edge_connectivity": e.connectivity_per_device_year * devices * years,
        "edge_ops": e.ops_fte * e.fte_cost_per_year * years,
        "edge_extras": e.extras_per_year * years,
    }
    parts["edge_total"] = sum(parts.values())
    return parts


def _cloud_total(c: Cloud, tokens: float, years: float) -> dict[str, float]:
    compute = tokens * c.price_per_token + c.gpus * c.gpu_hours_per_day * DAYS_PER_YEAR * years * c.gpu_price_per_hour
    parts = {
        "cloud_compute": compute,
        "cloud_ops": c.ops_fte * c.fte_cost_per_year * years,
        "cloud_extras": c.extras_per_year * years,
    }
    parts["cloud_total"] = sum(parts.values())
    return parts


def devices_needed(inputs: CostInputs, requests_per_day: float | None = None) -> int:
    """Configured devices, or as many as the measured capacity needs for the request rate."""
    e = inputs.edge
    rate = inputs.workload.requests_per_day if requests_per_day is None else requests_per_day
    if e.devices > 0:
        return e.devices
    if e.capacity_answers_per_day <= 0:
        raise ConfigError("cost.no-capacity", "edge.devices is 0 but no measured capacity was given",
                          "set edge.devices, or pass --soak DIR from a `kiosk bench soak` run")
    return max(1, math.ceil(rate / e.capacity_answers_per_day))


def _totals_at(inputs: CostInputs, rate: float) -> tuple[float, float]:
    w = inputs.workload
    tokens = rate * w.tokens_per_request * DAYS_PER_YEAR * w.years
    edge = _edge_total(inputs.edge, devices_needed(inputs, rate), w.years)["edge_total"]
    return edge, _cloud_total(inputs.cloud, tokens, w.years)["cloud_total"]


def break_even_rate(inputs: CostInputs) -> float | None:
    """Requests per day above which the edge fleet costs less than the cloud, or None.

    Cloud cost grows linearly with the rate; edge cost is flat for fixed devices and a
    step per device otherwise, so the crossing is found segment by segment.
    """
    w, c = inputs.workload, inputs.cloud
    per_request = w.tokens_per_request * DAYS_PER_YEAR * w.years * c.price_per_token
    cloud_fixed = _cloud_total(c, 0.0, w.years)["cloud_total"]
    if per_request <= 0:
        return None
    cap = inputs.edge.capacity_answers_per_day if inputs.edge.devices <= 0 else math.inf
    low = 0.0
    for devices in range(1, 100_000):
        high = devices * cap
        edge = _edge_total(inputs.edge, inputs.edge.devices if inputs.edge.devices > 0 else devices,
                           w.years)["edge_total"]
        crossing = (edge - cloud_fixed) / per_request
        if crossing <= low:
            return round(low, 1)
        if crossing <= high:
            return round(crossing, 1)
        if math.isinf(high):
            return None
        low = high
    return None


def compute(inputs: CostInputs) -> dict[str, Any]:
    w = inputs.workload
    devices = devices_needed(inputs)
    requests = w.requests_per_day * DAYS_PER_YEAR * w.years
    tokens = requests * w.tokens_per_request
    out: dict[str, Any] = {
        "years": w.years,
        "requests_per_day": w.requests_per_day,
        "requests_total": requests,
        "tokens_total": tokens,
        "devices": devices,
        "devices_from": "measured capacity" if inputs.edge.devices <= 0 else "inputs",
        "capacity_answers_per_day": inputs.edge.capacity_answers_per_day or None,
    }
    out.update(_edge_total(inputs.edge, devices, w.years))
    out.update(_cloud_total(inputs.cloud, tokens, w.years))
    out["edge_saves"] = out["cloud_total"] - out["edge_total"]
    out["cheaper"] = "edge" if out["edge_total"] < out["cloud_total"] else "cloud"
    out["edge_per_1000_answers"] = out["edge_total"] / requests * 1000 if requests else None
    out["cloud_per_1000_answers"] = out["cloud_total"] / requests * 1000 if requests else None
    out["break_even_requests_per_day"] = break_even_rate(inputs)
    return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in out.items()}


def describe_inputs(inputs: CostInputs) -> dict[str, dict[str, float]]:
    return {name: {f.name: getattr(getattr(inputs, name), f.name) for f in fields(cls)}
            for name, cls in _SECTIONS.items()}


def bench_cost(args: Any, config: Any) -> dict[str, Any]:
    """``kiosk bench cost [--inputs FILE] [--soak DIR]``: the model, optionally sized by a soak."""
    overrides = None
    soak_dir = getattr(args, "soak", None)
    if soak_dir:
        from kiosk.fleet.report import read_soak

        _, summary = read_soak(Path(soak_dir))
        per_day = ((summary or {}).get("capacity") or {}).get("answers_per_day") or 0
        if not per_day:
            raise ConfigError("cost.no-capacity", f"the soak in {soak_dir} has no capacity within its SLOs",
                              "loosen [slo] or check the soak's report; or drop --soak and set edge.devices")
        overrides = {"edge": {"devices": 0, "capacity_answers_per_day": float(per_day)}}
    inputs = load_inputs(getattr(args, "inputs", None), overrides)
    out = compute(inputs)
    out["inputs"] = describe_inputs(inputs)
    return out
