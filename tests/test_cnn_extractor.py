"""The seen-class CNN extractor: trains on the images it is given and nothing else, learns,
and is cached per split, seed and settings so that a sweep trains it once."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from plugins.features.cnn_extractor import SeenClassCNNExtractor, stage_count
from zshbench.datasets.base import ArrayImageSource
from zshbench.method import ImageView, Progress, RunContext
from zshbench.plugin_manager import load_plugins

TINY = {"width": 8, "dim": 16, "epochs": 6, "batch_size": 32}


class SpySource(ArrayImageSource):
    """An image source that remembers which images were read."""

    def __init__(self, images):
        super().__init__(images)
        self.read: set[int] = set()

    def load_many(self, indices):
        self.read.update(int(i) for i in indices)
        return super().load_many(indices)

    def load_stack(self, indices):
        self.read.update(int(i) for i in indices)
        return super().load_stack(indices)


def blob_images(per_class: int = 30, classes: int = 4, seed: int = 0):
    """16 × 16 RGB noise with one 6-px white stroke at a random place; the class is the stroke's
    direction (horizontal, vertical, diagonal, anti-diagonal), so only its shape tells."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), per_class)
    images = rng.integers(0, 190, size=(len(labels), 16, 16, 3)).astype(np.uint8)
    steps = {0: (0, 1), 1: (1, 0), 2: (1, 1), 3: (1, -1)}
    for i, c in enumerate(labels):
        top, left = rng.integers(2, 8), rng.integers(6, 10)
        for t in range(6):
            images[i, top + steps[c][0] * t, left + steps[c][1] * t] = 255
    return images, labels


class Logs(Progress):
    def __init__(self):
        self.lines: list[str] = []

    def log(self, message: str) -> None:
        self.lines.append(message)


@pytest.fixture
def blobs():
    images, labels = blob_images()
    source = SpySource(images)
    train = np.flatnonzero(np.arange(len(labels)) % 3 != 0)
    held = np.flatnonzero(np.arange(len(labels)) % 3 == 0)
    ids = np.array([f"blob-{i}" for i in range(len(labels))])
    return {
        "source": source,
        "train": ImageView(source, train, labels[train], ids[train]),
        "held": ImageView(source, held, None, ids[held]),
        "held_labels": labels[held],
    }


def test_registered_as_an_extractor():
    spec = load_plugins().extractors.get("cnn")
    assert spec.load() is SeenClassCNNExtractor


def test_stages_halve_down_to_four_pixels():
    assert [stage_count(s) for s in (8, 16, 32, 64)] == [1, 2, 3, 4]


def test_fit_reads_only_the_training_images(blobs, one_torch_thread):
    extractor = SeenClassCNNExtractor(**TINY)
    extractor.fit(blobs["train"], RunContext(seed=0))
    assert blobs["source"].read == set(blobs["train"].indices.tolist())


def test_trained_features_separate_held_out_images_of_the_classes(blobs, one_torch_thread):
    def centroid_accuracy(extractor):
        train = extractor.transform(blobs["train"], RunContext())
        held = extractor.transform(blobs["held"], RunContext())
        labels = blobs["train"].labels
        centroids = np.stack([train[labels == c].mean(axis=0) for c in range(4)])
        distances = ((held[:, None, :] - centroids[None]) ** 2).sum(axis=2)
        return float(np.mean(distances.argmin(axis=1) == blobs["held_labels"]))

    untrained = SeenClassCNNExtractor(**{**TINY, "epochs": 0, "layer": "pooled"})
    untrained.fit(blobs["train"], RunContext(seed=0))
    trained = SeenClassCNNExtractor(**{**TINY, "epochs": 30, "layer": "pooled"})
    trained.fit(blobs["train"], RunContext(seed=0))
    features = trained.transform(blobs["held"], RunContext())
    assert features.shape == (len(blobs["held_labels"]), 8 * 2 * 2 * 2)  # 2 stages, 2×2 grid
    assert features.dtype == np.float32
    assert centroid_accuracy(trained) >= 0.9
    assert centroid_accuracy(trained) > centroid_accuracy(untrained) + 0.2


