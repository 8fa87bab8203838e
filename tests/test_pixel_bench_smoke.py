"""benchmarks/bench_pixel_step.py builds each method as a run does and prints its rows (no
timing is asserted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("torch")

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_pixel_step.py"


@pytest.mark.slow
def test_bench_pixel_step_quick(capsys, one_torch_thread):
    spec = importlib.util.spec_from_file_location("bench_pixel_step", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--methods", "pixel,hashnet", "--rounds", "1", "--steps", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert set(rows) == {"pixel", "hashnet"} and float(rows["pixel"][-1]) == 1.0
    assert all(float(row[1]) > 0 for row in rows.values())
