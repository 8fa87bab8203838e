"""PCA-Rot: the training-free baseline — frozen features, PCA, a random rotation, sign.

From "Rethinking hashing in the age of pretrained models" (2025), which finds this hard to beat
on frozen pretrained features; it is also ITQ (Gong & Lazebnik, CVPR 2011) stopped before its
first quantisation step, so the gap between the two measures what ITQ's learning adds.

1. Centre the training features with their mean μ and project onto the top c = K principal
   directions W (scikit-learn's PCA, :func:`zshbench.features.fit_pca`).
2. Rotate by a Haar-distributed random orthogonal R ∈ R^{c×c}, drawn from ``context.seed``:
   PCA's leading directions carry most of the variance, and a rotation spreads it evenly over
   the bits, so no bit is a near-constant one.
3. Encode: b = sgn((x − μ)ᵀ W R), with sgn(0) = +1.

Nothing is learned from labels; the only training data used is for μ and W. Works with every
extractor (``-o extractor=timm`` with pretrained weights is its intended use). K ≤ min(D, n),
as for ITQ: the error says what to do otherwise.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from zshbench.errors import ZshbenchError
from zshbench.features import FeatureHashingMethod, fit_pca, sign_codes, wider_extractor_hint
from zshbench.hookspecs import hookimpl
from zshbench.method import ImageView, RunContext, TrainData
from zshbench.registry import MethodSpec

from .itq import random_rotation


@hookimpl
def zshbench_register_methods() -> list[MethodSpec]:
    return [
        MethodSpec(
            "pca-rot",
            "plugins.linear.pca_rot:PCARotation",
            summary="Training-free: PCA of frozen features + a seeded random rotation + sign",
            family="linear",
            citation=(
                "Rethinking hashing in the age of pretrained models (2025): frozen features, "
                "PCA, a random orthogonal rotation, sign"
            ),
        )
    ]


class PCARotation(FeatureHashingMethod):
    """PCA to the code length, a seeded random orthogonal rotation, then sign."""

    codes_within_features: ClassVar[bool] = True
    default_options: ClassVar[dict[str, Any]] = dict(FeatureHashingMethod.default_options)

    def fit(self, data: TrainData, context: RunContext) -> None:
        features = self.fit_features(data, context)
        n, d = features.shape
        if self.bits > min(n, d):
            raise ZshbenchError(
                f"pca-rot projects onto {self.bits} principal directions, but the features have "
                f"only {min(n, d)} ({n} training images × {d} dimensions from extractor "
                f"{self.options['extractor']!r})",
                f"Use at most {min(n, d)} bits, or "
                f"{wider_extractor_hint(self.options['extractor'])}.",
            )
        self.mean_, self.projection_ = fit_pca(features, self.bits)
        self.rotation_ = random_rotation(self.bits, np.random.default_rng(context.seed))

    def encode(self, images: ImageView, context: RunContext) -> np.ndarray:
        v = (self.features(images, context) - self.mean_) @ self.projection_
        return sign_codes(v @ self.rotation_)
