"""What every deep baseline's tests share: two easy image sets on which a learned code must beat
LSH, tiny training settings, and an end-to-end run on digits through the run engine.

Both sets are 8×8 RGB images of four classes. Training uses some images of every class; the
retrieval task (queries and database) is built from *other* images of the same, seen classes:
what is tested is that a method's loss trains the network, not zero-shot transfer.

* :func:`separable_set` (quadrants): each class is brighter by 60 in its own quadrant, under a
  strong per-image colour cast (uniform 0–180 per channel) and pixel noise (σ = 30). The cast
  dominates raw-pixel distances, so LSH's random hyperplanes mostly encode it (mAP 0.35–0.47
  against a chance level of 0.25 over seeds); a network trained on the labels learns to look at
  the bright quadrant.
* :func:`easy_set` (patterns): each class is a fixed random colour pattern; every image is its
  pattern plus independent pixel noise (σ = 110) as large as the patterns' differences, so LSH
  retrieves only part of each class while a network averages the noise away. Its classes carry a
  few binary attributes (SitNet's semantics).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zshbench import runner
from zshbench.datasets.base import ArrayImageSource
from zshbench.evaluation.metrics import mean_average_precision
from zshbench.method import ImageView, RunContext, TrainData

CLASSES = 4
SIDE = 8

# A ViT of 16-d width and one block on 8×8 images (2×2 patches), no augmentation, no warm-up.
TINY_ENCODER = {"embed_dim": 16, "depth": 1, "num_heads": 2, "augment": "none"}

# Enough steps on the quadrant set for every method trained on it: 80 full-batch steps on its 72
# training images. The pairwise methods without balanced pair weights (DSH, DPSH, DSDH) need that
# many: the untrained encoder gives nearly the same output for every image, and their gradient
# is mostly common to all images until the outputs spread (DCH, HashNet and CSQ need a third).
LEARN = {
    **TINY_ENCODER,
    "epochs": 80,
    "batch_size": 72,
    "lr": 3e-3,
    "warmup_epochs": 0.0,
    "selection": "none",
}

# What learns the pattern set in seconds: a fixed 10-epoch schedule on all training images.
EASY_TRAINING = {
    **TINY_ENCODER,
    "epochs": 10,
    "batch_size": 32,
    "lr": 3e-3,
    "warmup_epochs": 1.0,
    "selection": "none",
}

# The smallest end-to-end run on digits: one epoch; selection=retrain (the default), so both
# training phases run.
ON_DIGITS = {**TINY_ENCODER, "epochs": 1, "batch_size": 64, "warmup_epochs": 0.0}
DIGITS_TRAIN, DIGITS_QUERIES, DIGITS_DATABASE = 400, 60, 1337


@dataclass
class EasySet:
    """A training side and a retrieval task on other images of the same classes."""

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


def _split(
    images: np.ndarray,
    labels: np.ndarray,
    train: np.ndarray,
    query: np.ndarray,
    database: np.ndarray,
    class_names: list[str],
    attributes: np.ndarray | None,
    dataset: str,
) -> EasySet:
    source = ArrayImageSource(images)
    data = TrainData(
        images=ImageView(source, train, labels[train]),
        labels=labels[train],
        class_names=class_names,
        attribute_names=[]
        if attributes is None
        else [f"trait {a}" for a in range(len(attributes[0]))],
        class_attributes=attributes,
        binary_class_attributes=attributes,
        validation=None,
        dataset=dataset,
    )
    return EasySet(
        data, ImageView(source, query), labels[query], ImageView(source, database), labels[database]
    )


def separable_set(
    seed: int = 0, train_per: int = 18, query_per: int = 8, db_per: int = 16
) -> EasySet:
    """The quadrant set (module docstring)."""
    rng = np.random.default_rng(seed)
    per_class = train_per + query_per + db_per
    labels = np.repeat(np.arange(CLASSES), per_class)
    cast = rng.uniform(0, 180, size=(len(labels), 1, 1, 3))
    images = cast + rng.normal(0, 30, size=(len(labels), SIDE, SIDE, 3))
    quadrants = [(0, 0), (0, 4), (4, 0), (4, 4)]
    for i, label in enumerate(labels):
        row, col = quadrants[label]
        images[i, row : row + 4, col : col + 4, :] += 60.0
    images = np.clip(images + 40, 0, 255).astype(np.uint8)
    train, query, database = [], [], []
    for label in range(CLASSES):
        members = rng.permutation(np.flatnonzero(labels == label))
        train += list(members[:train_per])
        query += list(members[train_per : train_per + query_per])
        database += list(members[train_per + query_per :])
    return _split(
        images, labels, np.array(train), np.array(query), np.array(database),
        [f"quadrant-{c}" for c in range(CLASSES)], None, "separable-test",
    )  # fmt: skip


def easy_set(seed: int = 0, class_attributes: bool = True) -> EasySet:
    """The pattern set (module docstring): 40 training, 10 query and 30 database images a class."""
    train_per, query_per, db_per = 40, 10, 30
    rng = np.random.default_rng(seed)
    templates = rng.uniform(0, 255, size=(CLASSES, SIDE, SIDE, 3))
    per_class = train_per + query_per + db_per
    labels = np.repeat(np.arange(CLASSES), per_class)
    noise = rng.normal(0.0, 110.0, size=(len(labels), SIDE, SIDE, 3))
    images = np.clip(templates[labels] + noise, 0, 255).round().astype(np.uint8)
    position = np.tile(np.arange(per_class), CLASSES)
    train = np.flatnonzero(position < train_per)
    query = np.flatnonzero((position >= train_per) & (position < train_per + query_per))
    database = np.flatnonzero(position >= train_per + query_per)
    attributes = rng.integers(0, 2, size=(CLASSES, 6)).astype(np.float64)
    attributes[np.arange(CLASSES), np.arange(CLASSES)] = 1.0  # distinct, none all-zero
    return _split(
        images, labels, train, query, database, [f"pattern_{c}" for c in range(CLASSES)],
        attributes if class_attributes else None, "easy-patterns",
    )  # fmt: skip


def retrieval_map(method, easy: EasySet, seed: int = 0) -> float:
    """Fit ``method`` on the set's training images (torch seeded), then its mAP."""
    import torch

    context = RunContext(seed=seed)
    torch.manual_seed(seed)
    method.fit(easy.train, context)
    return easy.map(method, context)


