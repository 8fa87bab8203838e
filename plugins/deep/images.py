"""Images for deep methods: decoded once into uint8 tensors, normalised on the device, augmented.

Training sets at both scales fit in memory as uint8 (CUB's 4,500 images at 224 px are 0.7 GB),
so every epoch reads tensors instead of decoding JPEGs again. Augmentation works on those uint8
tensors, per image (each image gets its own crop and flip), before normalisation; evaluation
never augments: the codes of a query or database image do not depend on a random draw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from zshbench.errors import ZshbenchError
from zshbench.method import ImageView, RunContext

# Training augmentations by name (option ``augment``). "crop": a random crop of the image padded
# by an eighth of its side (edge pixels repeated), i.e. random shifts; "rrc": torchvision's
# RandomResizedCrop at scale (0.2, 1), as MAE-style fine-tuning and the RAZH authors' code use;
# "+flip": a random horizontal flip.
AUGMENTATIONS = ("none", "crop", "crop+flip", "rrc+flip", "flip")


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


def load_view(view: ImageView, size: int, context: RunContext, what: str) -> torch.Tensor:
    """All images of ``view`` as one (N, 3, size, size) uint8 tensor."""
    chunks = []
    with context.progress.task(f"load {what} ({len(view)} images)", total=len(view)) as advance:
        for _positions, batch in view.batches(512):
            chunks.append(images_to_uint8(batch, size))
            advance(len(batch))
    if not chunks:
        return torch.zeros((0, 3, size, size), dtype=torch.uint8)
    return torch.cat(chunks)


def view_batches(view: ImageView, size: int, batch_size: int, stored: torch.Tensor | None = None):
    """(positions, uint8 batch) of a view in order, from ``stored`` when it is in memory."""
    if stored is not None:
        for start in range(0, len(stored), batch_size):
            stop = min(start + batch_size, len(stored))
            yield range(start, stop), stored[start:stop]
        return
    for positions, images in view.batches(batch_size):
        yield positions, images_to_uint8(images, size)


class Normalizer:
    """uint8 → the backbone's input scale (its own mean and std)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)

    def __call__(self, images: torch.Tensor, device: torch.device | str) -> torch.Tensor:
        x = images.to(device, non_blocking=True).float().div_(255.0)
        if self.mean.device != x.device:  # moved once, not on every batch
            self.mean, self.std = self.mean.to(x.device), self.std.to(x.device)
        return (x - self.mean) / self.std


def build_augmentation(name: str, size: int) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """A per-image random augmentation of a uint8 (B, C, H, W) batch, or None for "none".

    torchvision's v2 transforms draw one set of parameters per call, so each image of the batch
    is transformed by its own call (a loop of B small calls; negligible next to a training step).
    Randomness comes from torch's global generator, which the harness seeds per run.
    """
    if name not in AUGMENTATIONS:
        raise ZshbenchError(
            f"unknown augmentation {name!r}", f"Choose one of {', '.join(AUGMENTATIONS)}."
        )
    if name == "none":
        return None
    from torchvision.transforms import v2

    steps: list = []
    if name.startswith("crop"):
        steps.append(v2.RandomCrop(size, padding=max(1, size // 8), padding_mode="edge"))
    elif name.startswith("rrc"):
        steps.append(v2.RandomResizedCrop(size, scale=(0.2, 1.0), antialias=True))
    if name.endswith("flip"):
        steps.append(v2.RandomHorizontalFlip())
    transform = v2.Compose(steps)

    def augment(batch: torch.Tensor) -> torch.Tensor:
        return torch.stack([transform(image) for image in batch])

    return augment
