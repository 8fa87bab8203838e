"""Studies (zshbench/studies.py): a paper table as a grid of runs, printed beside the paper.

A small study of LSH and ITQ rows on digits (fast linear methods) with a reference CSV of our
own: every row becomes the records ``zshbench run`` writes, a second run reuses them, and the
table's cells are the mean ± std of those records (recomputed here from the JSON files), with
the reference values beside them. RAZH's three registered studies are listed by the CLI.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from cli_runner import run_zshbench

from zshbench.registry import StudySpec
from zshbench.runner import RunRequest, default_run_name
from zshbench.studies import paper_dataset, reference_rows, run_study, study_table


@pytest.fixture
def reference_package(tmp_path, monkeypatch):
    """A package ``study_ref`` holding ``table.csv`` (the "paper's" values), importable."""
    package = tmp_path / "pkgs" / "study_ref"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "table.csv").write_text(
        "method,dataset,bits,map_at_5000_percent\n"
        "LSH,digits,16,11.11\nLSH,digits,32,22.22\nITQ,digits,16,33.33\nITQ,other,16,1.0\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
    sys.modules.pop("study_ref", None)
    return "study_ref:table.csv"


def spec(reference: str) -> StudySpec:
    return StudySpec(
        "tiny-study",
        "A tiny study",
        (("LSH", "lsh", {}), ("ITQ", "itq", {"iterations": 5})),
        bits=(16, 32),
        reference=reference,
    )


@pytest.mark.slow
def test_study_runs_every_row_and_prints_it_beside_the_paper(tmp_path, reference_package):
    study = spec(reference_package)
    template = RunRequest(
        method="", dataset="digits", bits=[16, 32], seeds=[0, 1], results_dir=tmp_path / "r"
    )
    paths = run_study(study, template)
    assert set(paths) == {"LSH", "ITQ"} and all(len(p) == 4 for p in paths.values())
    # the rows are ordinary run records: LSH under its own name, ITQ with non-default options
    # under the name `zshbench run --method itq -o iterations=5` gives it
    assert {p.parent.name for p in paths["LSH"]} == {"lsh"}
    assert {p.parent.name for p in paths["ITQ"]} == {default_run_name("itq", {"iterations": 5})}

    header, rows, caption = study_table(study, paths, "digits")
    assert header == ["row", "16 bits", "paper digits 16", "32 bits", "paper digits 32"]
    assert [row[0] for row in rows] == ["LSH", "ITQ"]
    for row in rows:
        for column, bits in ((1, 16), (3, 32)):
            scores = [
                json.loads(p.read_text())["metrics"]["map@5000"]
                for p in paths[row[0]]
                if json.loads(p.read_text())["bits"] == bits
            ]
            mean, std = 100 * np.mean(scores), 100 * np.std(scores, ddof=1)
            assert row[column] == f"{mean:.2f} ± {std:.2f} (n=2)"
    assert rows[0][2] == "11.11" and rows[0][4] == "22.22"
    assert rows[1][2] == "33.33" and rows[1][4] == ""  # the paper has no such cell
    chance = json.loads(paths["LSH"][0].read_text())["metrics"]["chance_map"]
    assert f"chance level {100 * chance:.2f}" in caption

    # a second run reuses every record (nothing is trained again)
    stamps = {p: p.stat().st_mtime_ns for row in paths.values() for p in row}
    again = run_study(study, template)
    assert {p: p.stat().st_mtime_ns for row in again.values() for p in row} == stamps


def test_paper_data_set_is_itself_or_its_prefix(reference_package):
    rows = reference_rows(spec(reference_package))
    assert paper_dataset("digits", rows) == "digits"
    assert paper_dataset("digits-small", rows) == "digits"
    assert paper_dataset("cub-mini64", rows) is None


@pytest.mark.slow
def test_cli_lists_razh_studies_and_refuses_an_unknown_one(tmp_path):
    listed = run_zshbench("list", "studies", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    for name in ("razh-table4", "razh-table5", "razh-table6"):
        assert name in listed.stdout
    unknown = run_zshbench("study", "no-such-study", "--dataset", "digits", cwd=tmp_path)
    assert unknown.returncode == 2
    assert unknown.stderr.count("\n") == 1 and "unknown study 'no-such-study'" in unknown.stderr
