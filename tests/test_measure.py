"""The one percentile every bench reports with."""

from __future__ import annotations

import pytest


def test_one_percentile_for_every_bench():
    from kiosk.measure import percentile

    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(values, 50) == 3.0 and percentile(values, 0) == 1.0 and percentile(values, 100) == 5.0
    assert percentile(values, 95) == pytest.approx(4.8)  # interpolated, as statistics.quantiles does
    assert percentile([], 95) == 0.0 and percentile([7.0], 95) == 7.0
    with pytest.raises(ValueError):
        percentile(values, 101)
