"""LSH: sign random projections (random hyperplanes), the data-independent baseline.

Gionis, Indyk & Motwani, "Similarity Search in High Dimensions via Hashing", VLDB 1999, and
Andoni & Indyk, "Near-Optimal Hashing Algorithms for Approximate Nearest Neighbor in High
Dimensions", CACM 2008 (the reference the RAZH paper gives for its LSH baseline). For binary
codes the bit function is Charikar's random hyperplane, "Similarity Estimation Techniques from
Rounding Algorithms", STOC 2002: with w ~ N(0, I), P[sgn(wᵀx) ≠ sgn(wᵀy)] = θ(x, y) / π, so the
Hamming distance of K such bits estimates the angle between x and y.

    x̃ = x − μ_train            (centring with the *training* mean: the hyperplanes then pass
                                 through the data's centre; on non-negative features such as
                                 pixels, uncentred hyperplanes give many near-constant bits)
    x̃ ← Pᵀ x̃                   (optional PCA to ``pca_dims``, P fitted on training images)
    b = sgn(Wᵀ x̃),  W ∈ R^{D×K}, W_ij ~ N(0, 1) drawn from ``context.seed``

Nothing is learned but μ (and P); any number of bits works, also more than the feature size.
Hand-rolled: it is three lines of numpy; PCA is scikit-learn's (see
``plugins.features.image_extractors``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from zshbench.features import FeatureHashingMethod, fit_pca, sign_codes
from zshbench.hookspecs import hookimpl
from zshbench.method import ImageView, RunContext, TrainData
from zshbench.options import Option
from zshbench.registry import MethodSpec


@hookimpl
def zshbench_register_methods() -> list[MethodSpec]:
    return [
        MethodSpec(
            "lsh",
            "plugins.linear.lsh:LSH",
            summary="Sign random projections of centred features (Charikar 2002)",
            family="linear",
            citation=(
                "A. Andoni and P. Indyk. Near-Optimal Hashing Algorithms for Approximate Nearest "
                "Neighbor in High Dimensions. CACM 51(1), 2008 (bits: M. Charikar, STOC 2002)"
            ),
        )
    ]


class LSH(FeatureHashingMethod):
    """Random-hyperplane LSH on extractor features.

    Options: ``extractor`` / ``extractor_options`` (see :class:`FeatureHashingMethod`);
    ``pca_dims``: project to this many principal directions first (None: no PCA).
    """

    default_options: ClassVar[dict[str, Any]] = {
        **FeatureHashingMethod.default_options,
        "pca_dims": Option(
            None, kind="integer", minimum=1, help="PCA to this many directions first (null: none)"
        ),
    }

    def fit(self, data: TrainData, context: RunContext) -> None:
        features = self.fit_features(data, context)
        self.projection_: np.ndarray | None = None  # None: hash the centred features directly
        if self.options["pca_dims"] is None:
            self.mean_ = features.mean(axis=0)
        else:
            self.mean_, self.projection_ = fit_pca(features, self.options["pca_dims"])
        dims = features.shape[1] if self.projection_ is None else self.projection_.shape[1]
        rng = np.random.default_rng(context.seed)
        self.hyperplanes_ = rng.standard_normal((dims, self.bits))

    def encode(self, images: ImageView, context: RunContext) -> np.ndarray:
        centred = self.features(images, context) - self.mean_
        if self.projection_ is not None:
            centred = centred @ self.projection_
        return sign_codes(centred @ self.hyperplanes_)
