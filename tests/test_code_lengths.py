"""A code length a method cannot give is refused before anything trains.

ITQ needs one principal direction per bit: on digits (8×8 grayscale, 64 pixels; 400 training
images in split random-0) it gives at most 64 bits. ``--bits 24,48,64,128`` used to fail only
after 24, 48 and 64 had trained; now it is one line and no record is written.
"""

from __future__ import annotations

import pytest
from cli_runner import REPO_ROOT, launch_env, run_zshbench

from plugins.features.image_extractors import PixelExtractor


@pytest.mark.parametrize(
    "shape, options, dim",
    [
        ((8, 8, 1), {}, 64),  # digits
        ((32, 32, 3), {}, 3072),  # CIFAR-10
        ((32, 32, 3), {"grayscale": True}, 1024),
        ((32, 32, 4), {"size": 16}, 16 * 16 * 3),  # alpha dropped
        (None, {}, None),  # files of differing sizes: not known up front
        (None, {"size": 10, "grayscale": True}, 100),
    ],
)
def test_pixel_feature_dimension_without_computing_features(shape, options, dim):
    assert PixelExtractor(**options).output_dim(shape) == dim


def _records(results):
    return sorted(p.name for p in results.rglob("bits*.json"))


@pytest.mark.parametrize(
    "methods, launcher",
    [("itq", []), ("lsh,itq", []), ("pca-rot", []), ("lsh,itq", ["--launcher", "local"])],
)
def test_too_long_code_refused_before_any_fit(tmp_path, methods, launcher):
    results = tmp_path / "results"
    done = run_zshbench(
        "run", "--method", methods, "--dataset", "digits", "--bits", "24,48,64,128",
        "--results", str(results), *launcher, cwd=REPO_ROOT, env=launch_env(),
    )  # fmt: skip
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("zshbench: error:")]
    assert len(errors) == 1
    name = methods.split(",")[-1]
    assert f"{name} can give at most 64 bits here" in errors[0] and "not 128" in errors[0]
    assert "Use --bits 24,48,64 or an extractor with more dimensions" in errors[0]
    assert _records(results) == []  # lsh's 24 bits did not train either
    assert not (results / ".jobs").exists()  # a launched sweep submits no job


def test_feasible_lengths_and_unlimited_methods_are_not_refused(tmp_path):
    results = tmp_path / "results"
    done = run_zshbench(
        "run", "--method", "itq", "--dataset", "digits", "--bits", "64",
        "-o", "iterations=1", "--results", str(results), cwd=REPO_ROOT, env=launch_env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert _records(results) == ["bits64-seed0.json"]
    done = run_zshbench(
        "run", "--method", "lsh", "--dataset", "digits", "--bits", "128",
        "--results", str(results), cwd=REPO_ROOT, env=launch_env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
