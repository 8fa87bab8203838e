"""Time ITQ's fit with the exact full-SVD PCA against the solver ``fit_pca`` now picks.

    python benchmarks/bench_itq_pca.py [--quick] [--bits 24,48,64,128]

CIFAR-10 scale (SPEC section 1): 4,000 training images of 32 × 32 × 3 = 3,072 pixels. The data
is synthetic but shaped like pixels: smooth random images (a few hundred low-frequency patterns
with decaying variance, plus noise) in [0, 1], so the spectrum decays as natural images' does.

For each code length, ITQ is fitted twice on the same data and seed: once with the reference
(scikit-learn's exact LAPACK SVD, ``svd_solver="full"``, what ITQ used before) and once with
``fit_pca``'s default (``"auto"``: randomized SVD here). Printed: fit time of each, how much of
the exact subspace's variance the fast one misses (relative), and how many training bits the
two fitted ITQs agree on. Exit status 0 when every variance deficit is below 1e-4.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time

import numpy as np

import plugins.linear.itq as itq_module
from plugins.linear.itq import ITQ
from zshbench.datasets.base import ArrayImageSource
from zshbench.features import fit_pca
from zshbench.method import ImageView, RunContext, TrainData


def pixel_like_images(n: int, side: int, seed: int = 0) -> np.ndarray:
    """(n, side, side, 3) uint8 images: sums of smooth random patterns with decaying weights."""
    rng = np.random.default_rng(seed)
    d = side * side * 3
    grid = np.linspace(0.0, 1.0, side)
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    patterns = []
    for k in range(300):
        fy, fx = rng.uniform(0.2, 1.0 + k / 40.0, size=2)
        phase = rng.uniform(0, 2 * np.pi, size=3)
        channels = [np.cos(2 * np.pi * (fy * yy + fx * xx) + p) for p in phase]
        patterns.append(np.stack(channels, axis=-1).reshape(d))
    basis = np.stack(patterns)  # (300, d)
    weights = rng.standard_normal((n, len(basis))) / (1.0 + np.arange(len(basis))) ** 0.75
    values = weights @ basis + 0.05 * rng.standard_normal((n, d))
    values = (values - values.min()) / (values.max() - values.min())
    return np.round(values * 255).astype(np.uint8).reshape(n, side, side, 3)


def train_data(images: np.ndarray) -> TrainData:
    view = ImageView(ArrayImageSource(images), np.arange(len(images)), np.zeros(len(images)))
    return TrainData(
        images=view,
        labels=np.zeros(len(images), np.int64),
        class_names=["all"],
        attribute_names=[],
        class_attributes=None,
        binary_class_attributes=None,
        validation=None,
        dataset="synthetic-pixels",
    )


def fit_itq(data: TrainData, bits: int, solver: str) -> tuple[ITQ, float]:
    """An ITQ fitted with ``solver`` for its PCA, and the wall time of ``fit``."""
    original = itq_module.fit_pca
    itq_module.fit_pca = functools.partial(fit_pca, solver=solver)
    try:
        method = ITQ(bits)
        started = time.perf_counter()
        method.fit(data, RunContext(seed=0))
        return method, time.perf_counter() - started
    finally:
        itq_module.fit_pca = original


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 images of 16 × 16 × 3")
    parser.add_argument("--bits", default="24,48,64,128")
    args = parser.parse_args(argv)
    n, side = (500, 16) if args.quick else (4000, 32)
    bits_list = [int(b) for b in args.bits.split(",")]
    data = train_data(pixel_like_images(n, side))
    print(f"ITQ fit on {n} × {side * side * 3} pixel-like features (50 ITQ iterations)")
    print(f"{'bits':>5} {'full SVD (s)':>13} {'auto (s)':>9} {'speed-up':>9} "
          f"{'variance deficit':>17} {'same train bits':>16}")  # fmt: skip
    ok = True
    for bits in bits_list:
        reference, t_full = fit_itq(data, bits, "full")
        fast, t_auto = fit_itq(data, bits, "auto")
        x = reference.features(data.images, RunContext()) - reference.mean_
        exact = np.sum((x @ reference.projection_) ** 2)
        deficit = float(1.0 - np.sum((x @ fast.projection_) ** 2) / exact)
        codes_ref = reference.encode(data.images, RunContext())
        codes_fast = fast.encode(data.images, RunContext())
        same = float(np.mean(codes_ref == codes_fast))
        ok &= deficit < 1e-4
        print(
            f"{bits:>5} {t_full:>13.2f} {t_auto:>9.2f} {t_full / t_auto:>8.1f}x "
            f"{deficit:>17.1e} {same:>15.1%}"
        )
    print("variance captured within 1e-4 of the exact PCA:", "yes" if ok else "NO")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
