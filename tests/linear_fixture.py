"""A small zero-shot fixture for the linear methods, with a known class structure.

Each image is a 24-d vector stored as a (4, 6, 1) uint8 "image", so the ``pixels`` extractor
returns it (÷255). Classes differ only in the first 6 dimensions, where every class mean is a
linear function of the class's 8 binary attributes (so attributes do transfer to unseen
classes); the other 18 dimensions are class-independent noise of about the class signal's size,
which random projections (LSH) cannot tell from it but a supervised method learns to ignore.
Seen classes 0-5 train; unseen classes 6-8 are queries and database.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zshbench.datasets.base import ArrayImageSource
from zshbench.method import ImageView, RunContext, TrainData

SEEN = 6
UNSEEN = 3
ATTRIBUTES = 8
NOISE = 20.0


@dataclass
class Fixture:
    train: TrainData
    query: ImageView
    database: ImageView
    query_labels: np.ndarray
    database_labels: np.ndarray
    attributes: np.ndarray  # (SEEN + UNSEEN, ATTRIBUTES)


def make_fixture(per_class: int = 40, seed: int = 0) -> Fixture:
    rng = np.random.default_rng(seed)
    classes = SEEN + UNSEEN
    attributes = rng.integers(0, 2, size=(classes, ATTRIBUTES)).astype(float)
    attributes[np.arange(classes), rng.integers(0, ATTRIBUTES, classes)] = 1.0  # none empty
    mixing = rng.standard_normal((ATTRIBUTES, 6))
    means = attributes @ mixing
    means = 40.0 * (means - means.mean(axis=0)) / means.std()
    labels = np.repeat(np.arange(classes), per_class)
    signal = means[labels] + 6.0 * rng.standard_normal((len(labels), 6))
    noise = NOISE * rng.standard_normal((len(labels), 18))
    values = np.clip(128 + np.hstack([signal, noise]), 0, 255)
    images = np.round(values).astype(np.uint8).reshape(len(labels), 4, 6, 1)
    source = ArrayImageSource(images)
    train = np.flatnonzero(labels < SEEN)
    unseen = np.flatnonzero(labels >= SEEN)
    query = np.concatenate([unseen[labels[unseen] == c][:8] for c in range(SEEN, classes)])
    database = np.setdiff1d(unseen, query)
    train_data = TrainData(
        images=ImageView(source, train, labels[train]),
        labels=labels[train],
        class_names=[f"class {c}" for c in range(SEEN)],
        attribute_names=[f"attribute {a}" for a in range(ATTRIBUTES)],
        class_attributes=attributes[:SEEN],
        binary_class_attributes=attributes[:SEEN],
        validation=None,
        dataset="linear-fixture",
    )
    return Fixture(
        train=train_data,
        query=ImageView(source, query),
        database=ImageView(source, database),
        query_labels=labels[query],
        database_labels=labels[database],
        attributes=attributes,
    )


def unseen_map(method, fixture: Fixture, seed: int = 0) -> float:
    """mAP over the whole (unseen-class) database of ``method`` fitted on the seen classes."""
    from zshbench.evaluation.metrics import mean_average_precision

    context = RunContext(seed=seed, encoder="hashing")
    method.fit(fixture.train, context)
    return float(
        mean_average_precision(
            method.encode(fixture.query, context),
            fixture.query_labels,
            method.encode(fixture.database, context),
            fixture.database_labels,
            topk=None,
        )
    )
