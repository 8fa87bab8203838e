"""Pretrained backbones for every deep method: a timm CNN trunk under ViT blocks, or a timm ViT.

``-o backbone=<timm name>`` with ``-o weights=FILE`` (a local ``.safetensors`` / state dict,
read safely) or ``-o pretrained=true`` (timm's hub path) gives any deep method (RAZH, its
ablations, the deep baselines) pretrained features, at either scale, through one loader
(:func:`build_pretrained`, called by :func:`plugins.deep.backbones.build_backbone`):

* a **ViT** name is the encoder itself (as ``model=``);
* a **CNN** name (e.g. ``mobilenetv2_100``) becomes a *hybrid* encoder: the pretrained trunk up
  to one of its feature levels, a 1×1 projection of that map's cells to the ViT width, then the
  scale's ViT blocks (CPU: 2 blocks of width 64) with their own position embedding. Each cell
  of the map is one token, so RAZH's K-means, attribute matching, replacement and masking act
  on the trunk's cells; the reconstruction target is the image patch under each cell
  (``patch_size`` = the level's stride). The level (``trunk_level``) is by default the deepest
  whose map is at least 4×4 at the input size: 64 px → stride 16 → 16 tokens, as many as the
  CPU scale's conv stem gives; 224 px → stride 32 → 49.

Where this departs from the paper: RAZH masks *image patches* before a ViT whose patch embedding
sees only its own patch. After a CNN trunk every cell's receptive field covers much of the
image, so a masked or replaced token's content is still present in its neighbours: the
reconstruction task is easier and the attribute replacement removes less of the image than it
does in the paper. We keep the masking on the trunk's cells (masking pixels instead would run
the trunk twice per branch and cost 2–3× per step at CPU scale) and say so in the record
(``pretrained.hybrid``).

A ``<stem>.pretrained_cfg.json`` beside the weights gives the input mean/std, interpolation,
input size and timm model arguments (``model_args``, merged under ``-o model_args``), see
:mod:`plugins.features.pretrained_cfg`. BatchNorm layers of a pretrained trunk stay in eval mode
during fine-tuning (frozen statistics): with folded BatchNorm (MobileNetV2's file) batch
statistics would re-normalise every layer and lose the pretrained function.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from torch import nn

from plugins.features.pretrained_cfg import read_pretrained_cfg, weights_provenance
from plugins.features.timm_models import apply_file_cfg, create_timm_model, load_backbone_weights
from zshbench.errors import ZshbenchError

MIN_GRID = 4  # the deepest trunk level whose map is at least this many cells a side


def vit_patch(name: str) -> int | None:
    """The patch size of timm's ``name`` if it is a Vision Transformer, else None."""
    with torch.device("meta"):
        model = create_timm_model(name)
    if hasattr(model, "patch_embed") and hasattr(model, "blocks"):
        return int(model.patch_embed.patch_size[0])
    return None


def model_args(settings: dict[str, Any]) -> dict[str, Any]:
    """timm arguments of the backbone: the weights' cfg ``model_args``, then ``-o model_args``."""
    cfg = read_pretrained_cfg(settings["weights"]) if settings.get("weights") else None
    return {**(cfg or {}).get("model_args", {}), **(settings.get("model_args") or {})}


def trunk_levels(name: str, args: dict[str, Any]) -> list[tuple[int, int]]:
    """(reduction, channels) of each feature level of timm CNN ``name``."""
    with torch.device("meta"):
        model = create_timm_model(name, **args)
    info = getattr(model, "feature_info", None)
    if not info:
        raise ZshbenchError(f"timm model {name!r} lists no feature levels (feature_info)")
    return [(int(level["reduction"]), int(level["num_chs"])) for level in info]


