"""The command line end to end on the embedded digits data set, and its one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_runner import run_zshbench as zshbench


@pytest.fixture(scope="module")
def digits_results(tmp_path_factory) -> Path:
    """ITQ and LSH on digits, 2 code lengths × 2 seeds: the README's main job, smaller."""
    root = tmp_path_factory.mktemp("cli")
    for method in ("itq", "lsh"):
        done = zshbench(
            "run",
            "--method",
            method,
            "--dataset",
            "digits",
            "--bits",
            "16,32",
            "--seeds",
            "0,1",
            "--results",
            "results",
            cwd=root,
        )
        assert done.returncode == 0, done.stderr
    return root


def test_run_writes_one_record_per_bits_and_seed(digits_results):
    records = sorted((digits_results / "results").rglob("bits*-seed*.json"))
    assert len(records) == 8
    record = json.loads(records[0].read_text())
    for key in ("split", "tie_policy", "environment", "timings", "config", "curves", "seed"):
        assert key in record
    assert record["split"]["num_train"] == 400 and record["split"]["num_query"] == 60
    assert record["split"]["num_database"] == 1337
    assert record["tie_policy"] == "expected"
    manifests = list((digits_results / "results" / "digits" / "splits").glob("*.json"))
    assert [m.stem for m in manifests] == [record["split"]["id"]]


def test_rerun_skips_finished_records_and_overwrite_redoes_them(digits_results):
    record = next((digits_results / "results").rglob("itq/bits16-seed0.json"))
    stamp = record.stat().st_mtime_ns
    rerun = (
        "run",
        "--method",
        "itq",
        "--dataset",
        "digits",
        "--bits",
        "16",
        "--results",
        "results",
    )
    again = zshbench(*rerun, cwd=digits_results)
    assert again.returncode == 0 and record.stat().st_mtime_ns == stamp
    redo = zshbench(*rerun, "--overwrite", cwd=digits_results)
    assert redo.returncode == 0 and record.stat().st_mtime_ns != stamp


def test_report_and_plot(digits_results):
    for fmt in ("terminal", "markdown", "latex", "csv"):
        done = zshbench("report", "--format", fmt, cwd=digits_results)
        assert done.returncode == 0, done.stderr
        assert "itq" in done.stdout and "lsh" in done.stdout
    plotted = zshbench("plot", cwd=digits_results)
    assert plotted.returncode == 0, plotted.stderr
    pngs = sorted((digits_results / "results" / "plots").glob("*.png"))
    assert len(pngs) == 3  # mAP vs bits + curves at 16 and 32 bits
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_itq_beats_lsh_on_digits(digits_results):
    """ITQ (learned rotation of PCA) is known to beat LSH (random hyperplanes) at short codes."""
    values: dict[str, list[float]] = {"itq": [], "lsh": []}
    for path in (digits_results / "results").rglob("bits16-seed*.json"):
        record = json.loads(path.read_text())
        values[record["method"]].append(record["metrics"]["map@5000"])
    assert np.mean(values["itq"]) > np.mean(values["lsh"])


def test_eval_json_on_codes_made_elsewhere(tmp_path):
    # 2 queries, 3 database items, 4 bits, codes in {0,1}; no ties, so every policy agrees.
    # query 0 = 1111 (label 0): db 1111 (d0, label 0: rel), 1110 (d1, label 2), 0000 (d4,
    # label 0: rel) -> relevance 1,0,1 -> AP = (1/1 + 2/3) / 2 = 5/6.
    # query 1 = 0000 (label 0): db 0000 (d0, rel), 1110 (d3), 1111 (d4, rel) -> AP = 5/6.
    path = tmp_path / "codes.npz"
    np.savez(
        path,
        query_codes=np.array([[1, 1, 1, 1], [0, 0, 0, 0]]),
        query_labels=np.array([0, 0]),
        db_codes=np.array([[1, 1, 1, 1], [0, 0, 0, 0], [1, 1, 1, 0]]),
        db_labels=np.array([0, 0, 2]),
    )
    done = zshbench("eval", str(path), "--topk", "all", "--ties", "index", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["map@all"] == pytest.approx(5 / 6)
    assert result["ties"] == "index" and result["num_queries"] == 2
    assert result["num_database"] == 3
    # top 2 only: query 0 keeps 1111, 1110 -> AP = 1/1 (R = 1); query 1 keeps 0000, 1110 -> 1
    done = zshbench("eval", str(path), "--topk", "2", "--json", cwd=tmp_path)
    assert json.loads(done.stdout)["map@2"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "--method", "itq", "--dataset", "digits", "--bits", "16,abc"], "bad bit list"),
        (["run", "--method", "itq", "--dataset", "digits", "--bits", "0"], "bad bit list"),
        (["run", "--method", "nope", "--dataset", "digits"], "unknown method 'nope'"),
        (["run", "--method", "itq", "--dataset", "nope"], "unknown data set 'nope'"),
        (
            ["run", "--method", "itq", "--dataset", "cub", "--data-root", "/no/such/dir"],
            "CUB_200_2011",
        ),
        (["run", "--method", "itq", "--dataset", "digits", "-o", "nonsense=1"], "no option"),
        (["eval", "missing.npz"], "missing.npz"),
        (["info", "nope"], "nothing is registered as 'nope'"),
    ],
)
def test_bad_input_gets_one_clear_line(tmp_path, args, expected):
    done = (
        zshbench(*args, "--results", "results", cwd=tmp_path)
        if args[0] == "run"
        else zshbench(*args, cwd=tmp_path)
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("zshbench: error: ") and expected in lines[0]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").rglob("bits*"))


def test_real_cub_mini64_with_a_users_own_protocol(shared_data, tmp_path):
    """A user's data-set file points the CUB layout at cub-mini64 with its own numbers."""
    own = tmp_path / "my-cub.toml"
    own.write_text(
        'name = "my-cub"\ntitle = "CUB 001-050, my protocol"\nloader = "cub"\n'
        'num_classes = 50\ndefault_split = "random-3"\n\n[protocol]\nnum_seen = 40\n'
        "num_unseen = 10\ntrain_per_seen_class = 20\nquery_per_unseen_class = 10\n"
        "validation_classes = 5\n"
    )
    done = zshbench(
        "run",
        "--method",
        "lsh",
        "--dataset",
        str(own),
        "--bits",
        "16",
        "--data-root",
        str(shared_data / "cub-mini64"),
        "--results",
        "r",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    record = json.loads(next((tmp_path / "r").rglob("bits16-seed0.json")).read_text())
    assert record["dataset"] == "my-cub" and record["split"]["name"] == "random-3"
    assert record["split"]["num_train"] == 40 * 20 and record["split"]["num_query"] == 10 * 10
    assert (
        record["split"]["num_train"]
        + record["split"]["num_query"]
        + record["split"]["num_database"]
        == 2889
    )


def test_info_shows_options_and_data_set_entries(tmp_path):
    method = zshbench("info", "itq", cwd=tmp_path)
    assert method.returncode == 0 and "iterations = 50" in method.stdout
    dataset = zshbench("info", "awa2", cwd=tmp_path)
    assert "'expected_database': 32322" in dataset.stdout
    assert "https://cvml.ista.ac.at/AwA2/" in dataset.stdout
    assert "named splits: proposed, standard" in dataset.stdout
