"""Issue 18: mAP reads in percent wherever a person reads it (run lines, per-epoch lines), and the
chosen epoch's mAP says it is a moving average. The CSV's unit is tested in
test_results_report.py (``mean_pct``/``std_pct``)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from tests.cli_runner import run_zshbench


def test_the_run_line_gives_map_in_percent(tmp_path):
    done = run_zshbench(
        "run", "--method", "lsh", "--dataset", "digits", "--bits", "8", "--seeds", "0",
        "--results", "r", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [path] = (tmp_path / "r").rglob("bits8-seed0.json")
    record = json.loads(path.read_text())
    value = record["metrics"][record.get("map_key", "map@5000")]
    assert 0 < value < 1  # stored as a fraction; shown ×100 with a % sign
    assert f"= {100 * value:.2f} %" in done.stdout + done.stderr


def test_an_epoch_line_gives_validation_map_in_percent():
    pytest.importorskip("torch")
    from plugins.deep.engine import EpochStats, describe_epoch

    stats = EpochStats(epoch=3, seconds=2.0, images=400, losses={"cls": 0.5}, validation_map=0.1234)
    line = describe_epoch("razh 16 bits", stats, 30)
    assert line.endswith("seen-class validation mAP 12.34 %")
    assert "0.1234" not in line


def test_the_chosen_epoch_line_says_percent_and_moving_average():
    pytest.importorskip("torch")
    from plugins.deep.engine import TrainResult
    from plugins.deep.method import DeepHashingMethod

    lines = []
    context = SimpleNamespace(progress=SimpleNamespace(log=lines.append))
    method = SimpleNamespace(display_name="razh", bits=16)
    chosen = TrainResult(best_epoch=6, best_validation_map=0.4567)
    DeepHashingMethod._log_outcome(method, chosen, 0.981, context)
    [line] = lines
    assert "epoch 6 chosen" in line and "validation mAP 45.67 %" in line
    assert "moving average" in line
