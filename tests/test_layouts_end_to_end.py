"""Each published layout through the whole CLI: fixture on disk → run → record → report.

The fixtures are tiny data sets in the real on-disk formats (CIFAR-10 pickles, AWA2 JPEG folders)
made by the layout tests; a user's data-set file gives them protocol numbers that fit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_runner import run_zshbench as zshbench
from test_datasets_awa2 import CLASSES as AWA2_CLASSES
from test_datasets_awa2 import TEST as AWA2_UNSEEN
from test_datasets_awa2 import make_awa2
from test_datasets_cifar10 import make_cifar


def _protocol_file(path: Path, name: str, loader: str, classes: int, seen: int, extra="") -> Path:
    path.write_text(
        f'name = "{name}"\ntitle = "{name} fixture"\nloader = "{loader}"\n'
        f'num_classes = {classes}\ndefault_split = "random-0"\n{extra}\n[protocol]\n'
        f"num_seen = {seen}\nnum_unseen = {classes - seen}\ntrain_per_seen_class = 1\n"
        "query_per_unseen_class = 1\nvalidation_classes = 0\n"
    )
    return path


def _only_record(results: Path) -> dict:
    (path,) = results.rglob("bits*-seed*.json")
    return json.loads(path.read_text())


def test_cifar10_batches_through_the_cli(tmp_path):
    make_cifar(tmp_path / "data")
    spec = _protocol_file(tmp_path / "tiny-cifar.toml", "tiny-cifar", "cifar10", 10, 8)
    done = zshbench(
        "run", "--method", "lsh", "--dataset", str(spec), "--bits", "8",
        "--data-root", str(tmp_path / "data"), "--results", "r", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    record = _only_record(tmp_path / "r")
    split = record["split"]
    assert split["num_train"] == 8 and split["num_query"] == 2
    assert split["num_train"] + split["num_query"] + split["num_database"] == 36
    assert 0.0 <= record["metrics"]["map@5000"] <= 1.0


@pytest.mark.slow
def test_awa2_jpeg_folders_through_the_cli(tmp_path):
    make_awa2(tmp_path / "data")
    spec = _protocol_file(
        tmp_path / "tiny-awa2.toml", "tiny-awa2", "awa2", len(AWA2_CLASSES),
        len(AWA2_CLASSES) - len(AWA2_UNSEEN), extra='[named_splits]\nstandard = ["standard"]\n',
    )  # fmt: skip
    done = zshbench(
        "run", "--method", "itq", "--dataset", str(spec), "--bits", "2", "--split", "standard",
        "--data-root", str(tmp_path / "data"), "--results", "r",
        "-o", 'extractor_options={"size": 8}', cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    record = _only_record(tmp_path / "r")
    assert record["split"]["unseen_classes"] == sorted(AWA2_UNSEEN, key=AWA2_CLASSES.index)
    assert record["config"]["extractor_options"] == {"size": 8}
    report = zshbench("report", "--results", "r", "--format", "csv", cwd=tmp_path)
    assert report.returncode == 0 and "tiny-awa2" in report.stdout
