"""Image feature extractors: the input of linear hashing methods (LSH, SH, ITQ, ...).

Extractors are plugins (hook ``zshbench_register_extractors``) so a method can hash raw pixels
of small images or the features of a frozen timm backbone, chosen by name.
:class:`FeatureHashingMethod` is the base of every method that hashes such features (LSH, SH,
ITQ and the other linear baselines): it builds the named extractor on the training images and
reuses it for every image set encoded later.
"""

from __future__ import annotations

import abc
import time
from typing import Any, ClassVar

import numpy as np

from .errors import ZshbenchError
from .method import HashingMethod, ImageView, RunContext, TrainData
from .options import Option, check_options
from .plugin_manager import load_plugins


class FeatureExtractor(abc.ABC):
    """Maps images to (N, D) float32 features; ``fit`` sees only training images."""

    default_options: ClassVar[dict[str, Any]] = {}

    def __init__(self, **options: Any):
        self.options = check_options(type(self).__name__, self.default_options, options)

    def fit(self, images: ImageView, context: RunContext) -> None:  # noqa: B027 - optional hook
        """Learn anything data-dependent (most extractors need nothing)."""

    def provenance(self, dataset: str) -> dict[str, Any] | None:
        """Where pretrained weights came from (file, sha256, cfg, what they saw), for the
        record's ``config.pretrained``; None (the default) when the extractor has none."""
        return None

    @abc.abstractmethod
    def transform(self, images: ImageView, context: RunContext) -> np.ndarray:
        """(len(images), D) float32 features."""

    def output_dim(self, image_shape: tuple[int, int, int] | None) -> int | None:
        """D for images of ``image_shape`` (H, W, C), known without computing a feature, so a
        code length the features cannot carry is refused before any training; None (the
        default) when it cannot be told up front."""
        return None


def extractor_class(name: str) -> type[FeatureExtractor]:
    """The :class:`FeatureExtractor` subclass registered as ``name``."""
    return load_plugins().extractors.load(name, FeatureExtractor)


def make_extractor(name: str, **options: Any) -> FeatureExtractor:
    """Build the extractor registered as ``name``."""
    return extractor_class(name)(**options)


def wider_extractor_hint(extractor: str) -> str:
    """What to try for more feature dimensions, given the extractor a run already uses."""
    if extractor == "timm":
        return "a timm model with wider features (extractor_options model=...)"
    return "an extractor with more dimensions (e.g. extractor=timm)"


