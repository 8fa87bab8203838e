"""CIFAR-10 in its published "python version" layout (``cifar-10-batches-py/``).

Layout (as in ``cifar-10-python.tar.gz``)::

    cifar-10-batches-py/
        batches.meta        pickle: {b"label_names": [10 names], ...}
        data_batch_1 .. data_batch_5, test_batch
                            pickle: {b"data": uint8 (N, 3072), b"labels": [N ints], ...}

Each row of ``data`` is 1024 red, then 1024 green, then 1024 blue values of a 32×32 image in
row-major order. The pickles are read with :mod:`zshbench.datasets.safe_pickle`, so a file in a
user's data folder can never run code.

Attributes: CIFAR-10 has none. As in the RAZH paper's RAZH-T setting ("class names as the only
attributes"), ``attribute_names`` are the class names and ``class_attributes`` is the 10×10
identity matrix: each class is described by exactly its own name.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from .. import dataset_error, find_layout_folder
from ..base import ArrayImageSource, ImageSet
from ..safe_pickle import UnsafePickleError
from ..safe_pickle import load as safe_load

LAYOUT = "CIFAR-10 python batches (cifar-10-batches-py)"
OBTAIN = "https://www.cs.toronto.edu/~kriz/cifar.html (the 'CIFAR-10 python version' tarball)"
FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
BATCHES = (*TRAIN_BATCHES, TEST_BATCH)
META = "batches.meta"
IMAGE_SIZE = 32
ROW_LENGTH = 3 * IMAGE_SIZE * IMAGE_SIZE


def find_batches_folder(root: str | os.PathLike[str] | None) -> Path:
    """The ``cifar-10-batches-py`` folder: ``root`` itself or the folder inside it."""
    return find_layout_folder(root, FOLDER, META, LAYOUT, OBTAIN)


def _get(mapping: Any, key: str, path: Path) -> Any:
    """``mapping[b"key"]`` as in the real files (or ``mapping["key"]`` if re-saved in Python 3)."""
    if not isinstance(mapping, dict):
        raise dataset_error(
            LAYOUT, f"{path} holds a {type(mapping).__name__}, expected a dict", OBTAIN
        )
    for candidate in (key.encode(), key):
        if candidate in mapping:
            return mapping[candidate]
    raise dataset_error(LAYOUT, f"{path} has no {key!r} entry", OBTAIN)


def _unpickle(path: Path) -> Any:
    if not path.is_file():
        raise dataset_error(LAYOUT, f"expected the file {path}, which does not exist", OBTAIN)
    try:
        return safe_load(path, encoding="bytes")
    except UnsafePickleError as error:
        raise dataset_error(
            LAYOUT, f"{path} is not a plain data pickle and was not loaded ({error})", OBTAIN
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
        raise dataset_error(
            LAYOUT,
            f"{path} is not a readable CIFAR-10 batch ({type(error).__name__}: {error})",
            OBTAIN,
        ) from None


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _integer_labels(labels: Any, path: Path) -> np.ndarray:
    """``labels`` as int64, refusing what a cast would silently change (0.7 -> 0, True -> 1)."""
    try:
        values = np.asarray(labels).reshape(-1)
    except (TypeError, ValueError):
        values = np.asarray([None])  # ragged nesting: refused below
    if values.size and np.issubdtype(values.dtype, np.floating):
        finite = np.isfinite(values)
        whole = finite & (values == np.round(np.where(finite, values, 0)))
        if not whole.all():
            bad = float(values[~whole][0])
            raise dataset_error(
                LAYOUT, f"{path}: label {bad} is not a whole number (labels are class ids)", OBTAIN
            )
    elif values.size and not np.issubdtype(values.dtype, np.integer):
        raise dataset_error(
            LAYOUT, f"{path}: 'labels' is not a list of integers (it holds {values.dtype})", OBTAIN
        )
    return values.astype(np.int64)


def _check_class_count(class_names: list[str], labels: np.ndarray, meta: Path) -> None:
    """Every named class must have images: allocations then follow the data, not the metadata.

    The identity attribute matrix is classes x classes; 50,000 names in a 400 KB batches.meta
    would otherwise ask for 9.3 GiB. The real files name 10 classes, each with 6,000 images.
    """
    used = len(np.unique(labels))
    if used < len(class_names):
        raise dataset_error(
            LAYOUT,
            f"{meta} names {len(class_names):,} classes but the batches hold images of only "
            f"{used:,} of them",
            OBTAIN,
        )


def _read_batch(path: Path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle(path)
    data = _get(batch, "data", path)
    labels = _get(batch, "labels", path)
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != ROW_LENGTH:
        shape = getattr(data, "shape", type(data).__name__)
        raise dataset_error(
            LAYOUT, f"{path}: 'data' is {shape}, expected a (N, {ROW_LENGTH}) uint8 array", OBTAIN
        )
    if data.dtype != np.uint8:
        if not np.issubdtype(data.dtype, np.integer) or data.min() < 0 or data.max() > 255:
            raise dataset_error(
                LAYOUT, f"{path}: 'data' has dtype {data.dtype}, expected uint8", OBTAIN
            )
        data = data.astype(np.uint8)
    labels = _integer_labels(labels, path)
    if len(labels) != len(data):
        raise dataset_error(LAYOUT, f"{path}: {len(labels)} labels for {len(data)} images", OBTAIN)
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        bad = int(labels[(labels < 0) | (labels >= num_classes)][0])
        raise dataset_error(
            LAYOUT,
            f"{path}: label {bad} is outside the {num_classes} classes of {META}",
            OBTAIN,
        )
    images = data.reshape(-1, 3, IMAGE_SIZE, IMAGE_SIZE).transpose(0, 2, 3, 1)
    return images, labels


def load(root: str | os.PathLike[str] | None = None) -> ImageSet:
    """All 60,000 CIFAR-10 images (the five training batches, then the test batch).

    The zero-shot protocol re-splits the classes, so the official train/test division is not
    kept; image ids (``"data_batch_1:0"``, ``"test_batch:9999"``) still say where each image came
    from.
    """
    folder = find_batches_folder(root)
    meta = _unpickle(folder / META)
    label_names = _get(meta, "label_names", folder / META)
    if not isinstance(label_names, (list, tuple)) or not label_names:
        raise dataset_error(LAYOUT, f"{folder / META}: 'label_names' is not a list", OBTAIN)
    class_names = [_text(name) for name in label_names]
    if len(set(class_names)) != len(class_names):
        raise dataset_error(LAYOUT, f"{folder / META}: repeated class names", OBTAIN)

    all_images, all_labels, ids = [], [], []
    for batch in BATCHES:
        images, labels = _read_batch(folder / batch, len(class_names))
        all_images.append(images)
        all_labels.append(labels)
        ids.extend(f"{batch}:{i}" for i in range(len(labels)))
    labels = np.concatenate(all_labels)
    _check_class_count(class_names, labels, folder / META)
    images = np.ascontiguousarray(np.concatenate(all_images))
    identity = np.eye(len(class_names), dtype=np.float32)
    return ImageSet(
        name="cifar10",
        image_ids=np.asarray(ids),
        labels=labels,
        class_names=class_names,
        images=ArrayImageSource(images),
        attribute_names=list(class_names),
        class_attributes=identity,
        binary_class_attributes=identity.astype(np.int64),
        standard_unseen_classes=None,
    )
