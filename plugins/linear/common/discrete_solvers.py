"""Closed-form and coordinate steps shared by the discrete hashing methods.

Hand-rolled because no dependency has them: scipy and scikit-learn solve least squares and
eigenproblems, not binary quadratic programs or the balanced-orthogonal constraint set. Each
step is an exact minimiser of its subproblem, which is what makes every method's objective
non-increasing (and what the tests check):

* :func:`dcc` — discrete cyclic coordinate descent over the bits (columns) of B ∈ {−1, 1}^{n×r}
  for  min tr(BᵀB H) − 2 tr(BᵀQ)  with H symmetric: one column z of B at a time has the
  closed form z = sgn(q_k − B_{¬k} H_{¬k,k}) (Shen et al., "Supervised Discrete Hashing",
  CVPR 2015, the B-step; H = W Wᵀ there). Entries whose argument is exactly 0 keep their value.
* :func:`balanced_orthogonal` — max tr(ZᵀM) s.t. 1ᵀZ = 0, ZᵀZ = nI, the continuous codes of
  Discrete Graph Hashing (Liu et al., NIPS 2014, the Y-subproblem): with J = I − 11ᵀ/n and the
  thin SVD J M = U Σ Vᵀ, Z = √n U Vᵀ; when J M has rank r' < r, U and V are completed with
  orthonormal columns orthogonal to [1, U] and to V (Gram-Schmidt, seeded).
* :func:`solve_two_sided` — X with A₁ X A₂ + εX = R for symmetric positive semi-definite A₁, A₂:
  the normal equations of min ‖…‖² ridge problems whose unknown sits between two Gram matrices
  (FSSH's W and G steps, AH's U step), solved exactly by two eigendecompositions (scipy).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from zshbench.errors import ZshbenchError


def signs(values: np.ndarray, previous: np.ndarray | None = None) -> np.ndarray:
    """sgn(values) as ±1.0; where a value is exactly 0, ``previous`` (or +1) is kept."""
    out = np.where(values > 0, 1.0, -1.0)
    zero = values == 0
    if np.any(zero):
        out[zero] = 1.0 if previous is None else previous[zero]
    return out


def dcc(b: np.ndarray, h: np.ndarray, q: np.ndarray, sweeps: int = 1) -> np.ndarray:
    """Minimise tr(BᵀB H) − 2 tr(BᵀQ) over B ∈ {±1}^{n×r}, starting from ``b``, bit by bit.

    ``h`` is (r, r) symmetric, ``q`` is (n, r). Each column update is exact given the others,
    so the objective never increases; ``sweeps`` passes over all r columns.
    """
    b = np.array(b, dtype=np.float64, copy=True)
    h = np.asarray(h, dtype=np.float64)
    r = b.shape[1]
    for _ in range(int(sweeps)):
        for k in range(r):
            others = np.arange(r) != k
            column = q[:, k] - b[:, others] @ h[others, k]
            b[:, k] = signs(column, b[:, k])
    return b


def dcc_objective(b: np.ndarray, h: np.ndarray, q: np.ndarray) -> float:
    """tr(BᵀB H) − 2 tr(BᵀQ), the quantity :func:`dcc` minimises."""
    return float(np.sum((b.T @ b) * h) - 2.0 * np.sum(b * q))


def balanced_orthogonal(m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """argmax tr(ZᵀM) over Z ∈ R^{n×r} with 1ᵀZ = 0 and ZᵀZ = nI (DGH's Y-step)."""
    n, r = m.shape
    if r > n - 1:
        raise ZshbenchError(
            f"{r} balanced, uncorrelated bits need at least {r + 1} training images, not {n}",
            "Use fewer bits or more training images.",
        )
    centred = m - m.mean(axis=0, keepdims=True)  # J M
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    tol = max(n, r) * np.finfo(np.float64).eps * (s[0] if len(s) and s[0] > 0 else 1.0)
    rank = int(np.sum(s > tol))
    u, v = u[:, :rank], vt[:rank].T
    if rank < r:
        missing = r - rank
        # Columns orthogonal to 1 and to U (in R^n), and to V (in R^r).
        basis = np.hstack([np.ones((n, 1)) / np.sqrt(n), u])
        extra = rng.standard_normal((n, missing))
        extra -= basis @ (basis.T @ extra)
        u_bar = np.linalg.qr(extra)[0]
        extra_v = rng.standard_normal((r, missing))
        extra_v -= v @ (v.T @ extra_v)
        v_bar = np.linalg.qr(extra_v)[0]
        u, v = np.hstack([u, u_bar]), np.hstack([v, v_bar])
    return np.sqrt(n) * u @ v.T


def solve_two_sided(
    a1: np.ndarray, a2: np.ndarray, rhs: np.ndarray, eps: float = 0.0
) -> np.ndarray:
    """X solving A₁ X A₂ + εX = R, for symmetric PSD A₁ (p×p), A₂ (q×q) and R (p×q).

    With A₁ = E₁D₁E₁ᵀ and A₂ = E₂D₂E₂ᵀ, X = E₁ [(E₁ᵀ R E₂) / (d₁d₂ᵀ + ε)] E₂ᵀ. Pairs with
    d₁d₂ + ε = 0 (a direction no term constrains) get 0, the minimum-norm solution.
    """
    d1, e1 = scipy.linalg.eigh(a1)
    d2, e2 = scipy.linalg.eigh(a2)
    d1 = np.clip(d1, 0.0, None)
    d2 = np.clip(d2, 0.0, None)
    denominator = np.outer(d1, d2) + eps
    scale = max(float(np.max(np.abs(denominator))), 1.0)
    safe = denominator > 1e-13 * scale
    rotated = e1.T @ rhs @ e2
    solution = np.where(safe, rotated / np.where(safe, denominator, 1.0), 0.0)
    return e1 @ solution @ e2.T
