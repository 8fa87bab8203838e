"""MAE (He et al., 2022) around a timm ViT encoder, and a supervised alternative.

The MAE objective as the paper states it: mask a random 75 % of the patches of each image, run
the encoder on the visible ones only, let a light decoder (its own width and depth, fixed 2-D
sin-cos position embeddings, one shared learnable mask token at every masked position) predict
the pixels of every patch, and score the mean squared error on the **masked** patches only,
each target patch normalised by its own pixel mean and variance (``norm_pix_loss``).

Two departures, both forced by the encoder being the CPU-scale one that RAZH then loads:

* its tokens come from a convolutional stem whose receptive field (19 px at 32 px) spans into
  the neighbouring 8 px cells, so masking tokens after the stem would let masked pixels leak
  into the visible tokens. The masked patches are therefore zeroed **in pixel space** (0 is the
  normalised mean colour) before the stem; every visible token then depends on visible pixels
  only. With timm's linear patch embedding (``stem=patch``) this changes nothing.
* the decoder sees the patch tokens only, not the class token (which the encoder still has).

The stem's BatchNorm statistics seen in training are those of mostly-zeroed images;
:func:`recalibrate_batchnorm` re-estimates them on whole images before the weights are saved.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def patchify(images: torch.Tensor, patch: int) -> torch.Tensor:
    """(B, C, H, W) → (B, M, p²·C), patches in row-major grid order, pixels (row, col, channel)."""
    batch, channels, height, width = images.shape
    gh, gw = height // patch, width // patch
    x = images.reshape(batch, channels, gh, patch, gw, patch)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(batch, gh * gw, patch * patch * channels)


def masked_patch_loss(
    prediction: torch.Tensor, target: torch.Tensor, masked: torch.Tensor, norm_pix: bool = True
) -> torch.Tensor:
    """MAE's loss: per-patch mean squared error, averaged over the masked patches only.

    ``prediction``, ``target``: (B, M, P); ``masked``: (B, M) bool. With ``norm_pix`` each target
    patch is first standardised by its own mean and (unbiased) variance, ε = 1e-6.
    """
    if norm_pix:
        mean = target.mean(dim=-1, keepdim=True)
        var = target.var(dim=-1, keepdim=True)
        target = (target - mean) / (var + 1e-6).sqrt()
    per_patch = ((prediction - target) ** 2).mean(dim=-1)
    weight = masked.to(per_patch.dtype)
    return (per_patch * weight).sum() / weight.sum().clamp_min(1.0)


def sincos_positions(grid: int, dim: int) -> torch.Tensor:
    """Fixed 2-D sin-cos position embeddings (1, grid², dim): half the channels encode the row,
    half the column, each as sines and cosines of geometric frequencies (as in MAE)."""
    if dim % 4:
        raise ValueError(f"sin-cos position embeddings need a width divisible by 4, not {dim}")
    quarter = dim // 4
    omega = 1.0 / (10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter))
    rows, cols = torch.meshgrid(
        torch.arange(grid, dtype=torch.float64), torch.arange(grid, dtype=torch.float64),
        indexing="ij",
    )  # fmt: skip
    parts = []
    for coordinate in (rows.flatten(), cols.flatten()):
        angles = coordinate[:, None] * omega[None, :]
        parts += [angles.sin(), angles.cos()]
    return torch.cat(parts, dim=1).float()[None]


def encode_visible(encoder: nn.Module, tokens: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """The timm ViT on the patch tokens at positions ``keep`` (B, m) only, prefix tokens first
    (position embeddings added before the gather, as the whole-image forward adds them)."""
    positions = encoder.pos_embed
    prefix_count = 0 if encoder.no_embed_class else encoder.num_prefix_tokens
    tokens = tokens + positions[:, prefix_count:]
    tokens = torch.gather(tokens, 1, keep[..., None].expand(-1, -1, tokens.shape[-1]))
    if encoder.cls_token is not None:
        cls = encoder.cls_token + (0 if encoder.no_embed_class else positions[:, :1])
        tokens = torch.cat([cls.expand(tokens.shape[0], -1, -1), tokens], dim=1)
    x = encoder.norm_pre(encoder.pos_drop(tokens))
    for block in encoder.blocks:
        x = block(x)
    return encoder.norm(x)


def pooled_features(encoder: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Whole-image feature: the mean of the encoder's output tokens (RAZH's ``pool="mean"``)."""
    return encoder.forward_features(images).mean(dim=1)


