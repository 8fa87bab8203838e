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


@pytest.mark.parametrize("method_name", ["itq", "pca-rot"])
def test_a_timm_extractor_too_narrow_is_told_to_pick_a_wider_model(method_name, monkeypatch):
    """Only fit knows a timm model's width; its hint must not suggest the extractor in use."""
    import numpy as np

    from plugins.linear.itq import ITQ
    from plugins.linear.pca_rot import PCARotation
    from zshbench.errors import ZshbenchError
    from zshbench.method import RunContext

    cls = {"itq": ITQ, "pca-rot": PCARotation}[method_name]
    method = cls(16, extractor="timm")
    monkeypatch.setattr(method, "fit_features", lambda data, context: np.ones((40, 8)))
    with pytest.raises(ZshbenchError) as error:
        method.fit(None, RunContext(seed=0))
    text = f"{error.value.message} {error.value.hint}"
    assert "only 8" in text and "at most 8 bits" in text
    assert "extractor=timm" not in text and "wider features" in text
