"""Training augmentation split in two: the CPU draws each image's parameters, the device applies
them.

Cropping, resizing and flipping uint8 images one at a time on the CPU held a GPU epoch to about
half its step rate. Here the CPU only draws numbers (each image's random crop box and flip, from
torch's global generator in the very order torchvision's transforms draw them, so a seeded run
gets the crops it got before), and the device crops, resizes (bilinear, antialiased: as
torchvision's RandomResizedCrop), flips, normalises and lays the batch out, image by image, with
``torchvision.transforms.v2.functional`` on tensors. On a CPU device it is the same work in the
same place as before (no faster, no slower: the CPU scale keeps one path).

Names (option ``augment``): "crop": a random crop of the image padded by an eighth of its side
(edge pixels repeated), i.e. random shifts; "rrc": RandomResizedCrop at scale (0.2, 1), as
MAE-style fine-tuning and the RAZH authors' code use; "+flip": a random horizontal flip.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from zshbench.errors import ZshbenchError

from .choices import AUGMENTATIONS

RRC_SCALE = (0.2, 1.0)


@dataclass(frozen=True)
class ImageDraw:
    """One image's parameters: the crop box (in the padded image for "crop"), the padding
    (left, top, right, bottom) and whether it is flipped."""

    box: tuple[int, int, int, int] | None  # top, left, height, width
    padding: tuple[int, int, int, int] | None
    flip: bool


class Augmentation:
    """A per-image random augmentation of uint8 (B, C, H, W) batches to ``size`` px."""

    def __init__(self, name: str, size: int):
        if name not in AUGMENTATIONS:
            raise ZshbenchError(
                f"unknown augmentation {name!r}", f"Choose one of {', '.join(AUGMENTATIONS)}."
            )
        from torchvision.transforms import v2

        self.name, self.size = name, int(size)
        self.crop = None
        if name.startswith("crop"):
            self.crop = v2.RandomCrop(size, padding=max(1, size // 8), padding_mode="edge")
        elif name.startswith("rrc"):
            self.crop = v2.RandomResizedCrop(size, scale=RRC_SCALE, antialias=True)
        self.flips = name.endswith("flip")

    @property
    def active(self) -> bool:
        return self.name != "none"

    def draw(self, count: int, height: int, width: int) -> list[ImageDraw]:
        """Every image's parameters, on the CPU, from torch's global generator."""
        probe = [torch.empty((3, height, width), dtype=torch.uint8)]
        draws = []
        for _ in range(count):
            box = padding = None
            if self.crop is not None:
                params = self.crop.make_params(probe)
                box = (params["top"], params["left"], params["height"], params["width"])
                if params.get("needs_pad"):
                    padding = tuple(params["padding"])
            flip = bool(torch.rand(1) < 0.5) if self.flips else False
            draws.append(ImageDraw(box, padding, flip))
        return draws

    def apply(self, images: torch.Tensor, draws: list[ImageDraw]) -> torch.Tensor:
        """The drawn augmentation of each image of ``images`` (on whatever device they are)."""
        from torchvision.transforms.v2 import functional as F

        out = []
        for image, draw in zip(images, draws, strict=True):
            if draw.padding is not None:
                image = F.pad(image, list(draw.padding), padding_mode="edge")
            if draw.box is not None:
                top, left, height, width = draw.box
                if self.name.startswith("rrc"):
                    image = F.resized_crop(
                        image, top, left, height, width, [self.size, self.size], antialias=True
                    )
                else:
                    image = F.crop(image, top, left, height, width)
            if draw.flip:
                image = F.horizontal_flip(image)
            out.append(image)
        return torch.stack(out)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Draw and apply in one call (on the device the images are on)."""
        if not self.active:
            return images
        return self.apply(images, self.draw(len(images), images.shape[-2], images.shape[-1]))


def build_augmentation(name: str, size: int) -> Augmentation | None:
    """The augmentation called ``name`` at ``size`` px, or None for "none"."""
    augmentation = Augmentation(name, size)
    return augmentation if augmentation.active else None
