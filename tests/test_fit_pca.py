"""``fit_pca``'s scalable solver gives the exact PCA's subspace, and ITQ the same retrieval.

The exact reference is numpy's eigendecomposition of the covariance, written here; the solver
choice itself (randomized SVD above 500 × 500 when < 80 % of the directions are kept) is
scikit-learn's ``svd_solver="auto"``.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from sklearn.datasets import load_digits

import plugins.linear.itq as itq_module
from plugins.linear.itq import ITQ
from zshbench.datasets.base import ArrayImageSource
from zshbench.evaluation.metrics import mean_average_precision
from zshbench.features import fit_pca
from zshbench.method import ImageView, RunContext, TrainData


def exact_pca(x: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    centred = x - x.mean(axis=0)
    values, vectors = np.linalg.eigh(centred.T @ centred)
    order = np.argsort(values)[::-1]
    return values[order], vectors[:, order[:dims]]


def low_rank_data(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scales = 1.0 / (1.0 + np.arange(d)) ** 0.8  # a decaying spectrum, as images have
    basis = np.linalg.qr(rng.standard_normal((d, d)))[0]
    return (rng.standard_normal((n, d)) * scales) @ basis.T + 3.0


@pytest.mark.parametrize("dims", [8, 40, 120])
@pytest.mark.slow
def test_auto_solver_captures_the_exact_principal_subspace(dims):
    x = low_rank_data(900, 600)
    values, exact = exact_pca(x, dims)
    mean, fast = fit_pca(x, dims)  # randomized here: 900 × 600, dims < 480
    assert np.allclose(mean, x.mean(axis=0))
    assert np.allclose(fast.T @ fast, np.eye(dims), atol=1e-8)
    centred = x - mean
    captured = np.sum((centred @ fast) ** 2)
    assert captured == pytest.approx(values[:dims].sum(), rel=1e-4)
    # Directions with a clear eigengap are the exact ones, up to sign.
    gaps = values[:dims] / values[1 : dims + 1]
    clear = np.flatnonzero(gaps[:5] > 1.05)
    cosines = np.abs(np.sum(fast[:, clear] * exact[:, clear], axis=0))
    assert np.all(cosines > 0.999), cosines


def test_full_solver_is_still_available_and_exact():
    x = low_rank_data(300, 50)
    values, _ = exact_pca(x, 10)
    mean, full = fit_pca(x, 10, solver="full")
    assert np.sum(((x - mean) @ full) ** 2) == pytest.approx(values[:10].sum(), rel=1e-10)


def test_itq_retrieval_is_unchanged_by_the_scalable_solver(monkeypatch):
    """Digits with 700 training images (> 500, so 'auto' is randomized): same mAP within 0.01."""
    data = load_digits()
    images = np.round(data.images * 255 / 16).astype(np.uint8)[..., None]
    labels = data.target.astype(np.int64)
    rng = np.random.default_rng(0)
    train = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:100] for c in range(7)])
    unseen = np.flatnonzero(labels >= 7)
    query, database = unseen[::6], np.setdiff1d(unseen, unseen[::6])
    source = ArrayImageSource(images)
    train_data = TrainData(
        images=ImageView(source, train, labels[train]),
        labels=labels[train],
        class_names=[str(c) for c in range(7)],
        attribute_names=[],
        class_attributes=None,
        binary_class_attributes=None,
        validation=None,
        dataset="digits-700",
    )
    scores = {}
    for solver in ("full", "auto"):
        monkeypatch.setattr(itq_module, "fit_pca", functools.partial(fit_pca, solver=solver))
        method = ITQ(32)
        method.fit(train_data, RunContext(seed=0))
        scores[solver] = mean_average_precision(
            method.encode(ImageView(source, query), RunContext()),
            labels[query],
            method.encode(ImageView(source, database), RunContext()),
            labels[database],
            topk=None,
        )
    assert scores["auto"] == pytest.approx(scores["full"], abs=0.01), scores
