"""Figures for the benchmarks: one percentile definition for every ``kiosk bench``.

``statistics.quantiles(..., method="inclusive")`` interpolates between samples, so a p95
of 20 latencies is comparable between benches and runs (the hand-rolled nearest-rank
versions it replaces each rounded the rank differently).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values``; 0.0 for no values."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    if not values:
        return 0.0
    if len(values) == 1 or q == 0:
        return float(min(values)) if q == 0 else float(values[0])
    if q == 100:
        return float(max(values))
    cuts = statistics.quantiles(values, n=1000, method="inclusive")  # 999 cut points
    return float(cuts[round(q * 10) - 1])
