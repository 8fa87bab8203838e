"""The shared exact steps of the discrete hashing methods, against brute force and algebra."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from plugins.linear.common.discrete_solvers import (
    balanced_orthogonal,
    dcc,
    dcc_objective,
    signs,
    solve_two_sided,
)
from zshbench.errors import ZshbenchError


def test_signs_keeps_the_previous_value_at_zero():
    assert signs(np.array([2.0, -1.0, 0.0])).tolist() == [1.0, -1.0, 1.0]
    assert signs(np.array([0.0, 3.0]), np.array([-1.0, -1.0])).tolist() == [-1.0, 1.0]


def brute_force_column(b, h, q, k):
    """The best column k of B given the others, by enumerating all 2^n sign vectors."""
    best, best_value = None, np.inf
    for column in itertools.product((-1.0, 1.0), repeat=len(b)):
        trial = b.copy()
        trial[:, k] = column
        value = np.sum((trial.T @ trial) * h) - 2 * np.sum(trial * q)
        if value < best_value - 1e-12:
            best, best_value = trial[:, k].copy(), value
    return best, best_value


@pytest.mark.parametrize("seed", range(4))
def test_dcc_column_step_is_the_exact_minimiser(seed):
    rng = np.random.default_rng(seed)
    n, r = 7, 4
    w = rng.standard_normal((r, 3))
    h = w @ w.T
    q = rng.standard_normal((n, r)) * 3
    b = np.where(rng.random((n, r)) < 0.5, -1.0, 1.0)
    for k in range(r):
        expected, expected_value = brute_force_column(b, h, q, k)
        # One DCC pass restricted to column k: hand the others in unchanged.
        others = np.arange(r) != k
        column = q[:, k] - b[:, others] @ h[others, k]
        b[:, k] = np.where(column > 0, 1.0, -1.0)
        assert np.sum((b.T @ b) * h) - 2 * np.sum(b * q) == pytest.approx(expected_value)
        assert np.array_equal(b[:, k], expected)


def test_dcc_objective_by_hand_on_a_three_by_two_toy():
    b = np.array([[1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
    h = np.array([[2.0, 1.0], [1.0, 3.0]])
    q = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    # BᵀB = [[3, −1], [−1, 3]]: tr(BᵀBH) = 6 − 1 − 1 + 9 = 13; tr(BᵀQ) = 1 + 2 − 1 + 1 = 3.
    assert dcc_objective(b, h, q) == pytest.approx(13.0 - 6.0)
    # One sweep by hand: column 1 = sgn(q₁ − b₂·1) = sgn([2, −1, 0]) → [1, −1, −1] (0 keeps
    # −1); column 2 = sgn(q₂ − b₁·1) = sgn([−1, 3, 2]) → [−1, 1, 1]. Now BᵀB = [[3, −3],
    # [−3, 3]]: tr(BᵀBH) = 6 − 6 + 9 = 9, tr(BᵀQ) = 1 + 2 + 0 = 3; objective 9 − 6 = 3.
    swept = dcc(b, h, q, sweeps=1)
    assert swept.tolist() == [[1.0, -1.0], [-1.0, 1.0], [-1.0, 1.0]]
    assert dcc_objective(swept, h, q) == pytest.approx(3.0)


def test_dcc_never_increases_its_objective_and_reaches_a_bitwise_optimum():
    rng = np.random.default_rng(5)
    n, r = 30, 6
    w = rng.standard_normal((r, 4))
    h, q = w @ w.T, rng.standard_normal((n, r))
    b = np.where(rng.random((n, r)) < 0.5, -1.0, 1.0)
    values = [dcc_objective(b, h, q)]
    for _ in range(6):
        b = dcc(b, h, q, sweeps=1)
        values.append(dcc_objective(b, h, q))
    assert np.all(np.diff(values) <= 1e-9)
    assert values[-1] < values[0]
    # At convergence no single column can be improved.
    for k in range(r):
        others = np.arange(r) != k
        column = np.where(q[:, k] - b[:, others] @ h[others, k] > 0, 1.0, -1.0)
        trial = b.copy()
        trial[:, k] = column
        assert dcc_objective(trial, h, q) >= values[-1] - 1e-9


@pytest.mark.parametrize("n, r", [(40, 5), (13, 12)])
def test_balanced_orthogonal_is_feasible_and_beats_random_feasible_points(n, r):
    rng = np.random.default_rng(n)
    m = rng.standard_normal((n, r))
    z = balanced_orthogonal(m, rng)
    assert np.allclose(z.sum(axis=0), 0, atol=1e-9)
    assert np.allclose(z.T @ z, n * np.eye(r), atol=1e-8)
    best = np.sum(z * m)
    for _ in range(200):
        g = rng.standard_normal((n, r))
        g -= g.mean(axis=0)
        feasible = np.sqrt(n) * np.linalg.qr(g)[0]
        assert np.sum(feasible * m) <= best + 1e-9


def test_balanced_orthogonal_needs_more_images_than_bits():
    with pytest.raises(ZshbenchError, match="at least 13 training images"):
        balanced_orthogonal(np.ones((12, 12)), np.random.default_rng(0))


def test_balanced_orthogonal_completes_a_rank_deficient_target():
    rng = np.random.default_rng(1)
    n, r = 30, 6
    m = np.outer(rng.standard_normal(n), rng.standard_normal(r))  # rank 1
    z = balanced_orthogonal(m, rng)
    assert np.allclose(z.sum(axis=0), 0, atol=1e-9)
    assert np.allclose(z.T @ z, n * np.eye(r), atol=1e-8)
    # The rank-1 direction is still matched exactly: tr(ZᵀM) = √n ‖J M‖_*.
    centred = m - m.mean(axis=0)
    assert np.sum(z * m) == pytest.approx(np.sqrt(n) * np.linalg.svd(centred)[1].sum())


@pytest.mark.parametrize("eps", [0.0, 0.3])
def test_solve_two_sided_matches_the_kronecker_system(eps):
    rng = np.random.default_rng(2)
    g1, g2 = rng.standard_normal((5, 5)), rng.standard_normal((3, 3))
    a1, a2 = g1 @ g1.T, g2 @ g2.T + np.eye(3)
    rhs = rng.standard_normal((5, 3))
    x = solve_two_sided(a1, a2, rhs, eps)
    # vec(A₁ X A₂) = (A₂ᵀ ⊗ A₁) vec(X) with column-major vec.
    system = np.kron(a2.T, a1) + eps * np.eye(15)
    expected = np.linalg.solve(system, rhs.flatten(order="F")).reshape((5, 3), order="F")
    assert np.allclose(x, expected, atol=1e-8)
    assert np.allclose(a1 @ x @ a2 + eps * x, rhs, atol=1e-8)
