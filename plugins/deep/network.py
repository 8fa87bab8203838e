"""The network most deep hashing baselines share: backbone → pooled feature → hash layer.

h = tanh(W f + o) on the mean of the backbone's output tokens (RAZH's hash layer too, Eq. 7),
and optionally a linear classifier on h (methods with a classification term: DSDH, RAZH). A
baseline that needs more (a second head, a discriminator) wraps this module or adds its own
modules to its objective.
"""

from __future__ import annotations

import torch
from torch import nn


class HashingNetwork(nn.Module):
    """A timm ViT backbone, mean pooling, a tanh hash layer and an optional classifier.

    ``hash_images(x)`` is the engine's contract (continuous h; codes are sgn(h)); ``features``
    is the pooled backbone feature, ``logits(h)`` the classifier's scores.
    """

    def __init__(self, encoder: nn.Module, bits: int, num_classes: int | None = None):
        super().__init__()
        self.encoder = encoder
        self.bits = int(bits)
        self.hash_layer = nn.Linear(int(encoder.embed_dim), self.bits)
        self.classifier = nn.Linear(self.bits, num_classes) if num_classes else None

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The mean of all output tokens (class token included, as RAZH's authors pool)."""
        return self.encoder.forward_features(images).mean(dim=1)

    def hash_logits(self, images: torch.Tensor) -> torch.Tensor:
        """W f + o before the tanh (methods that relax the sign differently use this)."""
        return self.hash_layer(self.features(images))

    def hash_images(self, images: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.hash_logits(images))

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        if self.classifier is None:
            raise RuntimeError("this network has no classifier")
        return self.classifier(h)
