"""The CPU scale's convolutional stem: a timm ``embed_layer`` that cuts a small image into tokens.

It lives with the feature code because two families build it: the deep engine's CPU-scale
encoder (:mod:`plugins.deep.backbones`) and the frozen ``timm`` extractor, which rebuilds a
``zshbench pretrain`` ViT (its ``pretrained_cfg.json`` says ``"zshbench_stem": "conv"``) so the
linear methods can hash that ViT's features.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from zshbench.errors import ZshbenchError

CONV_STEM_WIDTHS = (32, 64, 64)


class ConvStem(nn.Module):
    """Patch tokens from a few 3×3 convolutions, then a convolution with kernel = stride = the
    remaining map's cell size, giving a ``grid × grid`` token map (timm ``embed_layer``)."""

    def __init__(
        self,
        img_size: int = 64,
        patch_size: int = 16,
        in_chans: int = 3,
        embed_dim: int = 64,
        widths: tuple[int, ...] = (32, 64, 64),
        **_: Any,
    ):
        super().__init__()
        side = int(img_size[0] if isinstance(img_size, (tuple, list)) else img_size)
        patch = int(patch_size[0] if isinstance(patch_size, (tuple, list)) else patch_size)
        if side % patch:
            raise ZshbenchError(f"image size {side} is not a multiple of the patch size {patch}")
        grid = side // patch
        self.img_size = (side, side)
        self.patch_size = (patch, patch)  # pixels per token, as the reconstruction target sees it
        self.grid_size = (grid, grid)
        self.num_patches = grid * grid
        self.in_chans = in_chans
        self.dynamic_img_pad, self.flatten, self.output_fmt = False, True, "NLC"
        layers: list[nn.Module] = []
        channels, current = in_chans, side
        for width in widths:
            stride = 2 if current > 2 * grid and current % 2 == 0 else 1
            layers += [
                nn.Conv2d(channels, width, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.GELU(),
            ]
            channels, current = width, current // stride
        cell = current // grid
        layers.append(nn.Conv2d(channels, embed_dim, cell, stride=cell))
        self.proj = nn.Sequential(*layers)

    def feat_ratio(self, as_scalar: bool = True) -> int:
        return self.patch_size[0]

    def dynamic_feat_size(self, img_size: tuple[int, int]) -> tuple[int, int]:
        return self.grid_size

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


def conv_stem_model_args(cfg: dict[str, Any]) -> dict[str, Any]:
    """``timm.create_model`` arguments that rebuild a conv-stem ViT from its pretrained cfg."""
    from functools import partial

    size = cfg.get("input_size") or [3, 32, 32]
    return {
        **(cfg.get("model_args") or {}),
        "img_size": int(size[-1]),
        "embed_layer": partial(ConvStem, widths=CONV_STEM_WIDTHS),
    }
