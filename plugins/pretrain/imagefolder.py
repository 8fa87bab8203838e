"""An image folder and a class list, decoded once into a uint8 array for pre-training.

Layouts read (the two ImageNet-style ones):

* Tiny-ImageNet: ``DATA/train/<class>/images/*.JPEG``; ``DATA/val/images/*.JPEG`` with
  ``DATA/val/val_annotations.txt`` (file name, tab, class, ...);
* ImageNet / torchvision ``ImageFolder``: ``DATA/train/<class>/*.jpg`` and
  ``DATA/val/<class>/*.jpg`` (or ``val/<class>/images/``).

Every image is decoded, made RGB and resized to the training side once (Tiny-ImageNet's 88,500
images of 177 classes at 32 px are 272 MB as uint8), so an epoch reads a tensor, never a JPEG.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from zshbench.errors import ZshbenchError

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png", ".bmp", ".webp")
LAYOUT = (
    "Expected DATA/train/<class>/images/*.JPEG (Tiny-ImageNet) or DATA/train/<class>/*.jpg "
    "(ImageNet), and for the probes val/images/ + val/val_annotations.txt or val/<class>/*.jpg."
)


@dataclass
class ImageSplit:
    """One split: (N, 3, side, side) uint8 images and their class indices into the class list."""

    images: torch.Tensor
    labels: torch.Tensor


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_class_list(data: Path, classes: Path | None) -> list[str]:
    """The class folder names to train on: the list file's lines, or every train/ folder."""
    train = _train_folder(data)
    folders = sorted(p.name for p in train.iterdir() if p.is_dir())
    if classes is None:
        names = folders
    else:
        classes = Path(classes).expanduser()
        if not classes.is_file():
            raise ZshbenchError(
                f"class list {classes} not found",
                "Give a text file with one class folder name (e.g. a WordNet id) a line.",
            )
        try:
            lines = classes.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise ZshbenchError(f"class list {classes} cannot be read ({error})") from None
        names = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
        if len(set(names)) != len(names):
            raise ZshbenchError(f"class list {classes} names a class twice")
    missing = sorted(set(names) - set(folders))
    if missing:
        raise ZshbenchError(
            f"{len(missing)} of {len(names)} classes of the class list are not folders of "
            f"{train} (e.g. {', '.join(missing[:3])})",
            LAYOUT,
        )
    if not names:
        raise ZshbenchError(f"no classes to train on in {train}", LAYOUT)
    return names


def _train_folder(data: Path) -> Path:
    data = Path(data).expanduser()
    if not data.is_dir():
        raise ZshbenchError(f"image folder {data} not found", LAYOUT)
    train = data / "train"
    if not train.is_dir():
        raise ZshbenchError(f"image folder {data} has no train/ folder", LAYOUT)
    return train


def _images_in(folder: Path) -> list[Path]:
    inner = folder / "images"
    where = inner if inner.is_dir() else folder
    return sorted(p for p in where.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def train_files(
    data: Path, classes: list[str], per_class: int | None = None
) -> list[tuple[Path, int]]:
    """(file, class index) of the training images of ``classes`` (the first ``per_class`` of
    each in name order, or all), in a fixed order."""
    train = _train_folder(data)
    files: list[tuple[Path, int]] = []
    for index, name in enumerate(classes):
        found = _images_in(train / name)
        if not found:
            raise ZshbenchError(f"class folder {train / name} holds no images", LAYOUT)
        files += [(path, index) for path in found[:per_class]]
    return files


def val_files(data: Path, classes: list[str]) -> list[tuple[Path, int]]:
    """(file, class index) of the val images of ``classes``; empty when there is no val/."""
    val = Path(data).expanduser() / "val"
    if not val.is_dir():
        return []
    index = {name: i for i, name in enumerate(classes)}
    annotations = val / "val_annotations.txt"
    if annotations.is_file():  # Tiny-ImageNet: one folder of images, labels in a table
        files = []
        for line in annotations.read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if len(parts) >= 2 and parts[1].strip() in index:
                files.append((val / "images" / parts[0].strip(), index[parts[1].strip()]))
        return sorted(files)
    files = []
    for name in classes:
        if (val / name).is_dir():
            files += [(path, index[name]) for path in _images_in(val / name)]
    return files


def decode(files: list[tuple[Path, int]], side: int, progress, what: str) -> ImageSplit:
    """Every file decoded, made RGB, resized (bicubic) to ``side`` × ``side``."""
    from PIL import Image, UnidentifiedImageError

    images = np.empty((len(files), side, side, 3), dtype=np.uint8)
    with progress.task(f"decode {what} ({len(files)} images)", total=len(files)) as advance:
        for i, (path, _) in enumerate(files):
            try:
                with Image.open(path) as image:
                    image = image.convert("RGB")
                    if image.size != (side, side):
                        image = image.resize((side, side), Image.Resampling.BICUBIC)
                    images[i] = np.asarray(image)
            except (OSError, UnidentifiedImageError) as error:
                raise ZshbenchError(f"cannot read image {path} ({error})") from None
            if i % 256 == 255:
                advance(256)
        advance(len(files) % 256)
    labels = torch.tensor([label for _, label in files], dtype=torch.long)
    return ImageSplit(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), labels)
