"""DRMH's detected regions of a training set, kept on disk between runs.

Detecting 3,512 training images at 800 px with a ResNet-50 Faster R-CNN takes minutes even on a
GPU, and every seed, code length and phase of a study detected the same images again. The
regions depend only on the detector (its weights file and settings) and the images, so they are
stored once under the image-cache folder (:func:`zshbench.datasets.image_cache.cache_folder`),
keyed by a digest of the weights file (path, byte size, mtime), the detector's settings and the
exact pixels of every training image in order. A file that does not load, or whose key or shape
differs, is detected again with one line; files are written atomically (temporary name, then
renamed) and read with ``torch.load(weights_only=True)`` (tensors only, no code).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import torch

from zshbench.datasets.image_cache import cache_folder

Regions = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # features, boxes, mask


def regions_key(weights: Path, settings: dict, images: torch.Tensor) -> str:
    """sha256 of the weights file's identity, the detector settings and every image's pixels."""
    stat = os.stat(weights)
    digest = hashlib.sha256(
        f"drmh-regions/1\n{os.path.abspath(weights)}\0{stat.st_size}\0{stat.st_mtime_ns}\n"
        f"{sorted(settings.items())}\n{tuple(images.shape)}\n".encode()
    )
    for start in range(0, len(images), 256):
        digest.update(images[start : start + 256].contiguous().numpy().tobytes())
    return digest.hexdigest()


def cached_regions(
    weights: Path,
    settings: dict,
    images: torch.Tensor,
    detect: Callable[[], Regions],
    log: Callable[[str], None],
) -> tuple[Regions, bool]:
    """The regions of ``images`` from the disk cache, or ``detect()`` (then stored); and whether
    they came from the cache. Caching off (``ZSHBENCH_IMAGE_CACHE=off``): always detected."""
    folder = cache_folder()
    if folder is None:
        return detect(), False
    key = regions_key(weights, settings, images)
    path = folder / "drmh-regions" / f"{key[:32]}.pt"
    if path.exists():
        problem = None
        try:
            stored = torch.load(path, map_location="cpu", weights_only=True)
            valid = isinstance(stored, dict) and stored.get("key") == key
            parts = tuple(stored["regions"]) if valid else ()
            if not valid or len(parts) != 3 or any(len(p) != len(images) for p in parts):
                problem = "it was made for other images or another detector"
        except Exception as error:  # noqa: BLE001 - a damaged file of any kind is detected again
            problem = f"it does not load: {type(error).__name__}"
        if problem is None:
            return parts, True  # type: ignore[return-value]
        log(f"drmh: region cache {path} is not valid ({problem}); detecting again")
    regions = detect()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.partial-{os.getpid()}")
        torch.save({"key": key, "regions": list(regions)}, temporary)
        os.replace(temporary, path)
    except OSError as error:  # a full or read-only disk costs the next run a detection, no more
        Path(f"{path}.partial-{os.getpid()}").unlink(missing_ok=True)
        log(f"drmh: regions not cached ({error.strerror or error})")
    return regions, False