class FeatureHashingMethod(HashingMethod):
    """Base of hashing methods that hash an extractor's features (LSH, SH, ITQ, ...).

    Options ``extractor`` (registered name, default ``pixels``) and ``extractor_options``
    (dict). Both are checked when the method is built, before any data loads: the extractor
    must be registered and its options must fit its own declarations (``self.options`` then
    holds the given extractor options, checked and coerced). ``fit`` builds the extractor and
    fits it on the training images only; ``features`` reuses that same extractor for every
    image set encoded later.
    """

    default_options: ClassVar[dict[str, Any]] = {
        "extractor": Option("pixels", help="registered image feature extractor (zshbench list)"),
        "extractor_options": Option({}, help="the extractor's own options, as a JSON object"),
    }

    # True where every bit needs a feature dimension of its own (PCA-based: ITQ, pca-rot).
    codes_within_features: ClassVar[bool] = False

    extractor_: FeatureExtractor | None = None
    dataset_: str = ""

    def __init__(self, bits: int, **options: Any):
        super().__init__(bits, **options)
        name = self.options["extractor"]
        given = self.options["extractor_options"]
        checked = check_options(f"extractor {name}", extractor_class(name).default_options, given)
        self.options["extractor_options"] = {key: checked[key] for key in given}

    def max_bits(self, images: ImageView) -> int | None:
        """min(D, training images) for a method whose every bit needs a feature dimension,
        with D from the extractor (:meth:`FeatureExtractor.output_dim`); None otherwise."""
        if not self.codes_within_features:
            return None
        options = dict(self.options["extractor_options"] or {})
        dim = make_extractor(self.options["extractor"], **options).output_dim(images.fixed_shape)
        return None if dim is None else min(dim, len(images))

    def max_bits_hint(self) -> str:
        return (
            f"an extractor with more dimensions than {self.options['extractor']!r} (e.g. "
            "-o extractor=timm), or LSH/SH, which allow more bits than dimensions"
        )

    def fit_features(self, data: TrainData, context: RunContext) -> np.ndarray:
        """Build and fit the extractor; return the (n_train, D) float64 training features."""
        if self.bits < 1:
            raise ZshbenchError(f"{type(self).__name__}: bits must be positive, not {self.bits}")
        options = dict(self.options["extractor_options"] or {})
        self.extractor_ = make_extractor(self.options["extractor"], **options)
        self.dataset_ = data.dataset
        started = time.perf_counter()
        self.extractor_.fit(data.images, context)
        fitted = time.perf_counter()
        features = self._checked(self.extractor_.transform(data.images, context))
        # A trained extractor's first record would otherwise count its training in the method's
        # fit time and later ones (loading it from the split's cache) not: say which happened.
        loaded = bool(getattr(self.extractor_, "loaded_from_cache_", False))
        self.extractor_phases_ = {
            "extractor_load_s" if loaded else "extractor_fit_s": round(fitted - started, 4),
            "extractor_features_s": round(time.perf_counter() - fitted, 4),
        }
        return features

    def phase_seconds(self) -> dict[str, float]:
        """The extractor's fit (or cache load) and feature seconds, apart from the hashing."""
        return dict(getattr(self, "extractor_phases_", {}))

    def config(self) -> dict[str, Any]:
        """The method's options, and the extractor's pretrained weights when it has some."""
        config = super().config()
        provenance = self.extractor_.provenance(self.dataset_) if self.extractor_ else None
        if provenance is not None:
            config["pretrained"] = provenance
        note = getattr(self.extractor_, "cache_note", None)
        cache = note() if callable(note) else None
        if cache is not None:  # features from a cached extractor: the record says which file
            config["feature_cache"] = cache
        return config

    def features(self, images: ImageView, context: RunContext) -> np.ndarray:
        """(len(images), D) float64 features from the extractor fitted in ``fit``."""
        if self.extractor_ is None:
            raise ZshbenchError(f"{type(self).__name__}.encode was called before fit")
        return self._checked(self.extractor_.transform(images, context))

    def _checked(self, features: np.ndarray) -> np.ndarray:
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2:
            raise ZshbenchError(f"extractor returned features of shape {features.shape}")
        if not np.isfinite(features).all():
            raise ZshbenchError(
                f"extractor {self.options['extractor']!r} returned non-finite features"
            )
        return features


def sign_codes(values: np.ndarray) -> np.ndarray:
    """int8 codes in {-1, +1}: +1 where ``values >= 0`` (a zero projection gets +1)."""
    return np.where(np.asarray(values) >= 0, 1, -1).astype(np.int8)


def fit_pca(
    features: np.ndarray, dims: int | None, solver: str = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """Training mean (D,) and the top-``dims`` principal directions (D, dims) of ``features``.

    ``dims=None`` keeps every direction the data spans. ``solver="auto"`` picks a solver whose
    cost grows with ``dims`` rather than with the full spectrum, by scikit-learn's own
    ``svd_solver="auto"`` rule: its randomized SVD (Halko et al.; seeded, so deterministic;
    here with ``dims``/2 extra samples and 7 power iterations, which keep the subspace's
    variance within ~1e-6 of the exact one) when fewer than 80 % of the directions are kept on
    data larger than 500 × 500; the exact covariance eigensolver when there are more than 10×
    as many samples as (< 1,000) dimensions; else the exact LAPACK SVD. On 4,000 × 3,072
    CIFAR-sized pixels the full SVD takes tens of seconds to minutes on two shared cores (see
    ``benchmarks/bench_itq_pca.py``). ``solver="full"`` forces the exact SVD. The sign
    convention (``svd_flip``) is scikit-learn's in every case.
    """
    from sklearn.decomposition import PCA

    n, d = features.shape
    limit = min(n, d)
    dims = limit if dims is None else int(dims)
    if not 1 <= dims <= limit:
        raise ZshbenchError(f"PCA to {dims} dimensions needs 1..{limit} (n={n}, D={d})")
    pca = PCA(
        n_components=dims,
        svd_solver=solver,
        random_state=0,
        n_oversamples=max(10, dims // 2),  # only used by the randomized solver: with these
        iterated_power=7,  # two, its subspace is exact to ~1e-6 of the variance on pixels
    ).fit(features)
    return pca.mean_.astype(np.float64), pca.components_.T.astype(np.float64)
