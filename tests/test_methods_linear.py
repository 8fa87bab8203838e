"""LSH, SH and ITQ: their defining properties, checked against independent references.

The data is scikit-learn's real digits (8×8 grayscale, 64-d pixels) in a zero-shot split built
by hand here (seen 0-6 for training, unseen 7-9 for queries), so these tests depend only on the
method API, not on the split code.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from plugins.linear.itq import ITQ, itq_rotation
from plugins.linear.lsh import LSH
from plugins.linear.sh import SH, spectral_modes
from zshbench.datasets.base import ArrayImageSource
from zshbench.errors import ZshbenchError
from zshbench.method import ImageView, RunContext, TrainData
from zshbench.plugin_manager import load_plugins

SEEN = list(range(7))
UNSEEN = [7, 8, 9]


@pytest.fixture(scope="module")
def digits() -> dict:
    data = load_digits()
    images = np.round(data.images * 255 / 16).astype(np.uint8)[..., None]  # (1797, 8, 8, 1)
    labels = data.target.astype(np.int64)
    rng = np.random.default_rng(0)
    train = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:100] for c in SEEN])
    query = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:30] for c in UNSEEN])
    database = np.setdiff1d(np.arange(len(labels)), np.concatenate([train, query]))
    source = ArrayImageSource(images)
    train_data = TrainData(
        images=ImageView(source, train, labels[train]),
        labels=labels[train],
        class_names=[str(c) for c in SEEN],
        attribute_names=[],
        class_attributes=None,
        binary_class_attributes=None,
        validation=None,
        dataset="digits-test",
    )
    return {
        "source": source,
        "labels": labels,
        "train": train_data,
        "query": ImageView(source, query),
        "database": ImageView(source, database),
        "query_labels": labels[query],
        "database_labels": labels[database],
        # What the pixels extractor computes: x / 255 in float64, stored as float32.
        "pixels": (images.reshape(len(images), -1) / 255.0).astype(np.float32).astype(np.float64),
        "train_indices": train,
    }


def brute_force_map(query_codes, query_labels, db_codes, db_labels, seed: int = 0) -> float:
    """mAP over the whole database ranked by Hamming distance, ties in a random order."""
    rng = np.random.default_rng(seed)
    scores = []
    for code, label in zip(query_codes, query_labels, strict=True):
        distance = (code[None, :] != db_codes).sum(axis=1)
        order = np.lexsort((rng.random(len(db_codes)), distance))
        relevant = db_labels[order] == label
        ranks = np.flatnonzero(relevant) + 1
        scores.append(float(np.mean(np.arange(1, len(ranks) + 1) / ranks)) if len(ranks) else 0)
    return float(np.mean(scores))


def fit_encode(method, digits, seed: int = 0):
    context = RunContext(seed=seed)
    method.fit(digits["train"], context)
    return (
        method.encode(digits["query"], context),
        method.encode(digits["database"], context),
    )


def test_registered_through_entry_points():
    plugins = load_plugins()
    for name, cls in (("lsh", LSH), ("sh", SH), ("itq", ITQ)):
        spec = plugins.methods.get(name)
        assert spec.family == "linear"
        assert spec.load() is cls
        assert {"extractor", "extractor_options"} <= set(cls.default_options)


@pytest.mark.parametrize(
    "cls, bits", [(LSH, 32), (SH, 32), (ITQ, 16), (ITQ, 32), (ITQ, 64), (SH, 96), (LSH, 128)]
)
def test_codes_retrieve_unseen_classes_better_than_chance(digits, cls, bits):
    query_codes, db_codes = fit_encode(cls(bits), digits)
    for codes, n in ((query_codes, len(digits["query"])), (db_codes, len(digits["database"]))):
        assert codes.shape == (n, bits)
        assert codes.dtype == np.int8
        assert set(np.unique(codes).tolist()) <= {-1, 1}
    score = brute_force_map(
        query_codes, digits["query_labels"], db_codes, digits["database_labels"]
    )
    chance = float(
        np.mean([np.mean(digits["database_labels"] == q) for q in digits["query_labels"]])
    )
    assert chance < 0.2
    assert score > 2 * chance, (cls.__name__, bits, score, chance)


@pytest.mark.parametrize("cls", [LSH, SH, ITQ])
def test_encoding_is_deterministic_and_per_image(digits, cls):
    context = RunContext(seed=3)
    method = cls(16)
    method.fit(digits["train"], context)
    database = digits["database"]
    codes = method.encode(database, context)
    assert np.array_equal(codes, method.encode(database, context))
    # An image's code does not depend on which other images are encoded with it.
    part = np.arange(5, 400, 7)
    assert np.array_equal(method.encode(database.subset(part), context), codes[part])
    # Refitting with the same seed gives the same hash function.
    again = cls(16)
    again.fit(digits["train"], RunContext(seed=3))
    assert np.array_equal(again.encode(database, context), codes)


def test_lsh_seeded_projection_is_deterministic_and_seed_dependent(digits):
    first = fit_encode(LSH(32), digits, seed=7)[1]
    second = fit_encode(LSH(32), digits, seed=7)[1]
    other = fit_encode(LSH(32), digits, seed=8)[1]
    assert np.array_equal(first, second)
    assert not np.array_equal(first, other)


def test_lsh_is_sign_of_gaussian_projection_of_train_centred_pixels(digits):
    method = LSH(24)
    method.fit(digits["train"], RunContext(seed=11))
    pixels = digits["pixels"]
    mean = pixels[digits["train_indices"]].mean(axis=0)
    hyperplanes = np.random.default_rng(11).standard_normal((64, 24))
    expected = np.where((pixels - mean) @ hyperplanes >= 0, 1, -1)
    everything = ImageView(digits["source"], np.arange(len(pixels)))
    assert np.array_equal(method.encode(everything, RunContext(seed=11)), expected)


def test_lsh_with_pca(digits):
    method = LSH(16, pca_dims=20)
    method.fit(digits["train"], RunContext())
    assert method.projection_.shape == (64, 20)
    assert method.encode(digits["query"], RunContext()).shape == (90, 16)


def test_methods_fit_on_training_images_only(digits):
    method = ITQ(16)
    method.fit(digits["train"], RunContext())
    train_mean = digits["pixels"][digits["train_indices"]].mean(axis=0)
    assert np.allclose(method.mean_, train_mean)
    assert not np.allclose(method.mean_, digits["pixels"].mean(axis=0))


def quantization_loss(v: np.ndarray, codes: np.ndarray, rotation: np.ndarray) -> float:
    return float(np.sum((codes - v @ rotation) ** 2))


def test_itq_objective_never_increases_and_rotation_stays_orthogonal(digits):
    pixels = digits["pixels"][digits["train_indices"]]
    centred = pixels - pixels.mean(axis=0)
    # Independent PCA: eigenvectors of the covariance, top 32.
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(centred, rowvar=False))
    v = centred @ eigenvectors[:, np.argsort(eigenvalues)[::-1][:32]]
    steps: list[tuple[np.ndarray, np.ndarray]] = []
    rotation = itq_rotation(
        v, 50, np.random.default_rng(0), callback=lambda t, b, r: steps.append((b, r))
    )
    assert len(steps) == 50
    assert np.array_equal(rotation, steps[-1][1])
    losses = []
    for t, (codes, r) in enumerate(steps):
        assert np.allclose(r.T @ r, np.eye(32), atol=1e-10)
        if t > 0:  # B_t = sgn(V R_{t-1})
            assert np.array_equal(codes, np.where(v @ steps[t - 1][1] >= 0, 1, -1))
        losses.append(quantization_loss(v, codes, r))
        # The B step given R_t cannot be worse than B_t given R_t.
        next_codes = np.where(v @ r >= 0, 1.0, -1.0)
        assert quantization_loss(v, next_codes, r) <= losses[-1] + 1e-9 * losses[-1]
    losses = np.array(losses)
    assert np.all(np.diff(losses) <= 1e-9 * losses[0])
    assert losses[-1] < losses[0]  # it does learn something
    # A random rotation's loss is worse than ITQ's.
    random_r = np.linalg.qr(np.random.default_rng(5).standard_normal((32, 32)))[0]
    assert quantization_loss(v, np.where(v @ random_r >= 0, 1, -1), random_r) > losses[-1]


def test_itq_procrustes_step_is_optimal():
    """R = Ŝ Sᵀ beats random orthogonal matrices for a fixed B (orthogonal Procrustes)."""
    rng = np.random.default_rng(1)
    v = rng.standard_normal((200, 6))
    steps = []
    itq_rotation(v, 1, rng, callback=lambda t, b, r: steps.append((b, r)))
    codes, best = steps[0]
    best_loss = quantization_loss(v, codes, best)
    for _ in range(200):
        q = np.linalg.qr(rng.standard_normal((6, 6)))[0]
        assert quantization_loss(v, codes, q) >= best_loss - 1e-9


def test_itq_fitted_rotation_is_orthogonal(digits):
    method = ITQ(64)  # as many bits as digits pixels have dimensions
    method.fit(digits["train"], RunContext())
    assert np.allclose(method.rotation_.T @ method.rotation_, np.eye(64), atol=1e-10)


def test_itq_more_bits_than_dimensions_is_a_clear_error(digits):
    with pytest.raises(ZshbenchError, match="at most 64 bits"):
        ITQ(65).fit(digits["train"], RunContext())


def test_unknown_option_is_rejected():
    with pytest.raises(ZshbenchError, match="iterations"):
        ITQ(16, iteration=3)


def brute_force_modes(ranges, bits, epsilon=0.05):
    """Enumerate λ = 1 − exp(−ε²/2 (kπ/(b−a))²) for every direction and k ≤ bits."""
    candidates = []
    for direction, width in enumerate(ranges):
        for k in range(1, bits + 1):
            eigenvalue = -np.expm1(-(epsilon**2) / 2 * (k * np.pi / width) ** 2)
            candidates.append((eigenvalue, direction, k))
    candidates.sort()
    return [(direction, k) for _, direction, k in candidates[:bits]]


@pytest.mark.parametrize("seed", range(5))
def test_sh_chooses_the_smallest_analytical_eigenvalues(seed):
    rng = np.random.default_rng(seed)
    ranges = rng.uniform(0.5, 4.0, size=4)
    for bits in (1, 3, 8, 13):
        directions, ks = spectral_modes(ranges, bits)
        assert list(zip(directions.tolist(), ks.tolist(), strict=True)) == brute_force_modes(
            ranges, bits
        )


def test_sh_ties_go_to_the_lower_direction_then_lower_k():
    # Widths 4 and 2: (direction 0, k=2) and (direction 1, k=1) have the same eigenvalue.
    directions, ks = spectral_modes(np.array([4.0, 2.0, 1.0]), 5)
    assert list(zip(directions.tolist(), ks.tolist(), strict=True)) == [
        (0, 1),
        (0, 2),
        (1, 1),
        (0, 3),
        (0, 4),
    ]


def test_sh_fitted_modes_and_bits_match_the_eigenfunctions(digits):
    method = SH(24)
    method.fit(digits["train"], RunContext())
    ranges = method.upper_ - method.lower_
    assert list(zip(method.directions_.tolist(), method.modes_.tolist(), strict=True)) == (
        brute_force_modes(ranges, 24)
    )
    # The box is the training data's bounding box along each principal direction.
    train_x = (digits["pixels"][digits["train_indices"]] - method.mean_) @ method.projection_
    assert np.allclose(method.lower_, train_x.min(axis=0), atol=1e-9)
    assert np.allclose(method.upper_, train_x.max(axis=0), atol=1e-9)
    # Bits are sgn(sin(π/2 + kπ(x − a)/(b − a))) of the chosen direction, computed directly.
    x = (digits["pixels"][:50] - method.mean_) @ method.projection_
    expected = np.empty((50, 24), dtype=np.int64)
    for j, (i, k) in enumerate(zip(method.directions_, method.modes_, strict=True)):
        phi = np.sin(np.pi / 2 + k * np.pi * (x[:, i] - method.lower_[i]) / ranges[i])
        expected[:, j] = np.where(phi > 0, 1, -1)
    codes = method.encode(ImageView(digits["source"], np.arange(50)), RunContext())
    assert np.array_equal(codes, expected)


def test_sh_allows_more_bits_than_dimensions(digits):
    method = SH(128)
    method.fit(digits["train"], RunContext())
    assert method.projection_.shape == (64, 64)
    assert method.encode(digits["query"], RunContext()).shape == (90, 128)
