"""Checks every deep baseline's tests share: it learns an easy separable set better than LSH,
and it runs end to end on digits through the run engine.

The easy set: each class is a fixed random colour pattern (8×8×3); every image is its class's
pattern plus strong independent pixel noise. The classes are separable (a network averages the
noise away), but the noise is as large as the patterns' differences, so hashing raw pixels with
random hyperplanes (LSH) retrieves only part of each class. Training uses the first images of every
class; the retrieval task (queries and database) is built from *other* images of the same,
seen classes: what is tested is that a method learns, not zero-shot transfer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zshbench import runner
from zshbench.datasets.base import ArrayImageSource
from zshbench.evaluation.metrics import mean_average_precision
from zshbench.method import ImageView, RunContext, TrainData

CLASSES = 4
TRAIN_PER_CLASS = 40
QUERIES_PER_CLASS = 10
DATABASE_PER_CLASS = 30
SIDE = 8
NOISE = 110.0


@dataclass
class EasySet:
    train: TrainData
    query: ImageView
    query_labels: np.ndarray
    database: ImageView
    database_labels: np.ndarray

    def map(self, method, context: RunContext) -> float:
        """mAP over the whole database of ``method``'s codes (after ``method.fit``)."""
        return float(
            mean_average_precision(
                np.asarray(method.encode(self.query, context)),
                self.query_labels,
                np.asarray(method.encode(self.database, context)),
                self.database_labels,
                topk=len(self.database_labels),
            )
        )


def easy_set(seed: int = 0, class_attributes: bool = True) -> EasySet:
    rng = np.random.default_rng(seed)
    templates = rng.uniform(0, 255, size=(CLASSES, SIDE, SIDE, 3))
    per_class = TRAIN_PER_CLASS + QUERIES_PER_CLASS + DATABASE_PER_CLASS
    labels = np.repeat(np.arange(CLASSES), per_class)
    noise = rng.normal(0.0, NOISE, size=(len(labels), SIDE, SIDE, 3))
    images = np.clip(templates[labels] + noise, 0, 255).round().astype(np.uint8)
    position = np.tile(np.arange(per_class), CLASSES)
    train = np.flatnonzero(position < TRAIN_PER_CLASS)
    query = np.flatnonzero(
        (position >= TRAIN_PER_CLASS) & (position < TRAIN_PER_CLASS + QUERIES_PER_CLASS)
    )
    database = np.flatnonzero(position >= TRAIN_PER_CLASS + QUERIES_PER_CLASS)
    source = ArrayImageSource(images)
    # class attributes: a few random binary attributes per class (for SitNet's semantics)
    attributes = rng.integers(0, 2, size=(CLASSES, 6)).astype(np.float64)
    attributes[np.arange(CLASSES), np.arange(CLASSES)] = 1.0  # distinct, none all-zero
    data = TrainData(
        images=ImageView(source, train, labels[train]),
        labels=labels[train],
        class_names=[f"pattern_{c}" for c in range(CLASSES)],
        attribute_names=[f"trait {a}" for a in range(attributes.shape[1])],
        class_attributes=attributes if class_attributes else None,
        binary_class_attributes=attributes if class_attributes else None,
        validation=None,
        dataset="easy-patterns",
    )
    return EasySet(
        train=data,
        query=ImageView(source, query),
        query_labels=labels[query],
        database=ImageView(source, database),
        database_labels=labels[database],
    )


def lsh_map(easy: EasySet, bits: int, seed: int = 0) -> float:
    """LSH on raw pixels, the yardstick on the same task."""
    from plugins.lsh import LSH

    method = LSH(bits)
    context = RunContext(seed=seed)
    method.fit(easy.train, context)
    return easy.map(method, context)


# Small settings that learn the easy set in seconds: a 16-wide, one-block encoder, no
# augmentation and no validation split (a fixed schedule on all training images).
EASY_TRAINING = {
    "epochs": 10,
    "batch_size": 32,
    "embed_dim": 16,
    "depth": 1,
    "num_heads": 2,
    "augment": "none",
    "lr": 3e-3,
    "warmup_epochs": 1.0,
    "selection": "none",
}


# The smallest settings an end-to-end run on digits trains with (one epoch of a 16-wide,
# one-block encoder; selection=retrain, the default, so both training phases run).
TINY = {"epochs": 1, "batch_size": 64, "embed_dim": 16, "depth": 1, "num_heads": 2}
DIGITS_TRAIN, DIGITS_QUERIES, DIGITS_DATABASE = 400, 60, 1337


def run_on_digits(tmp_path: Path, method: str, bits: int = 16, **options) -> dict:
    """One seed of ``method`` on digits with TINY settings; the record it wrote."""
    request = runner.RunRequest(
        method=method,
        dataset="digits",
        bits=[bits],
        seeds=[0],
        device="cpu",
        results_dir=tmp_path,
        encoder="hashing",
        options={**TINY, **options},
    )
    paths = runner.run(request)
    assert len(paths) == 1 and paths[0].is_file()
    return json.loads(paths[0].read_text())


def check_digits_record(record: dict, method: str, bits: int = 16) -> dict:
    """What every deep baseline's record holds; returns its ``config.training``."""
    assert record["method"] == method and record["method_family"] == "deep"
    assert record["bits"] == bits
    scores = [value for key, value in record["metrics"].items() if key.startswith("map@")]
    assert scores and all(0.0 <= score <= 1.0 for score in scores)
    training = record["config"]["training"]
    assert training["selection"] == "retrain" and training["best_epoch"] == 1
    assert training["epochs_run"] == 2  # the selection phase and the retrain
    assert training["images_per_second"] > 0
    assert 0.0 <= training["train_accuracy"] <= 1.0
    assert np.isfinite(list(training["final_losses"].values())).all()
    assert record["config"]["resolved"]["img_size"] == 8
    return training
