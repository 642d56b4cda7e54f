"""The log bench runs and reports both sides of its ratio (speed is measured, not asserted)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from kiosk.config import Config
from kiosk.store.bench import bench, format_table


def test_bench_reports_sealed_and_plain_rates(tmp_path):
    result = bench(argparse.Namespace(records=50, rounds=1, dir=str(tmp_path)), Config())
    assert result["records"] == 50
    for key in ("sealed_per_s", "plain_sqlite_utils_per_s", "raw_sqlite3_per_s"):
        assert result[key] > 0
    assert result["ratio_vs_plain"] == round(result["sealed_per_s"] / result["plain_sqlite_utils_per_s"], 3)
    assert "sealed / plain" in format_table(result)
    assert list(tmp_path.iterdir()) == []  # temporary databases and keys removed


def test_bench_runs_standalone_as_json():
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-m", "kiosk.store.bench", "--json", "--records", "20", "--rounds", "1"],
        cwd=root, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert json.loads(out.stdout)["records"] == 20
