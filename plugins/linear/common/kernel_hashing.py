"""The RBF anchor map and the base class shared by the kernel-based linear hashing methods.

SDH, FSSH, SCDH, ASZH, SASH, TSK, AH and OPZH all learn a linear hash function on a nonlinear
feature map of the input, h(x) = sgn(Pᵀ φ(x)), with φ the RBF kernel against m anchor points
drawn from the training set (Shen et al., "Supervised Discrete Hashing", CVPR 2015, Sec. 3;
the same map is used by the official FSSH, TSK and SCDH_K code)::

    φ(x) = [exp(−‖x − a_1‖² / (2σ²)), ..., exp(−‖x − a_m‖² / (2σ²))]

Choices the papers leave to the data, made here once for all of them:

* anchors: ``anchors`` = 1000 (every paper's value), or all training images when there are
  fewer; drawn without replacement from the training images with ``context.seed``.
* width: 2σ² = the mean squared distance between training images and anchors (the official
  TSK code's rule; SDH's demo fixes σ = 0.4 for features normalised to unit length, which
  does not carry over to pixels or CNN features). ``sigma`` overrides it.
* centring: φ is centred with its training mean (as KSH and SCDH_K centre the kernel), so the
  linear projection needs no bias and sgn splits around the training data's centre; TSK's
  code appends a constant 1 instead, which ``bias=True`` reproduces.

The kernel itself is scikit-learn's ``rbf_kernel``; nothing here is hand-rolled beyond the
anchor draw and the width rule.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from zshbench.errors import ZshbenchError
from zshbench.features import FeatureHashingMethod, sign_codes
from zshbench.method import ImageView, RunContext, TrainData


class RBFAnchorMap:
    """φ(x): RBF kernel values against anchors drawn from the training features."""

    def __init__(self, anchors: int = 1000, sigma: float | None = None, bias: bool = False):
        if int(anchors) < 1:
            raise ZshbenchError(f"anchors must be a positive integer, not {anchors!r}")
        if sigma is not None and not float(sigma) > 0:
            raise ZshbenchError(f"sigma must be positive (or null for the data rule), not {sigma}")
        self.anchors = int(anchors)
        self.sigma = None if sigma is None else float(sigma)
        self.bias = bool(bias)

    def fit(self, features: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Choose anchors and width on the training ``features``; return their φ (n, m[+1])."""
        from sklearn.metrics.pairwise import euclidean_distances

        n = len(features)
        chosen = rng.choice(n, size=min(self.anchors, n), replace=False)
        self.anchors_ = features[np.sort(chosen)]
        if self.sigma is None:
            squared = euclidean_distances(features, self.anchors_, squared=True)
            mean = float(squared.mean())
            self.gamma_ = 1.0 / mean if mean > 0 else 1.0  # exp(−d² / mean d²)
        else:
            self.gamma_ = 1.0 / (2.0 * self.sigma**2)
        self.mean_ = np.zeros(len(self.anchors_))
        raw = self._kernel(features)
        if not self.bias:
            self.mean_ = raw.mean(axis=0)
        return self.transform(features, _raw=raw)

    def _kernel(self, features: np.ndarray) -> np.ndarray:
        from sklearn.metrics.pairwise import rbf_kernel

        return rbf_kernel(features, self.anchors_, gamma=self.gamma_)

    def transform(self, features: np.ndarray, _raw: np.ndarray | None = None) -> np.ndarray:
        raw = self._kernel(features) if _raw is None else _raw
        if self.bias:
            return np.hstack([raw, np.ones((len(raw), 1))])
        return raw - self.mean_


class KernelHashingMethod(FeatureHashingMethod):
    """Base of the methods whose hash function is h(x) = sgn(Pᵀ φ(x)) on RBF anchor features.

    Options (besides ``extractor`` / ``extractor_options``): ``anchors`` (m, default 1000),
    ``sigma`` (RBF width; null: 2σ² = mean squared distance to the anchors), ``iterations``
    (outer alternations). A subclass implements :meth:`learn` and sets ``projection_`` (P); one
    whose alternation is a descent also records ``objective_history_``, its objective (written
    from the paper's equation) after each outer iteration, so tests can hold the solver to it.
    """

    default_options: ClassVar[dict[str, Any]] = {
        **FeatureHashingMethod.default_options,
        "anchors": 1000,
        "sigma": None,
    }
    kernel_bias: ClassVar[bool] = False

    def fit(self, data: TrainData, context: RunContext) -> None:
        features = self.fit_features(data, context)
        rng = np.random.default_rng(context.seed)
        self.kernel_ = RBFAnchorMap(
            self.options["anchors"], self.options["sigma"], self.kernel_bias
        )
        phi = self.kernel_.fit(features, rng)
        self.learn(phi, data, context, rng)

    def learn(
        self, phi: np.ndarray, data: TrainData, context: RunContext, rng: np.random.Generator
    ) -> None:
        """Learn ``projection_`` (m, bits) from the training φ (n, m) and the labels."""
        raise NotImplementedError

    def kernel_features(self, images: ImageView, context: RunContext) -> np.ndarray:
        return self.kernel_.transform(self.features(images, context))

    def encode(self, images: ImageView, context: RunContext) -> np.ndarray:
        return sign_codes(self.kernel_features(images, context) @ self.projection_)

    def config(self) -> dict[str, Any]:
        """The options, plus the method's objective after its last iteration once fitted (a
        subclass whose alternation is a descent records ``objective_history_``, one value per
        outer iteration), so a record shows where the solver stopped."""
        history = getattr(self, "objective_history_", None)
        return {**super().config(), **({"objective": history[-1]} if history else {})}


def ridge_for(nu: float, n: int) -> float:
    """ε for a hash-function fit ν‖B − φP‖² + ε‖P‖² that keeps TSK's code's ratio per image.

    The TSK code sets ε = 10³·ν for 10,000 training images; φᵀφ grows with n, so at n images
    the same relative regularisation is ε = ν · 0.1 · n (24ν for 240 images, 114ν for
    cub-mini64's 1,140).
    """
    return nu * 0.1 * n


def hash_fit_ridge(owner: str, epsilon: Any, nu: float, n: int) -> float:
    """ε of the hash-function fit: the ``epsilon`` option, or :func:`ridge_for` when it is null."""
    return ridge_for(nu, n) if epsilon is None else positive_float(owner, "epsilon", epsilon)


def one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(n, c) float64 indicator matrix of ``labels``."""
    out = np.zeros((len(labels), num_classes))
    out[np.arange(len(labels)), np.asarray(labels, dtype=np.int64)] = 1.0
    return out


def positive_int(owner: str, name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int ≥ ``minimum``, or a one-line error naming the option."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ZshbenchError(f"{owner}: {name} must be an integer >= {minimum}, not {value!r}")
    return int(value)


def positive_float(owner: str, name: str, value: Any, allow_zero: bool = False) -> float:
    """``value`` as a float > 0 (≥ 0 with ``allow_zero``), or a one-line error."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if (
        isinstance(value, bool)
        or not np.isfinite(number)
        or number < 0
        or (number == 0 and not allow_zero)
    ):
        bound = ">= 0" if allow_zero else "> 0"
        raise ZshbenchError(f"{owner}: {name} must be a finite number {bound}, not {value!r}")
    return number
