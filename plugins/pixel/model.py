"""PIXEL's network on the shared engine's backbone, and its attribute prompts.

The authors' network (their ``arch_pixel.py``): a backbone whose last feature map (2048 × 7 × 7)
feeds a 1×1 convolution to one map per attribute and a linear map of the 49 positions to an
E = 512 embedding, giving per-attribute visual embeddings V (A, E); the pooled feature feeds a
linear hash layer h = W f + o, and a cosine layer compares h with one learned prototype per
class. Here the backbone is the engine's ViT: its output tokens play the positions (a linear map
D → A per token, then N tokens → E), so the same module runs at CPU and paper scale.

The text side. The authors encode, per image, a sentence listing its attributes with a BERT and
mix its token states into A attribute slots. zshbench's data sets carry class-level attributes
and the core provides a frozen sentence encoder (the packaged MiniLM), so each attribute a gets
two prompts, one that it is present and one that it is absent (``PROMPTS``), encoded once; class
c's slot a is the blend s_ca · u⁺_a + (1 − s_ca) · u⁻_a with s_ca the class's attribute strength
in [0, 1], mapped to E by a learned linear layer and L2-normalised. Only seen classes' rows are
ever built. The authors' 10 % token masking becomes a 10 % slot dropout in training.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from plugins.deep.network import HashingNetwork

PROMPTS = ("a photo of something with {attribute}", "a photo of something without {attribute}")


def readable_attribute(name: str) -> str:
    """ "has_bill_shape::curved_(up_or_down)" → "has bill shape curved (up or down)"."""
    return " ".join(name.replace("::", " ").replace("_", " ").split())


def attribute_strengths(values: np.ndarray) -> np.ndarray:
    """s_ca in [0, 1]: each attribute's column min–max scaled over the seen classes (missing
    values, marked negative in some AWA2 copies, count as absent; a constant column is 0)."""
    x = np.where(np.asarray(values, dtype=np.float64) < 0, np.nan, values)
    low, high = np.nanmin(x, axis=0), np.nanmax(x, axis=0)
    span = np.where(high > low, high - low, 1.0)
    return np.nan_to_num((x - low) / span, nan=0.0).clip(0.0, 1.0).astype(np.float32)


def regression_targets(values: np.ndarray) -> np.ndarray:
    """The L_reg targets: each class's attribute row, L2-normalised (missing values as 0)."""
    x = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0), 0.0, None)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


class PIXELNet(HashingNetwork):
    """Backbone → (linear hash layer h, per-attribute visual embeddings V); class prototypes;
    the attribute prompts' text embeddings T of the seen classes."""

    def __init__(
        self,
        encoder: nn.Module,
        bits: int,
        num_tokens: int,
        prompt_vectors: torch.Tensor,  # (2, A, d): present / absent prompts
        strengths: torch.Tensor,  # (C, A) in [0, 1]
        targets: torch.Tensor,  # (C, A), rows L2-normalised
        attribute_dim: int,
    ):
        super().__init__(encoder, bits)
        attributes = int(strengths.shape[1])
        self.attribute_map = nn.Linear(int(encoder.embed_dim), attributes)
        self.position_map = nn.Linear(int(num_tokens), int(attribute_dim))
        self.prototypes = nn.Parameter(torch.randn(int(strengths.shape[0]), self.bits))
        self.text_proj = nn.Linear(int(prompt_vectors.shape[-1]), int(attribute_dim))
        self.alpha = nn.Parameter(torch.ones(1))
        self.register_buffer("prompt_vectors", prompt_vectors.float())
        self.register_buffer("strengths", strengths.float())
        self.register_buffer("targets", targets.float())

    def hash_images(self, images: torch.Tensor) -> torch.Tensor:
        """h = W f + o, unbounded as the authors' hash layer (codes are sgn(h))."""
        return self.hash_logits(images)

    def forward_all(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(h (B, bits), V (B, A, E) before normalisation) from one backbone pass."""
        tokens = self.encoder.forward_features(images)  # (B, N, D)
        h = self.hash_layer(tokens.mean(dim=1))
        maps = self.attribute_map(tokens).transpose(1, 2)  # (B, A, N)
        return h, self.position_map(maps)

    def text_embeddings(
        self,
        labels: torch.Tensor,
        dropout: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """T (B, A, E) of the batch's classes, rows L2-normalised; ``dropout`` zeroes slots
        before the projection (the authors' token masking), in training only, drawn from the
        step's seeded ``generator``."""
        s = self.strengths[labels][..., None]  # (B, A, 1)
        blend = s * self.prompt_vectors[0] + (1.0 - s) * self.prompt_vectors[1]
        if dropout > 0.0:
            draw = torch.rand(tuple(blend.shape[:2]), generator=generator)
            keep = (draw >= dropout).to(blend.device, blend.dtype)
            blend = blend * keep[..., None]
        return F.normalize(self.text_proj(blend), dim=-1)


def count_tokens(encoder: nn.Module, img_size: int) -> int:
    """N, the backbone's output tokens for one image (class token included)."""
    with torch.no_grad():
        was_training = encoder.training
        encoder.eval()
        tokens = encoder.forward_features(torch.zeros(1, 3, int(img_size), int(img_size)))
        encoder.train(was_training)
    return int(tokens.shape[1])