def lsh_map(easy: EasySet, bits: int = 16, seed: int = 0) -> float:
    """LSH on raw pixels, the yardstick on the same task."""
    from plugins.linear.lsh import LSH

    return retrieval_map(LSH(bits), easy, seed)


def run_on_digits(
    tmp_path: Path, method: str, bits: int = 16, encoder: str | None = None, **options: Any
) -> dict[str, Any]:
    """``zshbench run`` of ``method`` on digits, one seed, ON_DIGITS settings; the record."""
    request = runner.RunRequest(
        method=method,
        dataset="digits",
        bits=[bits],
        seeds=[0],
        device="cpu",
        results_dir=tmp_path,
        encoder=encoder,
        options={**ON_DIGITS, **options},
    )
    paths = runner.run(request)
    assert len(paths) == 1 and paths[0].is_file()
    return json.loads(Path(paths[0]).read_text())


def check_record(
    record: dict[str, Any], method: str, bits: int = 16, accuracy_by: str | None = None
) -> dict[str, Any]:
    """What every deep baseline's digits record holds (and, given, how its training accuracy
    was measured); returns its ``config.training``."""
    assert record["method"] == method and record["method_family"] == "deep"
    assert record["bits"] == bits
    scores = [value for key, value in record["metrics"].items() if key.startswith("map@")]
    assert scores and all(0.0 <= score <= 1.0 for score in scores)
    training = record["config"]["training"]
    assert training["selection"] == "retrain" and training["best_epoch"] == 1
    assert training["epochs_run"] == 2  # the selection phase and the retrain
    assert training["images_per_second"] > 0
    assert 0.0 <= training["train_accuracy"] <= 1.0
    if accuracy_by is not None:
        assert training["train_accuracy_by"] == accuracy_by
    assert np.isfinite(list(training["final_losses"].values())).all()
    assert record["config"]["resolved"]["img_size"] == 8
    return training