def resolve_geometry(resolved: dict[str, Any], options: dict[str, Any], native: int | None) -> None:
    """Fill img_size, trunk_level and patch_size for a CNN ``backbone`` (in place); a ViT
    ``backbone`` becomes ``model``. Explicit options win."""
    name = str(resolved["backbone"])
    patch = vit_patch(name)
    if patch is not None:
        resolved["model"], resolved["stem"], resolved["patch_size"] = name, "patch", patch
        if options.get("img_size") is None and resolved["scale"] == "cpu":
            resolved["img_size"] = max(patch, int(min(native or 64, 64)) // patch * patch)
        return
    cfg = read_pretrained_cfg(resolved["weights"]) if resolved.get("weights") else None
    if options.get("img_size") is None:
        if resolved["scale"] == "paper" and cfg and cfg.get("input_size"):
            resolved["img_size"] = int(cfg["input_size"][1])
        elif resolved["scale"] == "paper":
            resolved["img_size"] = 224
        else:
            resolved["img_size"] = int(min(native or 64, 64))
    side = int(resolved["img_size"])
    levels = trunk_levels(name, model_args(resolved))
    if options.get("trunk_level") is None:
        fitting = [i for i, (r, _) in enumerate(levels) if side // r >= MIN_GRID]
        resolved["trunk_level"] = fitting[-1] if fitting else 0
    level = int(resolved["trunk_level"])
    if not 0 <= level < len(levels):
        raise ZshbenchError(
            f"trunk_level {level} is not a feature level of {name!r}",
            f"Choose 0..{len(levels) - 1}.",
        )
    reduction = levels[level][0]
    if side % reduction:
        side = max(reduction, side - side % reduction)
        resolved["img_size"] = side
    resolved["patch_size"] = reduction


class TrunkEmbed(nn.Module):
    """timm ``embed_layer``: a CNN trunk's feature map at one level, its cells as tokens.

    ``frozen_bn`` keeps the trunk's BatchNorm layers in eval mode whatever ``train()`` says."""

    def __init__(
        self,
        img_size: int = 64,
        patch_size: int = 16,
        in_chans: int = 3,
        embed_dim: int = 64,
        *,
        trunk: nn.Module,
        level: int,
        channels: int,
        frozen_bn: bool,
        **_: Any,
    ):
        super().__init__()
        side = int(img_size[0] if isinstance(img_size, tuple | list) else img_size)
        patch = int(patch_size[0] if isinstance(patch_size, tuple | list) else patch_size)
        grid = side // patch
        self.img_size, self.patch_size, self.grid_size = (side, side), (patch, patch), (grid, grid)
        self.num_patches, self.in_chans = grid * grid, in_chans
        self.dynamic_img_pad, self.flatten, self.output_fmt = False, True, "NLC"
        self.trunk, self.level, self.frozen_bn = trunk, int(level), bool(frozen_bn)
        self.proj = nn.Conv2d(channels, embed_dim, 1)

    def feat_ratio(self, as_scalar: bool = True) -> int:
        return self.patch_size[0]

    def dynamic_feat_size(self, img_size: tuple[int, int]) -> tuple[int, int]:
        return self.grid_size

    def train(self, mode: bool = True) -> TrunkEmbed:
        super().train(mode)
        if self.frozen_bn:
            for module in self.trunk.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (cells,) = self.trunk.forward_intermediates(
            x, indices=[self.level], intermediates_only=True
        )
        return self.proj(cells).flatten(2).transpose(1, 2)


def load_trunk(settings: dict[str, Any]) -> tuple[nn.Module, dict[str, Any] | None]:
    """The CNN with its weights (strictly checked, nothing trained on a misfit) and its cfg."""
    name = str(settings["backbone"])
    cfg = read_pretrained_cfg(settings["weights"]) if settings.get("weights") else None
    trunk = create_timm_model(
        name, pretrained=bool(settings.get("pretrained")), **model_args(settings)
    )
    if settings.get("weights"):
        load_backbone_weights(trunk, settings["weights"], name)
        apply_file_cfg(trunk, cfg)
    return trunk, cfg


def build_pretrained(settings: dict[str, Any]) -> tuple[nn.Module, tuple, tuple]:
    """(encoder, mean, std) for a ``backbone`` (CNN → hybrid; a ViT is handled by the caller)."""
    from timm.data import resolve_model_data_config

    trunk, _cfg = load_trunk(settings)
    level = int(settings["trunk_level"])
    config = resolve_model_data_config(trunk)
    channels = int(trunk.feature_info[level]["num_chs"])
    trunk.prune_intermediate_layers(indices=[level], prune_head=True, prune_norm=True)
    pretrained = bool(settings.get("weights") or settings.get("pretrained"))
    kwargs: dict[str, Any] = {
        "img_size": int(settings["img_size"]),
        "patch_size": int(settings["patch_size"]),
        "in_chans": 3,
        "embed_layer": partial(
            TrunkEmbed, trunk=trunk, level=level, channels=channels, frozen_bn=pretrained
        ),
    }
    for key in ("embed_dim", "depth", "num_heads"):
        if settings.get(key) is not None:
            kwargs[key] = int(settings[key])
    state = {k: v.clone() for k, v in trunk.state_dict().items()}
    encoder = create_timm_model(str(settings["model"]), **kwargs)
    # timm's ViT initialisation walks every submodule: put the trunk's weights back after it.
    encoder.patch_embed.trunk.load_state_dict(state, strict=True)
    return encoder, tuple(config["mean"]), tuple(config["std"])


def vit_file_cfg(encoder: nn.Module, settings: dict[str, Any]) -> None:
    """A ViT backbone's weights cfg into its pretrained_cfg (mean, std, ...)."""
    if settings.get("weights"):
        apply_file_cfg(encoder, read_pretrained_cfg(settings["weights"]))


def provenance(settings: dict[str, Any], dataset: str, mean: Any, std: Any) -> dict | None:
    """The record's ``pretrained`` block for a deep method's backbone (None: random weights)."""
    name = str(settings.get("backbone") or settings["model"])
    cfg = read_pretrained_cfg(settings["weights"]) if settings.get("weights") else None
    resolved = {
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
        "interpolation": (cfg or {}).get("interpolation"),
        "input_size": [3, int(settings["img_size"]), int(settings["img_size"])],
        "model_args": model_args(settings),
    }
    block = weights_provenance(
        name, dataset, settings.get("weights"), bool(settings.get("pretrained")), resolved
    )
    if block is not None and settings.get("backbone") and settings.get("trunk_level") is not None:
        block["hybrid"] = (
            f"CNN trunk {name} to feature level {settings['trunk_level']} (stride "
            f"{settings['patch_size']}), its cells as tokens of {settings['model']} blocks; "
            "masking and replacement act on trunk cells, whose receptive fields overlap"
        )
    return block
