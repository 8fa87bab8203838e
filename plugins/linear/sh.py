"""SH: Spectral Hashing with analytical eigenfunctions of a uniform distribution.

Weiss, Torralba & Fergus, "Spectral Hashing", NIPS 2008. Codes should be balanced,
uncorrelated bits that keep neighbours close; relaxed, that is the graph-Laplacian eigenproblem,
and for data uniform on a box its eigenfunctions are known in closed form (paper Sec. 3):

1. PCA of the centred training features to d = min(K, D) directions (``x`` below is a PCA
   coordinate; the paper: "find the principal components of the data").
2. Per direction, fit a box [a, b] to the training data (its min and max).
3. One-dimensional eigenfunctions and eigenvalues on [a, b] (the paper's analytical
   eigenfunctions of the uniform distribution)::

       Φ_k(x) = sin(π/2 + kπ/(b − a) · (x − a))
       λ_k    = 1 − exp(−ε²/2 · |kπ/(b − a)|²),          k = 1, 2, ...

   (x is measured from a, as in the authors' reference code; k = 0 is the constant function
   and is never used). λ_k grows with ω = kπ/(b − a), so ε does not change the choice.
4. List the K smallest eigenvalues of every direction (a d·K list of (direction, k) modes),
   sort it, and keep the K smallest overall: one bit per chosen mode. Wide directions give
   several bits (k = 1, 2, ... cut them into finer stripes), narrow ones none. Ties go to the
   lower direction, then the lower k (a stable sort of the list in that order).
5. Bit j of x is sgn(Φ_{k_j}(x_{i_j})), thresholding the eigenfunction at zero (sgn(0) = −1,
   as the reference code's ``U > 0``). Only single-direction eigenfunctions are used, as in
   the paper's algorithm (its Sec. 3 summary), not their outer products.

Bits larger than the feature dimension need nothing special: d = min(K, D) directions supply
K modes between them (e.g. 128 bits on 64-d digits pixels works).

PCA is scikit-learn's exact solver; steps 2-5 are hand-rolled (none of our dependencies
implements SH), and :func:`spectral_modes` is exposed so tests can compare it with a
brute-force enumeration.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from zshbench.errors import ZshbenchError
from zshbench.features import FeatureHashingMethod, fit_pca
from zshbench.hookspecs import hookimpl
from zshbench.method import ImageView, RunContext, TrainData
from zshbench.registry import MethodSpec


@hookimpl
def zshbench_register_methods() -> list[MethodSpec]:
    return [
        MethodSpec(
            "sh",
            "plugins.linear.sh:SH",
            summary="Spectral Hashing: PCA + analytical eigenfunctions (Weiss et al., NIPS 2008)",
            family="linear",
            citation=("Y. Weiss, A. Torralba and R. Fergus. Spectral Hashing. NIPS 2008"),
        )
    ]


def spectral_modes(ranges: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``bits`` smallest single-direction modes for box widths ``ranges`` = b − a.

    Returns (directions, k): bit j uses Φ_{k[j]} on PCA direction ``directions[j]``, in
    increasing order of eigenvalue (ties: lower direction, then lower k).
    """
    ranges = np.asarray(ranges, dtype=np.float64)
    d = len(ranges)
    directions = np.repeat(np.arange(d), bits)  # direction-major: (0,1), (0,2), ..., (1,1), ...
    ks = np.tile(np.arange(1, bits + 1), d)
    omega_squared = (ks * np.pi / ranges[directions]) ** 2  # λ is increasing in ω²
    order = np.argsort(omega_squared, kind="stable")[:bits]
    return directions[order], ks[order]


class SH(FeatureHashingMethod):
    """Spectral Hashing on extractor features.

    Options: ``extractor`` / ``extractor_options`` (see :class:`FeatureHashingMethod`).
    Fitted state: ``mean_``, ``projection_`` (PCA), box ``lower_``/``upper_`` per direction,
    and the chosen modes ``directions_``/``modes_``.
    """

    default_options: ClassVar[dict[str, Any]] = {**FeatureHashingMethod.default_options}

    def fit(self, data: TrainData, context: RunContext) -> None:
        features = self.fit_features(data, context)
        n, d = features.shape
        dims = min(self.bits, d, n)
        self.mean_, self.projection_ = fit_pca(features, dims)
        x = (features - self.mean_) @ self.projection_
        # The reference code widens the box by machine epsilon so b − a > 0 for a constant
        # direction; such a direction's modes are then never among the smallest.
        eps = np.finfo(np.float64).eps
        self.lower_ = x.min(axis=0) - eps
        self.upper_ = x.max(axis=0) + eps
        ranges = self.upper_ - self.lower_
        if not np.any(ranges > 1e3 * eps):
            raise ZshbenchError("SH: the training features do not vary (all images identical?)")
        self.directions_, self.modes_ = spectral_modes(ranges, self.bits)

    def eigenfunctions(self, x: np.ndarray) -> np.ndarray:
        """Φ_{k_j}(x_{i_j}) for every chosen mode j: (n, bits) values in [−1, 1]."""
        ranges = self.upper_ - self.lower_
        omega = self.modes_ * np.pi / ranges[self.directions_]
        return np.sin(np.pi / 2 + omega * (x[:, self.directions_] - self.lower_[self.directions_]))

    def encode(self, images: ImageView, context: RunContext) -> np.ndarray:
        x = (self.features(images, context) - self.mean_) @ self.projection_
        return np.where(self.eigenfunctions(x) > 0, 1, -1).astype(np.int8)
