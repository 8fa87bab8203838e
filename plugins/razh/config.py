"""RAZH's settings: two scales of defaults, and the paper's α/β per data set and code length.

Every option left at None is resolved here once the data set and the code length are known, and
the resolved values go into the results record, so a record always says what really ran.

* ``scale="paper"``: ViT-B/16 at 224 (timm ``vit_base_patch16_224``), MAE's decoder (512-d,
  8 blocks, 16 heads), d_a = 300, batch 16, AdamW (0.9, 0.95); learning rate, weight decay and
  epochs as the authors' code uses them on AWA2 / CUB; bf16 autocast on CUDA.
* ``scale="cpu"``: a small ViT sized for two CPU cores: the data set's own image size up to 64 px
  (digits: 8 px) on a 4×4 patch grid, 2 blocks of width 64, a 1-block decoder.
  It trains from scratch: no pretrained weights can be downloaded on our machines.

α and β (Eq. 16): the paper's grid-search values (its Table VIII, carried into
``paper_alpha_beta.csv``) for AWA2, CUB and CIFAR-10; a data set named ``<name>-...`` (e.g.
``cub-mini64``) uses ``<name>``'s row; code lengths between the table's use the nearest one; any
other data set gets α = β = 1.
"""

from __future__ import annotations

import csv
from importlib import resources
from typing import Any

SCALES = ("cpu", "paper")

PAPER_SCALE: dict[str, Any] = {
    "model": "vit_base_patch16_224",
    "img_size": 224,
    "patch_size": 16,
    "embed_dim": None,  # the timm model's own
    "depth": None,
    "num_heads": None,
    "decoder_dim": 512,
    "decoder_depth": 8,
    "decoder_heads": 16,
    "attribute_dim": 300,
    "batch_size": 16,
    "lr": 2e-5,
    "weight_decay": 0.05,
    "epochs": 100,
    "pretrain_epochs": 0,  # the MAE weights are the pre-training
}

# The authors' code: AWA2 lr 6e-6, weight decay 0.5, 70 (24/48 bits) or 50 epochs; CUB lr 2e-5,
# weight decay 0.05, 200 epochs. AWA2 uses 25 clusters at 64/128 bits.
PAPER_DATASET: dict[str, dict[str, Any]] = {
    "awa2": {"lr": 6e-6, "weight_decay": 0.5, "epochs": 70},
    "cub": {"lr": 2e-5, "weight_decay": 0.05, "epochs": 200},
}

CPU_SCALE: dict[str, Any] = {
    "model": "vit_tiny_patch16_224",  # its architecture family, resized below
    "img_size": None,  # the data set's own size, at most 64
    "patch_size": None,  # a 4×4 patch grid
    "embed_dim": 64,
    "depth": 2,
    "num_heads": 2,
    "decoder_dim": 32,
    "decoder_depth": 1,
    "decoder_heads": 2,
    "attribute_dim": 32,
    "batch_size": 32,
    "lr": 1e-3,
    "weight_decay": 0.05,
    "epochs": 40,
    "pretrain_epochs": 20,
}


def table_dataset(dataset: str) -> str | None:
    """The row of the paper's tables a data set uses: itself, or its prefix (cub-mini64 → cub)."""
    known = {"awa2", "cub", "cifar10"}
    if dataset in known:
        return dataset
    prefix = dataset.split("-", 1)[0]
    return prefix if prefix in known else None


def paper_alpha_beta(dataset: str, bits: int) -> tuple[float, float] | None:
    """Table VIII's (α, β) for ``dataset`` at the nearest tabulated code length, or None.

    A code length halfway between two tabulated ones takes the shorter (36 → 24 bits).
    """
    name = table_dataset(dataset)
    if name is None:
        return None
    text = resources.files("plugins.razh").joinpath("paper_alpha_beta.csv").read_text()
    rows = [row for row in csv.DictReader(text.splitlines()) if row["dataset"] == name]
    if not rows:
        return None
    row = min(rows, key=lambda r: (abs(int(r["bits"]) - bits), int(r["bits"])))
    return float(row["alpha"]), float(row["beta"])


def default_clusters(dataset: str, bits: int, num_patches: int, scale: str) -> int:
    """K': 9 as in the paper's figures (AWA2: 25 at 64/128 bits), at most a quarter of the
    patches (4 of the CPU scale's 16: clusters of a single patch would make RAZH RAZH-C)."""
    wanted = 25 if table_dataset(dataset) == "awa2" and bits >= 64 else 9
    return max(1, min(wanted, num_patches // 4))


def default_threshold(bits: int) -> float:
    """The authors' replacement threshold: 0.1 up to 48 bits, 0.2 above."""
    return 0.1 if bits <= 48 else 0.2


def cpu_geometry(native_size: int | None) -> tuple[int, int]:
    """(image size, patch size) at CPU scale: the images' own side (at most 64), a 4×4 grid.

    Two CPU cores do about 10 GFLOP/s on these small matrices; 16 patches keep an epoch of
    cub-mini64 in seconds (an 8×8 grid costs four times as much per epoch).
    """
    size = 64 if native_size is None else min(int(native_size), 64)
    grid = 4
    if size % grid:
        size = max(grid, size - size % grid)
    return size, size // grid


def resolve(options: dict[str, Any], dataset: str, bits: int, native_size: int | None) -> dict:
    """Fill every None option from the scale, the data set and the code length."""
    scale = options["scale"]
    base = dict(PAPER_SCALE if scale == "paper" else CPU_SCALE)
    if scale == "paper":
        base.update(PAPER_DATASET.get(table_dataset(dataset) or "", {}))
        if table_dataset(dataset) == "awa2" and bits >= 64:
            base["epochs"] = 50
    else:
        base["img_size"], base["patch_size"] = cpu_geometry(native_size)
    resolved = {key: (base[key] if options.get(key) is None else options[key]) for key in base}
    for key, value in options.items():
        if key not in resolved:
            resolved[key] = value
    table = paper_alpha_beta(dataset, bits)
    if resolved.get("alpha") is None:
        resolved["alpha"] = table[0] if table else 1.0
    if resolved.get("beta") is None:
        resolved["beta"] = table[1] if table else 1.0
    if resolved.get("threshold") is None:
        resolved["threshold"] = default_threshold(bits)
    num_patches = (resolved["img_size"] // resolved["patch_size"]) ** 2
    if resolved.get("clusters") is None:
        resolved["clusters"] = default_clusters(dataset, bits, num_patches, scale)
    return resolved
