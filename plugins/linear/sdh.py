"""SDH: Supervised Discrete Hashing, binary codes learned directly by bit-wise coordinate descent.

F. Shen, C. Shen, W. Liu and H. T. Shen, "Supervised Discrete Hashing", CVPR 2015, pp. 37-45
(the RAZH paper's ref. [51]). Codes B ∈ {−1, 1}^{n×r} should be good for linear classification
of the labels Y ∈ {0, 1}^{n×c} and close to the hash function's outputs F(X) = φ(X) P
(Sec. 3, the SDH objective; row-per-image notation here)::

    min_{B,W,P}  ‖Y − B W‖²_F + λ ‖W‖²_F + ν ‖B − φ(X) P‖²_F + ν δ ‖P‖²_F

solved by alternating three exact steps (Sec. 3.1-3.3):

* F-step (P): ridge regression of B on φ(X):  P = (φᵀφ + δ I)⁻¹ φᵀ B;
* G-step (W): W = (BᵀB + λ I)⁻¹ Bᵀ Y;
* B-step: with Q = Y Wᵀ + ν φ(X) P, min_B ‖B W‖² − 2 tr(BᵀQ) by discrete cyclic coordinate
  descent, one bit (column) at a time: b_k = sgn(q_k − B_{¬k} W_{¬k} w_kᵀ) (the paper's DCC).

Hash function: h(x) = sgn(Pᵀ φ(x)), φ the RBF anchor map
(:mod:`plugins.linear.common.kernel_hashing`).

Choices the paper leaves open (or fixes only for its own data), with our defaults: λ = 1 and
ν = 1e-5 (the authors' demo); δ = 0.01, the F-step's ridge, which the paper's plain least
squares lacks — it is written into the objective above so the alternation stays monotone;
B initialised uniformly at random from ``context.seed`` (the authors' demo does the same);
5 outer iterations and 5 DCC sweeps per B-step (the demo's ``maxItr`` and inner loop);
m = 1000 anchors, RBF width by the rule in :mod:`plugins.linear.common.kernel_hashing`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from plugins.linear.common.discrete_solvers import dcc
from plugins.linear.common.kernel_hashing import (
    KernelHashingMethod,
    one_hot,
    positive_float,
    positive_int,
)
from zshbench.hookspecs import hookimpl
from zshbench.method import RunContext, TrainData
from zshbench.registry import MethodSpec

CITATION = (
    "F. Shen, C. Shen, W. Liu and H. T. Shen. Supervised Discrete Hashing. CVPR 2015, pp. 37-45"
)


@hookimpl
def zshbench_register_methods() -> list[MethodSpec]:
    return [
        MethodSpec(
            "sdh",
            "plugins.linear.sdh:SDH",
            summary="Supervised Discrete Hashing: label regression + bit-wise DCC (Shen et al.)",
            family="linear",
            citation=CITATION,
        )
    ]


def sdh_objective(
    b: np.ndarray,
    w: np.ndarray,
    p: np.ndarray,
    phi: np.ndarray,
    y: np.ndarray,
    lam: float,
    nu: float,
    delta: float,
) -> float:
    """‖Y − BW‖² + λ‖W‖² + ν‖B − φP‖² + νδ‖P‖², the quantity SDH's alternation minimises."""
    return float(
        np.sum((y - b @ w) ** 2)
        + lam * np.sum(w**2)
        + nu * np.sum((b - phi @ p) ** 2)
        + nu * delta * np.sum(p**2)
    )


def sdh_steps(
    phi: np.ndarray,
    y: np.ndarray,
    b: np.ndarray,
    lam: float,
    nu: float,
    delta: float,
    iterations: int,
    dcc_sweeps: int,
    callback=None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run SDH's alternation from codes ``b``; returns (B, W, P).

    ``callback(t, B, W, P)`` is called after each full iteration (F, G then B step).
    """
    gram = phi.T @ phi + delta * np.eye(phi.shape[1])
    for t in range(iterations):
        p = np.linalg.solve(gram, phi.T @ b)  # F-step
        w = np.linalg.solve(b.T @ b + lam * np.eye(b.shape[1]), b.T @ y)  # G-step
        q = y @ w.T + nu * (phi @ p)
        b = dcc(b, w @ w.T, q, sweeps=dcc_sweeps)  # B-step
        if callback is not None:
            callback(t, b, w, p)
    p = np.linalg.solve(gram, phi.T @ b)  # the hash function of the final codes
    return b, w, p


class SDH(KernelHashingMethod):
    """Supervised Discrete Hashing on RBF anchor features of extractor features.

    Options: ``lam`` (λ, W's ridge), ``nu`` (ν, weight of the hash-function fit), ``delta``
    (δ, P's ridge), ``iterations``, ``dcc_sweeps``, plus ``anchors`` / ``sigma`` and the
    extractor options.
    """

    default_options: ClassVar[dict[str, Any]] = {
        **KernelHashingMethod.default_options,
        "lam": 1.0,
        "nu": 1e-5,
        "delta": 0.01,
        "iterations": 5,
        "dcc_sweeps": 5,
    }

    def learn(self, phi, data: TrainData, context: RunContext, rng, callback=None) -> None:
        """Run the alternation; ``objective_history_`` holds :func:`sdh_objective` after each
        iteration, and ``callback(t, B, W, P)`` (optional) sees each iteration's state."""
        o = self.options
        y = one_hot(data.labels, data.num_classes)
        lam = positive_float("sdh", "lam", o["lam"])
        nu = positive_float("sdh", "nu", o["nu"])
        delta = positive_float("sdh", "delta", o["delta"])
        self.objective_history_ = []

        def record(t, b, w, p):
            self.objective_history_.append(sdh_objective(b, w, p, phi, y, lam, nu, delta))
            if callback is not None:
                callback(t, b, w, p)

        b0 = np.where(rng.random((len(phi), self.bits)) < 0.5, -1.0, 1.0)
        self.codes_, self.weights_, self.projection_ = sdh_steps(
            phi,
            y,
            b0,
            lam=lam,
            nu=nu,
            delta=delta,
            iterations=positive_int("sdh", "iterations", o["iterations"]),
            dcc_sweeps=positive_int("sdh", "dcc_sweeps", o["dcc_sweeps"]),
            callback=record,
        )
