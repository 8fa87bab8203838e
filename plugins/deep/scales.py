"""The two scales every deep method runs at, and how an option left at None gets its value.

* ``scale="paper"``: ViT-B/16 at 224 from MAE's self-supervised weights
  (``vit_base_patch16_224.mae``, timm's pretrained path: local file with ``weights=``, or the
  Hugging Face hub cache), normalised with its own mean/std (ImageNet's), batch 16, AdamW
  (0.9, 0.95), random-resized-crop + flip augmentation, bf16 autocast on CUDA.
* ``scale="cpu"`` (default): a token encoder that learns from scratch on two CPU cores: the data
  set's own image size up to 32 px, a 4×4 token grid from a convolutional stem
  (:class:`plugins.deep.backbones.ConvStem`), 2 transformer blocks of width 64, batch 32,
  AdamW at 1e-3. These choices were made on the seen-class validation task (README, "CPU scale").

A method adds its own per-scale defaults (``DeepHashingMethod.scale_defaults``) and may
override ``resolve_settings`` for data-set specific ones (e.g. RAZH's per-data-set epochs).
The resolved values go into the record, so it always says what really ran.
"""

from __future__ import annotations

from typing import Any

from zshbench.options import Option

from .choices import AUGMENTATIONS, STEMS

SCALES = ("cpu", "paper")
SELECTIONS = ("retrain", "checkpoint", "none")

# Options every deep method has (null: resolved from the scale / data set), declared once with
# their types and ranges (zshbench.options): bad values fail before any data loads.
ENGINE_OPTIONS: dict[str, Any] = {
    "scale": Option("cpu", choices=SCALES, help="cpu (from scratch) or paper (ViT-B/16, MAE)"),
    "model": Option(None, kind="string", help="timm ViT name, e.g. vit_base_patch16_224.mae"),
    "stem": Option(None, kind="string", choices=STEMS, help="patch embedding or conv stem"),
    "img_size": Option(None, kind="integer", minimum=1, help="input side in pixels"),
    "patch_size": Option(None, kind="integer", minimum=1, help="pixels per token side"),
    "embed_dim": Option(None, kind="integer", minimum=1, help="ViT width"),
    "depth": Option(None, kind="integer", minimum=1, help="ViT blocks"),
    "num_heads": Option(None, kind="integer", minimum=1, help="attention heads"),
    "weights": Option(None, kind="string", help="local checkpoint of the backbone"),
    "backbone": Option(
        None, kind="string", help="timm CNN (hybrid: trunk cells as tokens) or ViT name"
    ),
    "model_args": Option(None, kind="object", help="timm.create_model arguments of backbone"),
    "trunk_level": Option(None, kind="integer", minimum=0, help="CNN feature level of tokens"),
    "pretrained": Option(None, kind="boolean", help="timm's weights for the model's tag"),
    "epochs": Option(None, kind="integer", minimum=1, help="training epochs (at most)"),
    "batch_size": Option(None, kind="integer", minimum=1, help="images per step"),
    "lr": Option(None, kind="number", minimum=0.0, help="AdamW learning rate"),
    "weight_decay": Option(None, kind="number", minimum=0.0, help="AdamW weight decay"),
    "warmup_epochs": Option(None, kind="number", minimum=0.0, help="linear lr warm-up"),
    "grad_clip": Option(1.0, minimum=0.0, nullable=True, help="gradient norm clip (null: none)"),
    "augment": Option(None, kind="string", choices=AUGMENTATIONS, help="training augmentation"),
    "amp": Option(True, help="bf16 autocast on CUDA"),
    "selection": Option("retrain", choices=SELECTIONS, help="model selection on validation"),
    "eval_every": Option(None, kind="integer", minimum=1, help="epochs between validations"),
    "patience": Option(None, kind="integer", minimum=1, help="early stop after n evaluations"),
    "selection_window": Option(
        None, kind="integer", minimum=1, help="validation evaluations averaged (odd)"
    ),
    "selection_min_accuracy": Option(
        None,
        kind="number",
        minimum=0.0,
        maximum=1.0,
        help="training accuracy an epoch needs to be chosen",
    ),  # fmt: skip
    "encode_batch_size": Option(256, minimum=1, help="images per encoding pass"),
    "threads": Option(
        None,
        kind="integer",
        minimum=1,
        help="torch threads on a CPU device (null: the scale's; 1 at CPU scale)",
    ),  # fmt: skip
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
    "selection_min_accuracy": 0.95,
    "threads": None,  # torch's default
}

CPU: dict[str, Any] = {
    "model": "vit_tiny_patch16_224",  # its architecture family, resized below
    "stem": "conv",
    "img_size": None,  # the data set's own size, at most CPU_MAX_SIDE (32 px)
    "patch_size": None,  # a 4×4 token grid
    "embed_dim": 64,
    "depth": 2,
    "num_heads": 2,
    "pretrained": False,
    "batch_size": 32,
    "lr": 1e-3,
    "weight_decay": 0.05,
    "epochs": 30,
    "warmup_epochs": 1.0,
    "augment": "none",  # random shifts (crop) lowered seen-class validation mAP on digits
    "eval_every": 2,
    "patience": 5,
    "selection_window": 3,
    "selection_min_accuracy": 0.95,  # see plugins.deep.engine.EpochSelector
    # One thread: the CPU-scale encoder's tensors are so small that a second thread costs more
    # than it gives (a RAZH step on digits: 340 img/s on one thread, 242 on two).
    "threads": 1,
}

# At most 32 px: cub-mini64's 64 px birds cost about twice as much per step at 64 px, and at CPU
# scale their seen-class validation mAP is near chance either way (3.5–4.7 % at 64 px,
# 3.5–3.9 % at 32 px over 30 epochs); two cores spend the time on seeds and code lengths instead.
CPU_MAX_SIDE = 32
CPU_GRID = 4


def cpu_geometry(native_size: int | None) -> tuple[int, int]:
    """(image size, patch size) at CPU scale: the images' own side (at most 32), a 4×4 grid."""
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
    if resolved.get("backbone"):
        from .hybrid import resolve_geometry

        resolve_geometry(resolved, options, native_size)
    return resolved
