"""Image array helpers shared by the feature extractors and the deep engine's image loader.

Every image is an (H, W, C) uint8 array; these helpers normalise its channels and resize it with
Pillow, so the extractors and the deep methods see the same pixels for the same file.
"""

from __future__ import annotations

import numpy as np

from zshbench.errors import ZshbenchError

# ITU-R BT.601 luma weights: what Pillow's convert("L") uses, so grayscale is the familiar one.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float64)


def drop_alpha(image: np.ndarray) -> np.ndarray:
    """(H, W) / (H, W, C) uint8 → (H, W, 1) or (H, W, 3); an alpha channel is dropped."""
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 2, 3, 4):
        raise ZshbenchError(
            f"an image has shape {image.shape}",
            "Images must be (H, W, C) arrays with 1 (gray), 3 (RGB) or an extra alpha channel.",
        )
    if image.shape[2] == 2:  # gray + alpha
        return image[:, :, :1]
    if image.shape[2] == 4:  # RGB + alpha
        return image[:, :, :3]
    return image


def resize(image: np.ndarray, size: tuple[int, int], resample: int) -> np.ndarray:
    """Resize an (H, W, C) uint8 image to ``size`` = (height, width) with Pillow."""
    from PIL import Image

    if image.shape[:2] == tuple(size):
        return image
    channels = image.shape[2]
    pil = Image.fromarray(image[:, :, 0] if channels == 1 else image)
    out = np.asarray(pil.resize((size[1], size[0]), resample=resample), dtype=np.uint8)
    return out[:, :, None] if out.ndim == 2 else out


def grayscale(images: np.ndarray) -> np.ndarray:
    """(N, H, W, C) float → (N, H, W, 1) luma (C = 3) or unchanged (C = 1)."""
    if images.shape[-1] == 1:
        return images
    return (images @ LUMA_WEIGHTS)[..., None]


def center_crop_resize(
    image: np.ndarray, size: tuple[int, int], crop_pct: float, resample: int
) -> np.ndarray:
    """timm's evaluation transform: shorter side → size / crop_pct, then a centre crop."""
    height, width = image.shape[:2]
    scale_to = size[0] / crop_pct if height <= width else size[1] / crop_pct
    factor = scale_to / min(height, width)
    new = (max(size[0], round(height * factor)), max(size[1], round(width * factor)))
    image = resize(image, new, resample)
    top = (new[0] - size[0]) // 2
    left = (new[1] - size[1]) // 2
    return image[top : top + size[0], left : left + size[1]]
