"""ITQ: PCA followed by an iterative quantisation rotation.

Gong & Lazebnik, "Iterative Quantization: A Procrustean Approach to Learning Binary Codes",
CVPR 2011; Gong, Lazebnik, Gordo & Perronnin, TPAMI 35(12), 2013 (the version the RAZH paper
cites). This is the unsupervised "PCA-ITQ" variant.

1. Centre the training features with their mean μ and project onto the top c = K principal
   directions W: V = (X − μ) W ∈ R^{n×c}.
2. Find binary codes B ∈ {−1, 1}^{n×c} and an orthogonal R ∈ R^{c×c} minimising the
   quantisation loss Q(B, R) = ‖B − V R‖²_F, alternating from a random
   orthogonal R (Haar-distributed, drawn from ``context.seed``):
   * fix R:  B = sgn(V R);
   * fix B:  orthogonal Procrustes; with the SVD Bᵀ V = S Ω Ŝᵀ, R = Ŝ Sᵀ.
   Neither step can increase Q, so Q is non-increasing; the paper uses 50 iterations.
3. Encode: b = sgn((x − μ)ᵀ W R), with sgn(0) = +1.

Bits larger than the feature dimension (or than the number of training images): ITQ rotates
the c = K principal directions, so K ≤ min(D, n) is needed. We raise a clear error rather than pad
with made-up dimensions, which would report a different method under ITQ's name; the error
suggests fewer bits, a richer extractor, or LSH/SH (which allow K > D). Digits pixels are 64-d,
so 16/32/64 bits work there.

PCA is scikit-learn's exact solver; the alternation is hand-rolled (a dozen numpy lines; none of
our dependencies implements ITQ) and exposed as :func:`itq_rotation` so tests can check each step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from zshbench.errors import ZshbenchError
from zshbench.features import FeatureHashingMethod, fit_pca, sign_codes, wider_extractor_hint
from zshbench.hookspecs import hookimpl
from zshbench.method import ImageView, RunContext, TrainData
from zshbench.options import Option
from zshbench.registry import MethodSpec


@hookimpl
def zshbench_register_methods() -> list[MethodSpec]:
    return [
        MethodSpec(
            "itq",
            "plugins.linear.itq:ITQ",
            summary="PCA + iterative quantisation rotation (Gong & Lazebnik, CVPR 2011)",
            family="linear",
            citation=(
                "Y. Gong, S. Lazebnik, A. Gordo and F. Perronnin. Iterative Quantization: A "
                "Procrustean Approach to Learning Binary Codes for Large-Scale Image Retrieval. "
                "IEEE TPAMI 35(12), 2013"
            ),
        )
    ]


def random_rotation(size: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-distributed random orthogonal matrix (QR of a Gaussian with the sign fix)."""
    q, r = np.linalg.qr(rng.standard_normal((size, size)))
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)


def itq_rotation(
    v: np.ndarray,
    iterations: int,
    rng: np.random.Generator,
    callback: Callable[[int, np.ndarray, np.ndarray], None] | None = None,
) -> np.ndarray:
    """The ITQ rotation R (c, c) of PCA-projected training data ``v`` (n, c).

    ``callback(t, B_t, R_t)`` is called after iteration t with B_t = sgn(V R_{t−1}) and the
    Procrustes solution R_t for that B_t.
    """
    rotation = random_rotation(v.shape[1], rng)
    for iteration in range(int(iterations)):
        codes = np.where(v @ rotation >= 0, 1.0, -1.0)  # fix R, update B
        s, _, s_hat_t = np.linalg.svd(codes.T @ v)  # Bᵀ V = S Ω Ŝᵀ
        rotation = s_hat_t.T @ s.T  # fix B, update R = Ŝ Sᵀ
        if callback is not None:
            callback(iteration, codes, rotation)
    return rotation


class ITQ(FeatureHashingMethod):
    """PCA-ITQ on extractor features.

    Options: ``extractor`` / ``extractor_options`` (see :class:`FeatureHashingMethod`);
    ``iterations``: alternations of the B and R steps (paper: 50).
    """

    codes_within_features: ClassVar[bool] = True
    default_options: ClassVar[dict[str, Any]] = {
        **FeatureHashingMethod.default_options,
        "iterations": Option(50, minimum=0, help="alternations of the B and R steps (paper: 50)"),
    }

    def fit(self, data: TrainData, context: RunContext) -> None:
        features = self.fit_features(data, context)
        n, d = features.shape
        if self.bits > min(n, d):
            raise ZshbenchError(
                f"ITQ rotates {self.bits} principal directions, but the features have only "
                f"{min(n, d)} ({n} training images × {d} dimensions from extractor "
                f"{self.options['extractor']!r})",
                f"Use at most {min(n, d)} bits, "
                f"{wider_extractor_hint(self.options['extractor'])}, "
                "or LSH/SH, which allow more bits than dimensions.",
            )
        self.mean_, self.projection_ = fit_pca(features, self.bits)
        v = (features - self.mean_) @ self.projection_
        rng = np.random.default_rng(context.seed)
        self.rotation_ = itq_rotation(v, self.options["iterations"], rng)

    def encode(self, images: ImageView, context: RunContext) -> np.ndarray:
        v = (self.features(images, context) - self.mean_) @ self.projection_
        return sign_codes(v @ self.rotation_)
