"""TSK: Zero-Shot Hashing via Transferring Supervised Knowledge.

Y. Yang, Y. Luo, W. Chen, F. Shen, J. Shao and H. T. Shen, "Zero-Shot Hashing via
Transferring Supervised Knowledge", ACM MM 2016, pp. 1286-1295 (the RAZH paper's ref. [54];
arXiv:1606.05032). Labels are replaced by their semantic embedding (word vectors of the class
names), so the codes of an unseen class land near those of semantically close seen classes; a
rotation R aligns the embedded semantics with the visual space ("semantic shift"), and the
codes stay discrete. The equations are those of the authors' released code
(github.com/Luoyadan/Zero-shot-Hashing, ``MDH/mdh.m`` and ``MDH/computeCost.m``), in
row-per-image notation with Yₛ ∈ R^{n×s} the semantic vector of each image's class::

    min_{B,W,P,R}  ‖Yₛ R − B W‖²_F + λ ‖W‖²_F + ν ‖B − φ(X) P‖²_F + ε ‖P‖²_F
                   + δ tr(Rᵀ Yₛᵀ L Yₛ R)        s.t.  RᵀR = I,  B ∈ {−1, 1}^{n×r}

(L: the Laplacian of a kNN graph of the visual features). Steps, in the code's order:

* P = (φᵀφ + (ε/ν) I)⁻¹ φᵀ B;
* B: one DCC sweep (:func:`plugins.linear.common.discrete_solvers.dcc`) with H = WWᵀ, Q = Yₛ R Wᵀ
  + ν φP;
* R: with R square and orthogonal, ‖Yₛ R‖² and tr(Rᵀ Yₛᵀ L Yₛ R) = tr(Yₛᵀ L Yₛ) do not depend
  on R, so the R-step is the orthogonal Procrustes problem min ‖Yₛ R − BW‖ (scipy's
  ``orthogonal_procrustes``; the code reaches the same minimiser with a Stiefel-manifold
  gradient method);
* W = (BᵀB + λ I)⁻¹ Bᵀ Yₛ R.

Note: for the same reason the δ-term is constant on the whole feasible set — it changes no step
of the released algorithm — so we do not build the n × n graph; the objective here omits it.

Hash function: h(x) = sgn(Pᵀ φ(x)) with φ the RBF anchor map plus a constant 1 (the code's
bias column; :mod:`plugins.linear.common.kernel_hashing`).

Choices, with our defaults: ν = 1e-5, λ = 1e-2, 10 iterations, 1000 anchors (the code's
``test.m``); ε = ν · 0.1 · n, the code's ε = 10³ν for its 10,000 training images kept in
proportion to n (φᵀφ grows with n; at our 400-1,140 images the code's absolute value smooths
the hash function towards zero: on a noisier variant of the tests' fixture, mAP 0.37 against
0.49 at ε = 10⁻⁵); B random signs, W uniform on [0, 1) and R the orthogonal factor of a
uniform matrix (the code's initialisation), from ``context.seed``; the semantic space is the
class-name word vectors from the run's ``--encoder`` (``semantics=word-vectors``; the paper
used word2vec) — ``semantics=attributes`` uses the data set's class attributes instead.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy.linalg import orthogonal_procrustes

from plugins.features.class_semantics import class_semantic_vectors
from plugins.linear.common.discrete_solvers import dcc
from plugins.linear.common.kernel_hashing import (
    KernelHashingMethod,
    hash_fit_ridge,
    positive_float,
    positive_int,
)
from zshbench.hookspecs import hookimpl
from zshbench.method import RunContext, TrainData
from zshbench.registry import MethodSpec

CITATION = (
    "Y. Yang, Y. Luo, W. Chen, F. Shen, J. Shao and H. T. Shen. Zero-Shot Hashing via "
    "Transferring Supervised Knowledge. ACM Multimedia 2016, pp. 1286-1295"
)


@hookimpl
def zshbench_register_methods() -> list[MethodSpec]:
    return [
        MethodSpec(
            "tsk",
            "plugins.linear.tsk:TSK",
            summary="Zero-shot hashing via transferring supervised knowledge (Yang et al.)",
            family="linear",
            citation=CITATION,
            zero_shot=True,
        )
    ]


def tsk_objective(b, w, p, r, phi, ys, lam, nu, eps) -> float:
    """‖YₛR − BW‖² + λ‖W‖² + ν‖B − φP‖² + ε‖P‖² (the constant δ-term omitted)."""
    return float(
        np.sum((ys @ r - b @ w) ** 2)
        + lam * np.sum(w**2)
        + nu * np.sum((b - phi @ p) ** 2)
        + eps * np.sum(p**2)
    )


class TSK(KernelHashingMethod):
    """Zero-shot hashing via transferring supervised knowledge, on RBF anchor features.

    Options: ``semantics`` (word-vectors, attributes or auto), ``lam`` (λ), ``nu`` (ν),
    ``epsilon`` (ε), ``iterations``, plus ``anchors`` / ``sigma`` and the extractor options.
    """

    # Class-name vectors (semantics=word-vectors, or auto without attributes) come from the
    # core's text encoder: --encoder reaches the method and the record names the encoder.
    uses_text_encoder: ClassVar[bool] = True
    default_options: ClassVar[dict[str, Any]] = {
        **KernelHashingMethod.default_options,
        "semantics": "word-vectors",
        "lam": 0.01,
        "nu": 1e-5,
        "epsilon": None,
        "iterations": 10,
    }
    kernel_bias: ClassVar[bool] = True

    def learn(self, phi, data: TrainData, context: RunContext, rng, callback=None) -> None:
        o = self.options
        lam = positive_float("tsk", "lam", o["lam"])
        nu = positive_float("tsk", "nu", o["nu"])
        eps = hash_fit_ridge("tsk", o["epsilon"], nu, len(phi))
        iterations = positive_int("tsk", "iterations", o["iterations"])
        semantic = class_semantic_vectors(data, context, o["semantics"])
        ys = semantic[data.labels]  # (n, s)
        n, m = phi.shape
        s = ys.shape[1]
        w = rng.random((self.bits, s))
        b = np.where(rng.standard_normal((n, self.bits)) > 0, 1.0, -1.0)
        r = np.linalg.qr(rng.random((s, s)))[0]
        ridge = np.linalg.inv(phi.T @ phi + (eps / nu) * np.eye(m)) @ phi.T
        self.objective_history_ = []
        for t in range(iterations):
            p = ridge @ b
            if callback is not None:
                callback(t, "p", b, w, p, r)
            b = dcc(b, w @ w.T, ys @ r @ w.T + nu * (phi @ p), sweeps=1)
            if callback is not None:
                callback(t, "b", b, w, p, r)
            r = orthogonal_procrustes(ys, b @ w)[0]
            if callback is not None:
                callback(t, "r", b, w, p, r)
            w = np.linalg.solve(b.T @ b + lam * np.eye(self.bits), b.T @ ys @ r)
            self.objective_history_.append(tsk_objective(b, w, p, r, phi, ys, lam, nu, eps))
            if callback is not None:
                callback(t, "w", b, w, p, r)
        self.semantic_ = semantic
        self.codes_, self.rotation_, self.weights_ = b, r, w
        self.projection_ = ridge @ b
