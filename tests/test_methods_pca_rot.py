"""pca-rot, the training-free baseline: PCA, a seeded random rotation, sign.

Checked on real digits pixels against a NumPy reference written from the definition: the top-K
principal subspace from an eigendecomposition of the covariance (compared as a projector, which
PCA's sign and order freedom cannot change), a Haar rotation, and the codes it gives.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_methods_linear import brute_force_map, digits, fit_encode  # noqa: F401 - fixture

from plugins.linear.itq import ITQ
from plugins.linear.pca_rot import PCARotation
from zshbench.errors import ZshbenchError
from zshbench.method import RunContext


def _top_subspace(x: np.ndarray, k: int) -> np.ndarray:
    """The projector onto the top-k principal directions of x (NumPy eigh of the covariance)."""
    centred = x - x.mean(axis=0)
    values, vectors = np.linalg.eigh(centred.T @ centred)
    top = vectors[:, np.argsort(values)[::-1][:k]]
    return top @ top.T


@pytest.mark.parametrize("bits", [8, 16, 32])
def test_codes_are_the_sign_of_rotated_principal_components(digits, bits):  # noqa: F811
    method = PCARotation(bits)
    query_codes, _ = fit_encode(method, digits, seed=3)
    train = digits["pixels"][digits["train_indices"]]
    np.testing.assert_allclose(method.mean_, train.mean(axis=0), atol=1e-6)
    w = method.projection_
    np.testing.assert_allclose(w @ w.T, _top_subspace(train, bits), atol=1e-5)
    r = method.rotation_
    np.testing.assert_allclose(r.T @ r, np.eye(bits), atol=1e-10)
    assert not np.allclose(np.abs(r), np.eye(bits), atol=0.05)  # a real rotation, not identity
    query = digits["pixels"][digits["query"].indices]
    expected = np.where((query - train.mean(axis=0)) @ w @ r >= 0, 1, -1)
    np.testing.assert_array_equal(query_codes, expected)


def test_it_is_itq_without_its_iterations(digits):  # noqa: F811
    """ITQ's first step is the same seeded rotation: with zero iterations the codes agree; one
    iteration of learning changes them."""
    ours = fit_encode(PCARotation(16), digits, seed=5)
    itq_zero = fit_encode(ITQ(16, iterations=0), digits, seed=5)
    np.testing.assert_array_equal(ours[0], itq_zero[0])
    np.testing.assert_array_equal(ours[1], itq_zero[1])
    assert not np.array_equal(ours[1], fit_encode(ITQ(16, iterations=3), digits, seed=5)[1])


def test_seeded_rotation_and_better_than_chance(digits):  # noqa: F811
    first, second = PCARotation(16), PCARotation(16)
    first.fit(digits["train"], RunContext(seed=0))
    second.fit(digits["train"], RunContext(seed=0))
    np.testing.assert_array_equal(first.rotation_, second.rotation_)
    other = PCARotation(16)
    other.fit(digits["train"], RunContext(seed=1))
    assert not np.allclose(first.rotation_, other.rotation_)
    query_codes, db_codes = fit_encode(PCARotation(32), digits)
    score = brute_force_map(
        query_codes, digits["query_labels"], db_codes, digits["database_labels"]
    )
    chance = np.mean([np.mean(digits["database_labels"] == c) for c in (7, 8, 9)])
    assert score > 2 * chance


def test_more_bits_than_dimensions_is_one_line(digits):  # noqa: F811
    with pytest.raises(ZshbenchError, match="at most 64 bits"):
        PCARotation(65).fit(digits["train"], RunContext())
