"""RAZH on the real cub-mini64 birds with the paper's GloVe attribute vectors (../shared)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from zshbench import runner


@pytest.mark.slow
def test_razh_on_cub_mini64_with_glove_vectors(tmp_path, shared_data):
    """One short epoch on real images; the 312 GloVe rows are the AEM's attribute vectors."""
    vectors = shared_data / "word-vectors" / "cub_attributes_glove300.npy"
    request = runner.RunRequest(
        method="razh",
        dataset="cub-mini64",
        bits=[24],
        seeds=[0],
        data_root=str(shared_data / "cub-mini64"),
        results_dir=tmp_path,
        encoder="vectors-file",
        encoder_options={"path": str(vectors)},
        options={"epochs": 1, "pretrain_epochs": 0, "diagnostics": 1},
    )
    [path] = runner.run(request)
    record = json.loads(path.read_text())
    assert record["encoder"] == "vectors-file"
    assert record["artifacts"] == ["attribute-matches.png"]
    resolved = record["config"]["resolved"]
    assert (resolved["img_size"], resolved["patch_size"]) == (32, 8)  # CPU scale: at most 32 px
    # cub-mini64 takes CUB's row of the paper's Table VIII at 24 bits
    assert (resolved["alpha"], resolved["beta"]) == (1.0, 0.5)
    training = record["config"]["training"]
    assert training["best_epoch"] == 1
    assert 0.0 <= training["best_validation_map"] <= 1.0
    assert np.isfinite(list(training["final_losses"].values())).all()
    # T^(i): every seen class has attributes above the matrix mean, and the GloVe rows fit
    assert np.load(vectors).shape == (312, 300)
