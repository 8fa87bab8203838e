"""Images for deep methods: decoded once into uint8 tensors, normalised on the device, augmented.

Training sets at both scales fit in memory as uint8 (CUB's 4,500 images at 224 px are 0.7 GB),
so every epoch reads tensors instead of decoding JPEGs again. Image files are decoded once per
data set and size into the on-disk cache of :mod:`zshbench.datasets.image_cache` (shared by
every later run, seed and method); views read their rows from it. Augmentation works on those uint8
tensors, per image (each image gets its own crop and flip), before normalisation; evaluation
never augments: the codes of a query or database image do not depend on a random draw.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from zshbench.datasets.base import FileImageSource
from zshbench.datasets.image_cache import ImageCache, open_cache
from zshbench.method import ImageView, RunContext

# the augmentations live in .augment (drawn on the CPU, applied on the device); named here too
# for the modules that import them from here
from .augment import AUGMENTATIONS, build_augmentation  # noqa: E402,F401


def images_to_uint8(images: Sequence[np.ndarray], size: int) -> torch.Tensor:
    """(N, 3, size, size) uint8 of (H, W, C) images: alpha dropped, gray → RGB, resized."""
    from PIL import Image

    from plugins.features.image_ops import drop_alpha, resize

    out = np.empty((len(images), size, size, 3), dtype=np.uint8)
    for i, image in enumerate(images):
        image = drop_alpha(np.asarray(image))
        image = resize(image, (size, size), Image.Resampling.BICUBIC)
        out[i] = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def source_cache(view: ImageView, size: int, context: RunContext | None) -> ImageCache | None:
    """The decoded cache of the files behind ``view`` at ``size`` (built on first use, then
    remembered on the source), or None for in-memory sources or when caching is off."""
    source = view.source
    if not isinstance(source, FileImageSource):
        return None
    memo = source.__dict__.setdefault("_image_caches", {})
    if size not in memo:
        progress = None if context is None else context.progress
        memo[size] = open_cache(
            source.paths, size, lambda images: images_to_uint8(images, size).numpy(),
            source.load_many, progress, None if progress is None else progress.log,
        )  # fmt: skip
    return memo[size]


def cache_record(view: ImageView, size: int) -> dict | None:
    """The provenance of the cache ``view`` was read from (for the record), or None."""
    cache = view.source.__dict__.get("_image_caches", {}).get(size)
    return None if cache is None else cache.info.to_record()


def _rows(cache: ImageCache, indices: np.ndarray) -> torch.Tensor:
    """Rows of the cache: a view of the memmap when they are one run, else a copy."""
    if len(indices) and np.array_equal(indices, np.arange(indices[0], indices[0] + len(indices))):
        return torch.from_numpy(cache.array[indices[0] : indices[0] + len(indices)])
    return torch.from_numpy(np.ascontiguousarray(cache.array[indices]))


def load_view(view: ImageView, size: int, context: RunContext, what: str) -> torch.Tensor:
    """All images of ``view`` as one (N, 3, size, size) uint8 tensor (from the decoded cache
    for image files)."""
    cache = source_cache(view, size, context)
    if cache is not None:
        return _rows(cache, view.indices)
    chunks = []
    with context.progress.task(f"load {what} ({len(view)} images)", total=len(view)) as advance:
        for _positions, batch in view.batches(512):
            chunks.append(images_to_uint8(batch, size))
            advance(len(batch))
    if not chunks:
        return torch.zeros((0, 3, size, size), dtype=torch.uint8)
    return torch.cat(chunks)


def view_batches(
    view: ImageView,
    size: int,
    batch_size: int,
    stored: torch.Tensor | None = None,
    context: RunContext | None = None,
):
    """(positions, uint8 batch) of a view in order, from ``stored`` when it is in memory, else
    from the decoded cache of its files, else decoded here."""
    if stored is not None:
        for start in range(0, len(stored), batch_size):
            stop = min(start + batch_size, len(stored))
            yield range(start, stop), stored[start:stop]
        return
    cache = source_cache(view, size, context)
    if cache is not None:
        for start in range(0, len(view), batch_size):
            stop = min(start + batch_size, len(view))
            yield range(start, stop), _rows(cache, view.indices[start:stop])
        return
    for positions, images in view.batches(batch_size):
        yield positions, images_to_uint8(images, size)


class Normalizer:
    """uint8 → the backbone's input scale (its own mean and std).

    (x / 255 - mean) / std is applied as x · scale + shift in place on one float copy: on a CPU
    the three temporaries of the plain formula cost more than cropping the batch.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.scale = 1.0 / (255.0 * self.std)
        self.shift = -self.mean / self.std

    def __call__(self, images: torch.Tensor, device: torch.device | str) -> torch.Tensor:
        x = images.to(device, non_blocking=True)  # uint8 over the bus, converted there
        x = x.to(torch.float32, copy=True)
        if self.scale.device != x.device:  # moved once, not on every batch
            self.scale, self.shift = self.scale.to(x.device), self.shift.to(x.device)
        return x.mul_(self.scale).add_(self.shift)
