"""The evaluation benchmark runs end to end at small size and its agreement checks hold.

No timing assertions: timings depend on the machine; only correctness is checked here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_evaluation.py"


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("bench_evaluation", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_evaluation_quick(capsys: pytest.CaptureFixture[str]) -> None:
    status = _load_benchmark().main(["--quick", "--device", "cpu"])
    output = capsys.readouterr().out
    assert status == 0, output
    assert "agrees with the reference to 1e-12: yes" in output
    assert " NO " not in output and "NO (" not in output
    for policy in ("expected (exact)", "random, seeds 0-4", "index, database in class order"):
        assert policy in output