class MAE(nn.Module):
    """An encoder (timm ViT, ``num_classes=0``) with MAE's masking, light decoder and loss."""

    def __init__(
        self,
        encoder: nn.Module,
        mask_ratio: float = 0.75,
        decoder_dim: int = 64,
        decoder_depth: int = 2,
        decoder_heads: int = 2,
        norm_pix: bool = True,
    ):
        super().__init__()
        from timm.models.vision_transformer import Block

        if not 0.0 < mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in (0, 1), not {mask_ratio}")
        self.encoder = encoder
        self.patch = int(encoder.patch_embed.patch_size[0])
        grid = int(encoder.patch_embed.grid_size[0])
        self.num_patches = grid * grid
        self.mask_ratio = float(mask_ratio)
        self.norm_pix = bool(norm_pix)
        self.decoder_embed = nn.Linear(int(encoder.embed_dim), decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        self.register_buffer("decoder_pos", sincos_positions(grid, decoder_dim), persistent=False)
        self.decoder_blocks = nn.ModuleList(
            Block(decoder_dim, decoder_heads, mlp_ratio=4.0, qkv_bias=True)
            for _ in range(decoder_depth)
        )
        self.decoder_norm = nn.LayerNorm(decoder_dim)
        self.decoder_pred = nn.Linear(decoder_dim, self.patch * self.patch * 3)
        nn.init.normal_(self.mask_token, std=0.02)

    def random_masking(
        self, batch: int, generator: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Kept patch indices (B, m), sorted, and the masked patches (B, M) bool."""
        keep_count = max(1, round(self.num_patches * (1.0 - self.mask_ratio)))
        noise = torch.rand(batch, self.num_patches, generator=generator)
        keep = noise.argsort(dim=1)[:, :keep_count].sort(dim=1).values
        masked = torch.ones(batch, self.num_patches, dtype=torch.bool)
        masked.scatter_(1, keep, False)
        return keep, masked

    def pixel_mask(self, masked: torch.Tensor, side: int) -> torch.Tensor:
        """(B, 1, side, side) float: 0 on masked patches, 1 on visible ones."""
        grid = side // self.patch
        visible = (~masked).float().view(-1, 1, grid, grid)
        return visible.repeat_interleave(self.patch, 2).repeat_interleave(self.patch, 3)

    def decode(self, sequence: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        prefix = sequence.shape[1] - keep.shape[1]
        x = self.decoder_embed(sequence[:, prefix:])
        full = self.mask_token.to(x.dtype).expand(x.shape[0], self.num_patches, -1).clone()
        full = full.scatter(1, keep[..., None].expand(-1, -1, x.shape[-1]), x)
        x = full + self.decoder_pos
        for block in self.decoder_blocks:
            x = block(x)
        return self.decoder_pred(self.decoder_norm(x))

    def forward(
        self, images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        """The loss of one batch of normalised images (labels unused: self-supervised)."""
        keep, masked = self.random_masking(images.shape[0], generator)
        keep, masked = keep.to(images.device), masked.to(images.device)
        hidden = images * self.pixel_mask(masked, images.shape[-1])  # no leak through the stem
        tokens = self.encoder.patch_embed(hidden)
        sequence = encode_visible(self.encoder, tokens, keep)
        prediction = self.decode(sequence, keep)
        return masked_patch_loss(prediction, patchify(images, self.patch), masked, self.norm_pix)


class Supervised(nn.Module):
    """The encoder's mean-pooled feature, a linear classifier, cross-entropy on class labels."""

    def __init__(self, encoder: nn.Module, num_classes: int):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(int(encoder.embed_dim), num_classes)

    def forward(
        self, images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        return F.cross_entropy(self.head(pooled_features(self.encoder, images)), labels)


def random_resized_crop_flip(
    images: torch.Tensor,
    generator: torch.Generator,
    scale: tuple[float, float] = (0.2, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> torch.Tensor:
    """Per-image random resized crop (area share in ``scale``, aspect in ``ratio``) and
    horizontal flip of a float batch, in one batched ``grid_sample`` (bilinear)."""
    batch = images.shape[0]
    area = torch.empty(batch).uniform_(*scale, generator=generator)
    log_ratio = torch.empty(batch).uniform_(
        math.log(ratio[0]), math.log(ratio[1]), generator=generator
    )
    aspect = log_ratio.exp()
    width = (area * aspect).sqrt().clamp(max=1.0)
    height = (area / aspect).sqrt().clamp(max=1.0)
    cx = (torch.rand(batch, generator=generator) * 2 - 1) * (1 - width)
    cy = (torch.rand(batch, generator=generator) * 2 - 1) * (1 - height)
    flip = torch.where(torch.rand(batch, generator=generator) < 0.5, -1.0, 1.0)
    theta = torch.zeros(batch, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = width * flip, cx
    theta[:, 1, 1], theta[:, 1, 2] = height, cy
    grid = F.affine_grid(theta.to(images), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


@torch.no_grad()
def recalibrate_batchnorm(encoder: nn.Module, batches) -> None:
    """Re-estimate every BatchNorm's running mean/var on ``batches`` of whole, normalised images
    (a cumulative average), leaving all weights unchanged."""
    norms = [m for m in encoder.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    was_training = encoder.training
    saved = [m.momentum for m in norms]
    encoder.eval()
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
        norm.train()
    for batch in batches:
        encoder.patch_embed(batch)
    for norm, momentum in zip(norms, saved, strict=True):
        norm.momentum = momentum
    encoder.train(was_training)