def test_cache_is_written_once_and_reused_per_seed_and_settings(blobs, tmp_path, one_torch_thread):
    cache = tmp_path / "cache"
    first = SeenClassCNNExtractor(**TINY)
    first.fit(blobs["train"], RunContext(seed=0, cache_dir=cache))
    files = sorted(cache.glob("cnn-*.pt"))
    assert len(files) == 1 and not first.loaded_from_cache_
    logs = Logs()
    again = SeenClassCNNExtractor(**TINY)
    again.fit(blobs["train"], RunContext(seed=0, cache_dir=cache, progress=logs))
    assert again.loaded_from_cache_ and any("loaded" in line for line in logs.lines)
    assert np.array_equal(
        first.transform(blobs["held"], RunContext()), again.transform(blobs["held"], RunContext())
    )
    assert first.transform(blobs["held"], RunContext()).shape[1] == TINY["dim"]  # embedding
    # The pooled map reads the same trained weights: no new file.
    pooled = SeenClassCNNExtractor(**TINY, layer="pooled")
    pooled.fit(blobs["train"], RunContext(seed=0, cache_dir=cache))
    assert pooled.loaded_from_cache_
    assert pooled.transform(blobs["held"], RunContext()).shape[1] == 8 * 2 * 2 * 2  # 2×2 grid
    # Another seed, other settings or other training images: other weights, other files.
    SeenClassCNNExtractor(**TINY).fit(blobs["train"], RunContext(seed=1, cache_dir=cache))
    SeenClassCNNExtractor(**{**TINY, "epochs": 2}).fit(
        blobs["train"], RunContext(seed=0, cache_dir=cache)
    )
    fewer = blobs["train"].subset(np.arange(0, len(blobs["train"]), 2))
    SeenClassCNNExtractor(**TINY).fit(fewer, RunContext(seed=0, cache_dir=cache))
    assert len(list(cache.glob("cnn-*.pt"))) == 4
    # cache=false trains and writes nothing.
    off = SeenClassCNNExtractor(**TINY, cache=False)
    off.fit(blobs["train"], RunContext(seed=0, cache_dir=cache))
    assert not off.loaded_from_cache_ and len(list(cache.glob("cnn-*.pt"))) == 4


def test_an_unreadable_cache_file_is_retrained_and_replaced(blobs, tmp_path, one_torch_thread):
    cache = tmp_path / "cache"
    SeenClassCNNExtractor(**TINY).fit(blobs["train"], RunContext(seed=0, cache_dir=cache))
    (path,) = cache.glob("cnn-*.pt")
    path.write_bytes(b"not a checkpoint")
    logs = Logs()
    extractor = SeenClassCNNExtractor(**TINY)
    extractor.fit(blobs["train"], RunContext(seed=0, cache_dir=cache, progress=logs))
    assert not extractor.loaded_from_cache_
    assert any("ignoring unreadable cache" in line for line in logs.lines)
    assert path.read_bytes() != b"not a checkpoint"


def test_a_sweep_trains_the_extractor_once_per_split_and_seed(tmp_path, one_torch_thread):
    """Through the runner: the cache lies under the split's folder; a second method reuses it."""
    from zshbench.runner import RunRequest, run

    options = {"extractor": "cnn", "extractor_options": {**TINY, "epochs": 1}}
    logs = Logs()
    for method in ("lsh", "itq"):
        run(
            RunRequest(
                method=method,
                dataset="digits",
                bits=[16],
                results_dir=tmp_path,
                options=options,
            ),
            logs,
        )
    (split_dir,) = [p for p in (tmp_path / "digits").iterdir() if p.name != "splits"]
    cached = list((split_dir / ".cache").glob("cnn-*.pt"))
    assert len(cached) == 1
    assert sum("loaded" in line for line in logs.lines) == 1
    records = [json.loads(p.read_text()) for p in Path(split_dir).rglob("bits16-seed0.json")]
    assert {r["method"] for r in records} == {"lsh", "itq"}
    # the first record's fit includes training the extractor, the second's only loading it:
    # each says which, in its own phase, apart from the hashing itself
    phases = {r["method"]: r["timings"]["fit_phases"] for r in records}
    assert set(phases["lsh"]) == {"extractor_fit_s", "extractor_features_s"}
    assert set(phases["itq"]) == {"extractor_load_s", "extractor_features_s"}
    for record in records:
        assert sum(record["timings"]["fit_phases"].values()) <= record["timings"]["fit_s"]
