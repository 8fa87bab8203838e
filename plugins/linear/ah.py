"""AH: Attribute Hashing for zero-shot retrieval — codes predict attributes, which predict labels.

Y. Xu, Y. Yang, F. Shen, X. Xu, Y. Zhou and H. T. Shen, "Attribute Hashing for Zero-Shot
Image Retrieval", IEEE ICME 2017, pp. 133-138 (the RAZH paper's ref. [19]).

RECONSTRUCTED FROM THE ABSTRACT, NOT VERIFIED. The paper's text and code were not reachable
from our machines. Its abstract: "a multi-layer hierarchy for hashing, which fully exploits
attributes to model the relationships among visual features, binary codes and labels ... we
deliberately preserve the nature of hash codes (i.e., discreteness and local structure)"; the
RAZH paper (Sec. II) summarises it as an MLP-like transfer of attribute information from seen
to unseen classes. The authors' group released TSK (:mod:`plugins.linear.tsk`, same first-group
authors) with the same ingredients, so we write the hierarchy features → codes → attributes →
labels in TSK's discrete least-squares form (row-per-image notation; Y ∈ {0,1}^{n×c} labels,
C ∈ R^{c×a} the seen classes' attribute vectors, U ∈ R^{r×a} codes-to-attributes)::

    min_{B,U,P}  ‖Y − B U Cᵀ‖²      (labels from the attributes the codes predict)
               + ρ ‖Y C − B U‖²     (codes predict their class's attributes)
               + λ ‖U‖² + ν ‖B − φ(X) P‖² + ε ‖P‖²
               + δ tr(Pᵀ φᵀ L φ P)   (local structure: kNN-graph Laplacian L of the images)
    s.t.  B ∈ {−1, 1}^{n×r}

An unseen class needs no training image: its attributes place it in the same attribute space
the codes were trained to predict. Steps, each exact (so the objective never increases):

* U: Bᵀ B U (CᵀC + ρ I) + λ U = (1 + ρ) Bᵀ Y C  (two-sided ridge, :func:`solve_two_sided`);
* P: (ν φᵀφ + ε I + δ φᵀ L φ) P = ν φᵀ B;
* B: DCC with H = M Mᵀ + ρ U Uᵀ and Q = Y Mᵀ + ρ Y C Uᵀ + ν φP, where M = U Cᵀ.

Hash function h(x) = sgn(Pᵀ φ(x)) on the RBF anchor map. Defaults (ours): ρ = 1, λ = 1,
ν = 1e-5, ε = ν · 0.1 · n (TSK's rule, :func:`plugins.linear.common.kernel_hashing.ridge_for`), δ
= 1e-5
(the graph term weighs like the data fit), kNN graph with
k = 5 on φ, 10 iterations, one DCC sweep each, random initial B from ``context.seed``;
``semantics=auto`` (the data set's attributes; class-name word vectors where it has none).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from plugins.features.class_semantics import class_semantic_vectors
from plugins.linear.common.discrete_solvers import dcc, solve_two_sided
from plugins.linear.common.kernel_hashing import (
    KernelHashingMethod,
    hash_fit_ridge,
    one_hot,
    positive_float,
    positive_int,
)
from plugins.linear.common.knn_graph import knn_laplacian
from zshbench.hookspecs import hookimpl
from zshbench.method import RunContext, TrainData
from zshbench.registry import MethodSpec

CITATION = (
    "Y. Xu, Y. Yang, F. Shen, X. Xu, Y. Zhou and H. T. Shen. Attribute Hashing for Zero-Shot "
    "Image Retrieval. IEEE ICME 2017, pp. 133-138"
)


@hookimpl
def zshbench_register_methods() -> list[MethodSpec]:
    return [
        MethodSpec(
            "ah",
            "plugins.linear.ah:AH",
            summary="Attribute hashing: codes → attributes → labels (Xu et al.; reconstructed)",
            family="linear",
            citation=CITATION,
            zero_shot=True,
        )
    ]


def ah_objective(b, u, p, phi, y, c, laplacian, rho, lam, nu, eps, delta) -> float:
    """The AH objective above (``laplacian`` sparse n × n)."""
    bu = b @ u
    fitted = phi @ p
    return float(
        np.sum((y - bu @ c.T) ** 2)
        + rho * np.sum((y @ c - bu) ** 2)
        + lam * np.sum(u**2)
        + nu * np.sum((b - fitted) ** 2)
        + eps * np.sum(p**2)
        + delta * np.sum(fitted * (laplacian @ fitted))
    )


class AH(KernelHashingMethod):
    """Attribute hashing (reconstructed, see the module docstring) on RBF anchor features.

    Options: ``semantics`` (auto, attributes or word-vectors), ``rho`` (ρ), ``lam`` (λ),
    ``nu`` (ν), ``epsilon`` (ε), ``delta`` (δ), ``neighbors`` (k of the graph),
    ``iterations``, plus ``anchors`` / ``sigma`` and the extractor options.
    """

    # Class-name vectors (semantics=word-vectors, or auto without attributes) come from the
    # core's text encoder: --encoder reaches the method and the record names the encoder.
    uses_text_encoder: ClassVar[bool] = True
    default_options: ClassVar[dict[str, Any]] = {
        **KernelHashingMethod.default_options,
        "semantics": "auto",
        "rho": 1.0,
        "lam": 1.0,
        "nu": 1e-5,
        "epsilon": None,
        "delta": 1e-5,
        "neighbors": 5,
        "iterations": 10,
    }

    def learn(self, phi, data: TrainData, context: RunContext, rng, callback=None) -> None:
        o = self.options
        rho = positive_float("ah", "rho", o["rho"], allow_zero=True)
        lam = positive_float("ah", "lam", o["lam"])
        nu = positive_float("ah", "nu", o["nu"])
        eps = hash_fit_ridge("ah", o["epsilon"], nu, len(phi))
        delta = positive_float("ah", "delta", o["delta"], allow_zero=True)
        iterations = positive_int("ah", "iterations", o["iterations"])
        neighbors = positive_int("ah", "neighbors", o["neighbors"])
        c = class_semantic_vectors(data, context, o["semantics"])  # (classes, a)
        y = one_hot(data.labels, data.num_classes)
        n, m = phi.shape
        laplacian = knn_laplacian(phi, neighbors)
        system = nu * (phi.T @ phi) + eps * np.eye(m) + delta * (phi.T @ (laplacian @ phi))
        hash_fit = np.linalg.solve(system, nu * phi.T)  # P = hash_fit @ B
        b = np.where(rng.random((n, self.bits)) < 0.5, -1.0, 1.0)
        yc = y @ c
        u = p = None
        self.objective_history_ = []
        for t in range(iterations):
            u = solve_two_sided(
                b.T @ b, c.T @ c + rho * np.eye(c.shape[1]), (1 + rho) * b.T @ yc, lam
            )
            if callback is not None and p is not None:
                callback(t, "u", b, u, p)
            p = hash_fit @ b
            if callback is not None:
                callback(t, "p", b, u, p)
            mm = u @ c.T  # (r, classes)
            b = dcc(b, mm @ mm.T + rho * u @ u.T, y @ mm.T + rho * yc @ u.T + nu * (phi @ p))
            self.objective_history_.append(
                ah_objective(b, u, p, phi, y, c, laplacian, rho, lam, nu, eps, delta)
            )
            if callback is not None:
                callback(t, "b", b, u, p)
        self.semantic_, self.codes_, self.attribute_map_ = c, b, u
        self.laplacian_ = laplacian
        self.projection_ = hash_fit @ b
