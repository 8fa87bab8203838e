"""ASZH: Zero-Shot Hashing via an Asymmetric Ratio Similarity Matrix.

Y. Shi, X. Nie, X. Liu, L. Yang and Y. Yin, "Zero-Shot Hashing via Asymmetric Ratio Similarity
Matrix", IEEE TKDE 35(5), 2023, pp. 5426-5437 (the RAZH paper's ref. [18]). Followed through
public reading notes of the paper, which give its model (Eq. 9 there, row-per-image notation)::

    min_{B,Z,P,W}  ‖K S − B Zᵀ‖² + λ ‖φ(X) P − B‖² + α ‖B − Z‖² + β ‖P‖² + γ ‖Y W − B‖² + μ ‖W‖²
    s.t.  B ∈ {−1, 1}^{n×K},  1ᵀZ = 0,  ZᵀZ = n I

where, unlike every symmetric hashing loss, s_ij = r_s for images of the same class and r_d
for different classes with |r_s| ≠ |r_d| (the "asymmetric ratio" r_s/r_d = n/−1, n > 1): the
inner products of same-class codes can never reach K·r_s, so the loss keeps pushing different
classes apart instead of over-fitting the seen classes' similarities (the paper's Sec. 3.2).
ASZH uses only the seen classes' labels — no attributes or word vectors (the notes: "only
class labels, no semantic or attribute information"); it is zero-shot by its training target.

The model is SCDH's (:mod:`plugins.linear.scdh`) plus the label regression γ‖YW − B‖² + μ‖W‖², and
is
solved by the same exact steps plus W = (YᵀY + (μ/γ) I)⁻¹ YᵀB.

A consequence worth knowing (ours, not the paper's): with S = (r_s − r_d) YYᵀ + r_d 11ᵀ and the
balance constraint 1ᵀZ = 0, S Z = (r_s − r_d) Y YᵀZ and J S B = (r_s − r_d) J Y YᵀB, so r_d's
all-ones part drops out of both the B- and Z-steps: in this solver the ratio acts only through
the scale r_s − r_d of the similarity term relative to α, λ and γ.

Choices left open, with our defaults: r_s = 2, r_d = −1 (a ratio 2/−1 on the paper's
favourable side; its per-data-set values were not reachable); γ = 1 in SCDH's units of K·n/c,
μ = γ, and SCDH's α, λ, β and 10 iterations; random initial B from ``context.seed``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from plugins.linear.common.kernel_hashing import positive_float
from plugins.linear.scdh import SCDH, ConstrainedWeights, symmetric_class_similarity
from zshbench.errors import ZshbenchError
from zshbench.hookspecs import hookimpl
from zshbench.method import TrainData
from zshbench.registry import MethodSpec

CITATION = (
    "Y. Shi, X. Nie, X. Liu, L. Yang and Y. Yin. Zero-Shot Hashing via Asymmetric Ratio "
    "Similarity Matrix. IEEE TKDE 35(5), 2023, pp. 5426-5437"
)


@hookimpl
def zshbench_register_methods() -> list[MethodSpec]:
    return [
        MethodSpec(
            "aszh",
            "plugins.linear.aszh:ASZH",
            summary="Zero-shot hashing with an asymmetric ratio similarity matrix (Shi et al.)",
            family="linear",
            citation=CITATION,
            zero_shot=True,
        )
    ]


class ASZH(SCDH):
    """ASZH on RBF anchor features of extractor features.

    Options: ``similar`` (r_s) and ``dissimilar`` (r_d), the two values of S; ``gamma`` (γ,
    label regression, in units of K·n/c like SCDH's α and λ; its ridge μ = ridge·γ); SCDH's
    ``alpha``, ``lam``, ``ridge``, ``iterations``; ``anchors`` / ``sigma`` and the extractor
    options.
    """

    default_options: ClassVar[dict[str, Any]] = {
        **SCDH.default_options,
        "similar": 2.0,
        "dissimilar": -1.0,
        "gamma": 1.0,
    }

    def weights(self, n: int, classes: int) -> ConstrainedWeights:
        weights = super().weights(n, classes)
        weights.gamma = positive_float("aszh", "gamma", self.options["gamma"]) * (
            self.bits * n / classes
        )
        weights.mu = positive_float("aszh", "ridge", self.options["ridge"]) * weights.gamma
        return weights

    def class_similarity(self, phi: np.ndarray, data: TrainData) -> np.ndarray:
        similar, dissimilar = self.options["similar"], self.options["dissimilar"]
        try:
            similar, dissimilar = float(similar), float(dissimilar)
        except (TypeError, ValueError):
            raise ZshbenchError(
                f"aszh: similar and dissimilar must be numbers, not {similar!r}, {dissimilar!r}"
            ) from None
        if not similar > dissimilar:
            raise ZshbenchError(
                f"aszh: similar ({similar}) must be larger than dissimilar ({dissimilar})",
                "The paper's ratio is n/-1 with n > 1, e.g. similar=2 dissimilar=-1.",
            )
        return symmetric_class_similarity(data.num_classes, similar, dissimilar)
