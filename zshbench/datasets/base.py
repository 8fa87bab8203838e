"""What a loaded data set is: images, labels, classes and class attributes.

Every layout loader (digits, CIFAR-10 batches, CUB_200_2011, AWA2) returns an ``ImageSet``; the
split protocol and the methods only ever see this type, never a file layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DatasetError


class ImageSource:
    """Random access to the images of a data set as ``uint8`` arrays of shape (H, W, C).

    Two kinds exist: images held in memory (digits, CIFAR-10) and image files read on demand
    (CUB, AWA2). ``load(indices)`` returns a list, because file-backed images may differ in size.
    """

    def __len__(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def load(self, index: int) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def load_many(self, indices: Sequence[int]) -> list[np.ndarray]:
        return [self.load(int(i)) for i in indices]

    @property
    def fixed_shape(self) -> tuple[int, int, int] | None:
        """(H, W, C) when every image has that shape, else None."""
        return None


class ArrayImageSource(ImageSource):
    """Images already in memory as one (N, H, W, C) uint8 array."""

    def __init__(self, array: np.ndarray):
        if array.ndim != 4 or array.dtype != np.uint8:
            raise ValueError("ArrayImageSource needs a (N, H, W, C) uint8 array")
        self.array = array

    def __len__(self) -> int:
        return len(self.array)

    def load(self, index: int) -> np.ndarray:
        return self.array[index]

    def load_many(self, indices: Sequence[int]) -> list[np.ndarray]:
        return list(self.array[np.asarray(indices, dtype=np.int64)])

    def load_stack(self, indices: Sequence[int]) -> np.ndarray:
        return self.array[np.asarray(indices, dtype=np.int64)]

    @property
    def fixed_shape(self) -> tuple[int, int, int] | None:
        return tuple(self.array.shape[1:])  # type: ignore[return-value]


class FileImageSource(ImageSource):
    """Image files (JPEG/PNG) read with Pillow on demand and converted to RGB.

    CUB ships a few grayscale JPEGs; converting every image to RGB keeps batches uniform.
    """

    def __init__(self, paths: Sequence[Path]):
        self.paths = [Path(p) for p in paths]

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, index: int) -> np.ndarray:
        from PIL import Image

        path = self.paths[index]
        try:
            with Image.open(path) as image:
                return np.asarray(image.convert("RGB"), dtype=np.uint8)
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            # a truncated, empty or mislabelled file in a data set is one line naming it
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise DatasetError(
                f"cannot read the image {path} ({reason})",
                "Replace the file with a good copy from the data set's archive.",
            ) from None


@dataclass
class ImageSet:
    """A whole data set in memory-light form.

    ``labels[i]`` indexes ``class_names``; ``image_ids[i]`` is a stable, human-readable id (the
    data set's own file name or index) used in split manifests. ``class_attributes`` is
    (num_classes, num_attributes) in the data set's own scale (CUB/AWA2 continuous 0..100,
    digits 0/1) or None when the data set has no attributes (CIFAR-10: the class names are its
    only attributes). ``binary_class_attributes`` is the 0/1 matrix where the data set ships one.
    """

    name: str
    image_ids: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    images: ImageSource
    attribute_names: list[str] = field(default_factory=list)
    class_attributes: np.ndarray | None = None
    binary_class_attributes: np.ndarray | None = None
    standard_unseen_classes: list[str] | None = None
    paper_family: str = ""  # the spec's (see DatasetSpec.paper_family)

    def __post_init__(self) -> None:
        self.image_ids = np.asarray(self.image_ids).astype(str)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        n = len(self.labels)
        if len(self.image_ids) != n or len(self.images) != n:
            raise ValueError(
                f"{self.name}: {len(self.image_ids)} ids, {n} labels, {len(self.images)} images"
            )
        if len(set(self.image_ids.tolist())) != n:
            raise ValueError(f"{self.name}: image ids are not unique")
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.class_names)):
            raise ValueError(f"{self.name}: a label is outside 0..{len(self.class_names) - 1}")
        if self.class_attributes is not None:
            shape = (len(self.class_names), len(self.attribute_names))
            if self.class_attributes.shape != shape:
                raise ValueError(
                    f"{self.name}: class attribute matrix is {self.class_attributes.shape}, "
                    f"expected {shape}"
                )

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def class_index(self, name: str) -> int:
        try:
            return self.class_names.index(name)
        except ValueError:
            raise KeyError(name) from None


@dataclass(frozen=True)
class Protocol:
    """The zero-shot protocol numbers of SPEC §1, per data set.

    ``train_per_seen_class`` images of every seen class form the training set,
    ``query_per_unseen_class`` images of every unseen class the queries, and every other image
    the database. ``validation_classes`` seen classes are held out as pseudo-unseen for model
    selection; their retrieval task's database is every seen image outside the training set, or
    at most ``validation_database_per_class`` of each seen class (drawn with the split's seed and
    saved in its manifest) where that would be large: a method may evaluate it after every
    epoch, so it must stay a small part of a run (CIFAR-10's would otherwise hold 43,800 images).
    """

    num_seen: int
    num_unseen: int
    train_per_seen_class: int
    query_per_unseen_class: int
    validation_classes: int = 0
    expected_train: int | None = None
    expected_query: int | None = None
    expected_database: int | None = None
    validation_database_per_class: int | None = None
