"""What the deep baselines' tests share: tiny settings, an easy separable image set on which a
learned code must beat LSH, and an end-to-end run on digits.

The separable set: 8×8 RGB images of four classes, each class brighter by 60 in its own quadrant,
under a strong per-image colour cast (uniform 0–180 per channel) and pixel noise (σ = 30). The
cast dominates raw-pixel distances, so LSH's random hyperplanes mostly encode it (mAP 0.35–0.47
against a chance level of 0.25 over seeds); a network trained on the labels learns to look at
the bright quadrant. Retrieval is scored on held-out images of the *training* classes (queries
and database disjoint from the training images): the test is about whether the loss trains the
network, not about zero-shot transfer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from zshbench.datasets.base import ArrayImageSource
from zshbench.evaluation.metrics import mean_average_precision
from zshbench.method import ImageView, RunContext, TrainData

# A ViT of 16-d width and one block on 8×8 images (2×2 patches), no augmentation, no warm-up.
TINY = {
    "embed_dim": 16,
    "depth": 1,
    "num_heads": 2,
    "batch_size": 32,
    "warmup_epochs": 0.0,
    "augment": "none",
}

# Enough steps on the separable set for every method here: 80 full-batch steps on its 72
# training images. The pairwise methods without balanced pair weights (DSH, DPSH, DSDH) need that
# many: the untrained encoder gives nearly the same output for every image, and their gradient
# is mostly common to all images until the outputs spread (DCH, HashNet and CSQ need a third).
LEARN = {**TINY, "epochs": 80, "batch_size": 72, "lr": 3e-3, "selection": "none"}

CLASSES = 4
QUADRANT_GAIN = 60.0


def separable_set(seed: int = 0, train_per: int = 18, query_per: int = 8, db_per: int = 16):
    """(TrainData, query view, query labels, database view, database labels)."""
    rng = np.random.default_rng(seed)
    per_class = train_per + query_per + db_per
    labels = np.repeat(np.arange(CLASSES), per_class)
    cast = rng.uniform(0, 180, size=(len(labels), 1, 1, 3))
    images = cast + rng.normal(0, 30, size=(len(labels), 8, 8, 3))
    quadrants = [(0, 0), (0, 4), (4, 0), (4, 4)]
    for i, label in enumerate(labels):
        row, col = quadrants[label]
        images[i, row : row + 4, col : col + 4, :] += QUADRANT_GAIN
    images = np.clip(images + 40, 0, 255).astype(np.uint8)
    train, query, database = [], [], []
    for label in range(CLASSES):
        members = rng.permutation(np.flatnonzero(labels == label))
        train += list(members[:train_per])
        query += list(members[train_per : train_per + query_per])
        database += list(members[train_per + query_per :])
    source = ArrayImageSource(images)
    train, query, database = np.array(train), np.array(query), np.array(database)
    data = TrainData(
        images=ImageView(source, train, labels[train]),
        labels=labels[train],
        class_names=[f"quadrant-{c}" for c in range(CLASSES)],
        attribute_names=[],
        class_attributes=None,
        binary_class_attributes=None,
        validation=None,
        dataset="separable-test",
    )
    query_view, database_view = ImageView(source, query), ImageView(source, database)
    return data, query_view, labels[query], database_view, labels[database]


def retrieval_map(method, fixture, seed: int = 0) -> float:
    """Fit ``method`` on the fixture's training images, then mAP (whole database) of its codes."""
    import torch

    data, query, query_labels, database, database_labels = fixture
    context = RunContext(seed=seed)
    torch.manual_seed(seed)
    method.fit(data, context)
    query_codes = method.encode(query, context)
    database_codes = method.encode(database, context)
    return mean_average_precision(
        query_codes, query_labels, database_codes, database_labels, topk=None
    )


def lsh_map(fixture, bits: int = 16, seed: int = 0) -> float:
    from plugins.lsh import LSH

    return retrieval_map(LSH(bits), fixture, seed)


def end_to_end(tmp_path: Path, method: str, bits: int = 16, **options: Any) -> dict[str, Any]:
    """``zshbench run`` of ``method`` on digits with the tiny settings, one epoch; the record."""
    from zshbench import runner

    request = runner.RunRequest(
        method=method,
        dataset="digits",
        bits=[bits],
        seeds=[0],
        device="cpu",
        results_dir=tmp_path,
        options={**TINY, "epochs": 1, "batch_size": 64, **options},
    )
    paths = runner.run(request)
    assert len(paths) == 1 and paths[0].is_file()
    return json.loads(Path(paths[0]).read_text())


def check_record(record: dict[str, Any], method: str, bits: int = 16) -> dict[str, Any]:
    """The fields every deep baseline's record has; returns its training section."""
    assert record["method"] == method and record["bits"] == bits
    assert 0.0 <= record["metrics"]["map@5000"] <= 1.0
    training = record["config"]["training"]
    assert training["selection"] == "retrain" and training["epochs_run"] == 2
    assert training["images_per_second"] > 0 and 0.0 <= training["train_accuracy"] <= 1.0
    assert training["train_accuracy_by"] == "nearest class-centre code"
    assert all(np.isfinite(v) for v in training["final_losses"].values())
    return training
