"""The two scales every deep method runs at, and how an option left at None gets its value.

* ``scale="paper"``: ViT-B/16 at 224 from MAE's self-supervised weights
  (``vit_base_patch16_224.mae``, timm's pretrained path: local file with ``weights=``, or the
  Hugging Face hub cache), normalised with its own mean/std (ImageNet's), batch 16, AdamW
  (0.9, 0.95), random-resized-crop + flip augmentation, bf16 autocast on CUDA.
* ``scale="cpu"`` (default): a token encoder that learns from scratch on two CPU cores: the data
  set's own image size up to 64 px, a 4×4 token grid from a convolutional stem
  (:class:`plugins.deep.backbones.ConvStem`), 2 transformer blocks of width 64, batch 32,
  AdamW at 1e-3. These choices were made on the seen-class validation task (README, "CPU scale").

A method adds its own per-scale defaults (``DeepHashingMethod.scale_defaults``) and may
override ``resolve_settings`` for data-set specific ones (e.g. RAZH's per-data-set epochs).
The resolved values go into the record, so it always says what really ran.
"""

from __future__ import annotations

from typing import Any

SCALES = ("cpu", "paper")

# Options every deep method has (None: resolved from the scale / data set).
ENGINE_OPTIONS: dict[str, Any] = {
    "scale": "cpu",
    "model": None,
    "stem": None,
    "img_size": None,
    "patch_size": None,
    "embed_dim": None,
    "depth": None,
    "num_heads": None,
    "weights": None,
    "pretrained": None,
    "epochs": None,
    "batch_size": None,
    "lr": None,
    "weight_decay": None,
    "warmup_epochs": None,
    "grad_clip": 1.0,
    "augment": None,
    "amp": True,
    "selection": "retrain",
    "eval_every": None,
    "patience": None,
    "selection_window": None,
    "encode_batch_size": 256,
}

PAPER: dict[str, Any] = {
    "model": "vit_base_patch16_224.mae",
    "stem": "patch",
    "img_size": 224,
    "patch_size": 16,
    "embed_dim": None,  # the timm model's own
    "depth": None,
    "num_heads": None,
    "pretrained": True,
    "batch_size": 16,
    "lr": 2e-5,
    "weight_decay": 0.05,
    "epochs": 100,
    "warmup_epochs": 5.0,
    "augment": "rrc+flip",
    "eval_every": 5,
    "patience": None,
    "selection_window": 1,
}

CPU: dict[str, Any] = {
    "model": "vit_tiny_patch16_224",  # its architecture family, resized below
    "stem": "conv",
    "img_size": None,  # the data set's own size, at most 64
    "patch_size": None,  # a 4×4 token grid
    "embed_dim": 64,
    "depth": 2,
    "num_heads": 2,
    "pretrained": False,
    "batch_size": 32,
    "lr": 1e-3,
    "weight_decay": 0.05,
    "epochs": 40,
    "warmup_epochs": 1.0,
    "augment": "none",  # random shifts (crop) lowered seen-class validation mAP on digits
    "eval_every": 1,
    "patience": 10,
    "selection_window": 3,
}

CPU_MAX_SIDE = 64
CPU_GRID = 4


def cpu_geometry(native_size: int | None) -> tuple[int, int]:
    """(image size, patch size) at CPU scale: the images' own side (at most 64), a 4×4 grid."""
    size = CPU_MAX_SIDE if native_size is None else min(int(native_size), CPU_MAX_SIDE)
    if size % CPU_GRID:
        size = max(CPU_GRID, size - size % CPU_GRID)
    return size, size // CPU_GRID


def resolve(
    options: dict[str, Any],
    method_defaults: dict[str, Any],
    dataset: str,
    native_size: int | None,
) -> dict[str, Any]:
    """Fill every None option: the method's per-scale defaults, then the engine's scale."""
    scale = options["scale"]
    base = dict(PAPER if scale == "paper" else CPU)
    base.update(method_defaults)
    if scale == "cpu":
        size, patch = cpu_geometry(native_size)
        base["img_size"] = base.get("img_size") or size
        base["patch_size"] = base.get("patch_size") or patch
    resolved = dict(options)
    for key, value in base.items():
        if resolved.get(key) is None:
            resolved[key] = value
    if options.get("img_size") is not None and options.get("patch_size") is None and scale == "cpu":
        resolved["patch_size"] = max(1, int(options["img_size"]) // CPU_GRID)
    if resolved.get("weights"):
        resolved["pretrained"] = False
    return resolved
