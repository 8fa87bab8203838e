"""FSSH: Fast Scalable Supervised Hashing, pairwise similarity without the n × n matrix.

X. Luo, L. Nie, X. He, Y. Wu, Z.-D. Chen and X.-S. Xu, "Fast Scalable Supervised Hashing",
SIGIR 2018, pp. 735-744 (the RAZH paper's ref. [52]). The equations below are those of the
authors' released code (github.com/SDU-MIMA/FSSH, ``FSSH-TS/FSSH.m``), whose three updates are
the exact minimisers, block by block, of (row-per-image notation)::

    min_{B,W,G}  ‖r S − φ(X) W Gᵀ Yᵀ‖²_F + μ ‖B − Y G‖²_F + θ ‖B − φ(X) W‖²_F

with S ∈ {−1, 1}^{n×n} the pairwise label similarity (s_ij = 1 when i and j share a class),
r the code length, Y ∈ {0, 1}^{n×c} the labels, G ∈ R^{c×r} the class-to-code projection and
W ∈ R^{m×r} the hash projection on the RBF features φ(X). The point of the paper: S is never
formed. With S = 2YYᵀ − 11ᵀ, the "pre-computed intermediate term" A = φᵀ S Y = 2(φᵀY)(YᵀY) −
(φᵀ1)(1ᵀY) is m × c, independent of n. Steps:

* B = sgn(μ Y G + θ φ W);
* G = (YᵀY)⁻¹ (μ YᵀB + r AᵀW) (μ I + Wᵀφᵀφ W)⁻¹;
* W = (φᵀφ)⁻¹ (θ φᵀB + r A G) (θ I + GᵀYᵀY G)⁻¹.

Hash function: h(x) = sgn(Wᵀ φ(x)), the W learned jointly (FSSH proper);
``two_step=true`` instead refits W by ridge regression of B on φ (regulariser 1), the released
code's FSSH_ts variant.

Choices the paper leaves open, with our defaults: μ = 10⁴, θ = 0.01 and 5 iterations (the
released code); B, G and W initialised at random (the code: B = sgn of a Gaussian, G and W
Gaussian), drawn from ``context.seed``; S scaled by r (the code loads a pre-computed S·Y we
could not inspect; r·S is the scale at which BBᵀ can match it). φᵀφ is singular when there are
fewer training images than anchors (digits: 400 images), so a ridge ε‖W‖² with ε = 1e-6 ·
trace(φᵀφ)/m is added and the W-step solved exactly as a two-sided system
(:func:`plugins.linear.common.discrete_solvers.solve_two_sided`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from plugins.linear.common.discrete_solvers import signs, solve_two_sided
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
    "X. Luo, L. Nie, X. He, Y. Wu, Z.-D. Chen and X.-S. Xu. Fast Scalable Supervised Hashing. "
    "SIGIR 2018, pp. 735-744"
)


@hookimpl
def zshbench_register_methods() -> list[MethodSpec]:
    return [
        MethodSpec(
            "fssh",
            "plugins.linear.fssh:FSSH",
            summary="Fast Scalable Supervised Hashing: pairwise labels, no n×n matrix (Luo et al.)",
            family="linear",
            citation=CITATION,
        )
    ]


def similarity_term(phi: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A = φᵀ S Y with S = 2YYᵀ − 11ᵀ, in O(n m c) without the n × n matrix."""
    return 2.0 * (phi.T @ y) @ (y.T @ y) - np.outer(phi.sum(axis=0), y.sum(axis=0))


def fssh_objective(b, w, g, phi, y, mu, theta, eps=0.0) -> float:
    """‖rS − φWGᵀYᵀ‖² + μ‖B − YG‖² + θ‖B − φW‖² + ε‖W‖², S = 2YYᵀ − 11ᵀ, without forming S."""
    r = b.shape[1]
    n = len(y)
    u = phi @ w  # (n, r)
    v = y @ g  # (n, r)
    # ‖rS − UVᵀ‖² = r²‖S‖² − 2r tr(Vᵀ S U) + tr(UᵀU VᵀV); ‖S‖² = n² for ±1 entries.
    s_u = 2.0 * y @ (y.T @ u) - np.outer(np.ones(n), u.sum(axis=0))
    pairwise = r * r * n * n - 2.0 * r * np.sum(v * s_u) + np.sum((u.T @ u) * (v.T @ v))
    return float(
        pairwise + mu * np.sum((b - v) ** 2) + theta * np.sum((b - u) ** 2) + eps * np.sum(w**2)
    )


class FSSH(KernelHashingMethod):
    """Fast Scalable Supervised Hashing on RBF anchor features of extractor features.

    Options: ``mu`` (μ), ``theta`` (θ), ``iterations``, ``two_step`` (FSSH_ts out-of-sample
    extension), plus ``anchors`` / ``sigma`` and the extractor options.
    """

    default_options: ClassVar[dict[str, Any]] = {
        **KernelHashingMethod.default_options,
        "mu": 10000.0,
        "theta": 0.01,
        "iterations": 5,
        "two_step": False,
    }

    def learn(self, phi, data: TrainData, context: RunContext, rng, callback=None) -> None:
        o = self.options
        mu = positive_float("fssh", "mu", o["mu"])
        theta = positive_float("fssh", "theta", o["theta"])
        iterations = positive_int("fssh", "iterations", o["iterations"])
        y = one_hot(data.labels, data.num_classes)
        n, m = phi.shape
        r = self.bits
        a = similarity_term(phi, y)
        phi_gram = phi.T @ phi
        yty = y.T @ y
        self.eps_ = 1e-6 * float(np.trace(phi_gram)) / m
        b = np.where(rng.standard_normal((n, r)) > 0, 1.0, -1.0)
        g = rng.standard_normal((y.shape[1], r))
        w = rng.standard_normal((m, r))
        self.objective_history_ = []
        for t in range(iterations):
            b = signs(mu * (y @ g) + theta * (phi @ w), b)
            g = solve_two_sided(
                yty, mu * np.eye(r) + w.T @ phi_gram @ w, mu * y.T @ b + r * a.T @ w
            )
            w = solve_two_sided(
                phi_gram,
                theta * np.eye(r) + g.T @ yty @ g,
                theta * phi.T @ b + r * a @ g,
                self.eps_,
            )
            self.objective_history_.append(fssh_objective(b, w, g, phi, y, mu, theta, self.eps_))
            if callback is not None:
                callback(t, b, w, g)
        self.codes_, self.class_projection_ = b, g
        if o["two_step"]:
            self.projection_ = np.linalg.solve(phi_gram + np.eye(m), phi.T @ b)
        else:
            self.projection_ = w
