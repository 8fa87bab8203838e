"""OPZH: Zero-Shot Hashing with Orthogonal Projection — orthogonal codes for different classes.

H. Zhang, Y. Long and L. Shao, "Zero-Shot Hashing with Orthogonal Projection for Image
Retrieval", Pattern Recognition Letters 117, 2019, pp. 201-209 (the RAZH paper's ref. [16]);
this is the paper's linear model (it also has a deep one).

RECONSTRUCTED FROM THE ABSTRACT, NOT VERIFIED. The paper's text and code were not reachable
from our machines. Its abstract: "a hashing method based on orthogonal projection of both image
and semantic attribute, which constrains the generated binary codes in orthogonal space should
be orthogonal with each other when they belong to different classes, otherwise be same. This
constraint guarantees that the generated hash codes from different categories have equal
Hamming distance". We write that as: every seen class c has one code h_c (images of a class
share it), class codes are a projection of the class attributes, and images are projected onto
their class code (row-per-image notation; H ∈ {−1,1}^{c×r} class codes, C ∈ R^{c×a} class
attributes, Y ∈ {0,1}^{n×c} labels)::

    min_{H,Q,P}  ‖H Hᵀ − r I‖²_F            (different classes orthogonal: Hamming distance r/2)
               + α ‖H − C Q‖²_F + β ‖Q‖²_F   (codes are a projection of the attributes)
               + ν ‖Y H − φ(X) P‖²_F + ν κ ‖P‖²_F   (images project onto their class's code)

The diagonal of HHᵀ is r for any ±1 codes, so the first term is Σ_{c≠c'} (h_cᵀh_c')². Steps:

* Q = (CᵀC + (β/α) I)⁻¹ Cᵀ H;  P = (φᵀφ + κ I)⁻¹ φᵀ Y H  (ridge regressions, exact);
* H: coordinate descent over its c·r entries; flipping h_ck changes the objective by
  Δ = 8 Σ_{c'≠c} (1 − g_cc' h_ck h_c'k) + 4 h_ck (α (CQ)_ck + ν (YᵀφP)_ck), g_cc' = h_cᵀh_c',
  and the entry is flipped when Δ < 0 (hand-rolled: a binary quartic has no library solver).

Hash function h(x) = sgn(Pᵀ φ(x)) on the RBF anchor map. Defaults (ours): α = 1, β = 1,
ν = c/n (the image term then weighs like one term per class), κ = 1, 10 iterations with
3 sweeps over H each; H starts as sgn(C G) with G Gaussian from ``context.seed`` (an
attribute LSH, so classes with close attributes start with close codes); ``semantics=auto``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from plugins.features.class_semantics import class_semantic_vectors
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
    "H. Zhang, Y. Long and L. Shao. Zero-Shot Hashing with Orthogonal Projection for Image "
    "Retrieval. Pattern Recognition Letters 117, 2019, pp. 201-209"
)


@hookimpl
def zshbench_register_methods() -> list[MethodSpec]:
    return [
        MethodSpec(
            "opzh",
            "plugins.linear.opzh:OPZH",
            summary="Zero-shot hashing with orthogonal class codes (Zhang et al.; reconstructed)",
            family="linear",
            citation=CITATION,
            zero_shot=True,
        )
    ]


def opzh_objective(h, q, p, phi, y, c, alpha, beta, nu, kappa) -> float:
    """‖HHᵀ − rI‖² + α‖H − CQ‖² + β‖Q‖² + ν‖YH − φP‖² + νκ‖P‖², what OPZH's steps lower."""
    r = h.shape[1]
    return float(
        np.sum((h @ h.T - r * np.eye(len(h))) ** 2)
        + alpha * np.sum((h - c @ q) ** 2)
        + beta * np.sum(q**2)
        + nu * np.sum((y @ h - phi @ p) ** 2)
        + nu * kappa * np.sum(p**2)
    )


def update_class_codes(h: np.ndarray, linear: np.ndarray, sweeps: int) -> np.ndarray:
    """Coordinate descent on ‖HHᵀ − rI‖² − 2 tr(Hᵀ linear) over H ∈ {±1}^{c×r}.

    ``linear`` = α CQ + ν YᵀφP. Each entry is flipped when that lowers the objective.
    """
    h = np.array(h, dtype=np.float64, copy=True)
    classes, r = h.shape
    gram = h @ h.T
    for _ in range(int(sweeps)):
        changed = False
        for k in range(r):
            for c in range(classes):
                value = h[c, k]
                products = gram[c] * value * h[:, k]
                products[c] = 0.0
                delta = 8.0 * (classes - 1 - products.sum()) + 4.0 * value * linear[c, k]
                if delta < 0:
                    step = -2.0 * value * h[:, k]
                    step[c] = 0.0
                    gram[c] += step
                    gram[:, c] += step
                    h[c, k] = -value
                    changed = True
        if not changed:
            break
    return h


class OPZH(KernelHashingMethod):
    """Zero-shot hashing with orthogonal class codes (reconstructed; see the module docstring).

    Options: ``semantics``, ``alpha`` (α), ``beta`` (β), ``nu`` (ν; null: classes/images),
    ``kappa`` (κ, P's ridge), ``iterations``, ``sweeps``, plus ``anchors`` / ``sigma`` and
    the extractor options.
    """

    # Class-name vectors (semantics=word-vectors, or auto without attributes) come from the
    # core's text encoder: --encoder reaches the method and the record names the encoder.
    uses_text_encoder: ClassVar[bool] = True
    default_options: ClassVar[dict[str, Any]] = {
        **KernelHashingMethod.default_options,
        "semantics": "auto",
        "alpha": 1.0,
        "beta": 1.0,
        "nu": None,
        "kappa": 1.0,
        "iterations": 10,
        "sweeps": 3,
    }

    def learn(self, phi, data: TrainData, context: RunContext, rng, callback=None) -> None:
        o = self.options
        alpha = positive_float("opzh", "alpha", o["alpha"])
        beta = positive_float("opzh", "beta", o["beta"])
        kappa = positive_float("opzh", "kappa", o["kappa"])
        n, m = phi.shape
        nu = data.num_classes / n if o["nu"] is None else positive_float("opzh", "nu", o["nu"])
        iterations = positive_int("opzh", "iterations", o["iterations"])
        sweeps = positive_int("opzh", "sweeps", o["sweeps"])
        c = class_semantic_vectors(data, context, o["semantics"])
        y = one_hot(data.labels, data.num_classes)
        h = np.where(c @ rng.standard_normal((c.shape[1], self.bits)) >= 0, 1.0, -1.0)
        attribute_fit = np.linalg.solve(c.T @ c + (beta / alpha) * np.eye(c.shape[1]), c.T)
        image_fit = np.linalg.solve(phi.T @ phi + kappa * np.eye(m), phi.T)
        self.weights_ = dict(alpha=alpha, beta=beta, nu=nu, kappa=kappa)
        self.objective_history_ = []
        for t in range(iterations):
            q = attribute_fit @ h
            p = image_fit @ (y @ h)
            if callback is not None:
                callback(t, "qp", h, q, p)
            h = update_class_codes(h, alpha * (c @ q) + nu * (y.T @ (phi @ p)), sweeps)
            self.objective_history_.append(
                opzh_objective(h, q, p, phi, y, c, alpha, beta, nu, kappa)
            )
            if callback is not None:
                callback(t, "h", h, q, p)
        self.semantic_, self.class_codes_ = c, h
        self.projection_ = image_fit @ (y @ h)
