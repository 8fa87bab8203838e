"""Result records are written atomically; report aggregates them correctly."""

from __future__ import annotations

import json
import os

import pytest

from zshbench import results
from zshbench.errors import ZshbenchError
from zshbench.report import records_frame, render, summarise


def _record(dataset="digits", method="itq", bits=16, seed=0, value=0.5, ties="expected"):
    return {
        "method": method,
        "run_name": method,
        "dataset": dataset,
        "split": {"id": "random-0-abc", "name": "random-0"},
        "bits": bits,
        "seed": seed,
        "tie_policy": ties,
        "topk": 5000,
        "metrics": {"map@5000": value},
        "curves": {},
        "timings": {"fit_s": 1.0},
    }


def _write(tmp_path, **kwargs):
    record = _record(**kwargs)
    path = results.record_path(
        tmp_path,
        record["dataset"],
        record["split"]["id"],
        record["run_name"],
        record["bits"],
        record["seed"],
    )
    results.write_record(path, record)
    return path


def test_atomic_write_keeps_old_record_when_the_write_fails(tmp_path, monkeypatch):
    path = _write(tmp_path, value=0.25)
    before = path.read_text()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        results.write_record(path, _record(value=0.99))
    assert path.read_text() == before
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left


def test_unreadable_record_is_skipped_with_a_warning(tmp_path):
    _write(tmp_path, value=0.5)
    bad = tmp_path / "digits" / "x" / "itq" / "bits8-seed0.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{ half-written")
    with pytest.warns(UserWarning, match="unreadable"):
        rows = list(results.iter_records(tmp_path))
    assert len(rows) == 1


def test_mean_and_sample_std_over_seeds(tmp_path):
    for seed, value in enumerate([0.5, 0.6, 0.7]):
        _write(tmp_path, seed=seed, value=value)
    _write(tmp_path, method="lsh", value=0.2)
    summary = summarise(records_frame(tmp_path)).set_index("method")
    # mean of 0.5, 0.6, 0.7 = 0.6; sample std = sqrt(((-.1)^2 + 0 + .1^2) / 2) = 0.1
    assert summary.loc["itq", "mean"] == pytest.approx(0.6)
    assert summary.loc["itq", "std"] == pytest.approx(0.1)
    assert summary.loc["itq", "n"] == 3
    assert summary.loc["lsh", "std"] == 0.0
    markdown = render(tmp_path, "markdown")
    assert "**60.00 ± 10.00**" in markdown and "| lsh " in markdown and "20.00" in markdown


def test_tie_policies_are_never_averaged_together(tmp_path):
    _write(tmp_path, value=0.5, ties="expected")
    _write(tmp_path, seed=1, value=0.9, ties="index")
    text = render(tmp_path, "markdown")
    assert text.count("###") == 2 and "ties: expected" in text and "ties: index" in text


def test_paper_values_beside_measured_ones(tmp_path):
    _write(tmp_path, dataset="cub", bits=24, value=0.3)
    text = render(tmp_path, "markdown", paper=True)
    assert "RAZH (paper)" in text
    latex = render(tmp_path, "latex")
    assert "\\begin{tabular}" in latex
    csv = render(tmp_path, "csv")
    assert csv.splitlines()[0] == "dataset,split,ties,metric,method,bits,mean,std,n"


def test_report_without_records_says_what_to_do(tmp_path):
    with pytest.raises(ZshbenchError, match="zshbench run"):
        render(tmp_path, "markdown")


def test_record_carries_schema(tmp_path):
    path = _write(tmp_path)
    assert json.loads(path.read_text())["schema"] == results.SCHEMA_VERSION


def test_leaderboard_title_gives_the_chance_level(tmp_path):
    for seed in (0, 1):
        record = _record(seed=seed, value=0.4)
        record["metrics"]["chance_map"] = 0.1167
        path = results.record_path(tmp_path, "digits", "random-0-abc", "itq", 16, seed)
        results.write_record(path, record)
    text = render(tmp_path, "markdown")
    assert "chance level 11.67 (every code tied)" in text


def test_a_hashed_run_name_is_explained_by_its_options(tmp_path):
    record = _record(method="razh")
    record["run_name"] = "razh@1a2b3c4d"
    record["options"] = {"losses": "cls+h"}
    path = results.record_path(tmp_path, "digits", "random-0-abc", "razh@1a2b3c4d", 16, 0)
    results.write_record(path, record)
    text = render(tmp_path, "markdown")
    assert 'razh@1a2b3c4d: {"losses": "cls+h"}' in text
