"""DSH: Liu, Wang, Shan & Chen, "Deep Supervised Hashing for Fast Image Retrieval", CVPR 2016.

A contrastive loss on real-valued network outputs u (the relaxed codes b), with a margin on the
squared distance of dissimilar pairs and an L1 regulariser pulling every output towards ±1.
For a pair (b_1, b_2) with y = 0 when similar and y = 1 when dissimilar (the paper's convention):

    L(b_1, b_2, y) = ½ (1 − y) ‖b_1 − b_2‖²  +  ½ y max(m − ‖b_1 − b_2‖², 0)
                     + α (‖ |b_1| − 1 ‖₁ + ‖ |b_2| − 1 ‖₁)

summed over the pairs generated online from every mini-batch (all pairs of its images). The
paper's settings: m = 2k for k bits (a dissimilar pair is pushed apart until half its bits
differ), α = 0.01. Codes: b = sgn(u).

Choices the paper leaves open, settled as the authors' Caffe layer (``HashingLossLayer``) does:

* all unordered pairs i < j of the batch; the contrastive part divided by M(M − 1) (the mean of
  the ½-weighted pair loss over the M(M − 1)/2 pairs), the regulariser summed per image and
  divided by M, so ``loss = contrastive + α · regulariser``;
* the output layer is linear (the authors' last ``InnerProduct`` layer; no tanh).

Zero-shot protocol: pairs come from seen-class labels only, as every pairwise method's must.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from plugins.deep.engine import Batch, Objective
from zshbench.method import TrainData

from .common import DeepHashBaseline, no_autocast, same_class
from .options import DSH_OPTIONS


def dsh_loss(
    u: torch.Tensor, similar: torch.Tensor, margin: float, alpha: float
) -> dict[str, torch.Tensor]:
    """The relaxed DSH loss of a batch: ``contrastive``, ``regulariser`` and ``loss``.

    contrastive = Σ_{i<j} [s_ij ‖u_i − u_j‖² + (1 − s_ij) max(m − ‖u_i − u_j‖², 0)] / (M(M − 1))
    regulariser = Σ_i ‖ |u_i| − 1 ‖₁ / M
    loss        = contrastive + α · regulariser
    (s_ij = 1 − y_ij: 1 for a similar pair.)
    """
    with no_autocast(u.device):
        u = u.float()
        count = u.shape[0]
        squared = (u[:, None, :] - u[None, :, :]).pow(2).sum(-1)
        pair = torch.where(similar.bool(), squared, (margin - squared).clamp_min(0.0))
        upper = torch.ones(count, count, dtype=torch.bool, device=u.device).triu(1)
        contrastive = (pair * upper).sum() / max(count * (count - 1), 1)
        regulariser = (u.abs() - 1.0).abs().sum() / max(count, 1)
        return {
            "loss": contrastive + alpha * regulariser,
            "contrastive": contrastive.detach(),
            "regulariser": regulariser.detach(),
        }


class DSHObjective(Objective):
    """The DSH loss on each batch's own pairs."""

    def __init__(self, network: nn.Module, margin: float, alpha: float):
        super().__init__(network)
        self.margin = float(margin)
        self.alpha = float(alpha)

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        u = self.network.hash_images(batch.images)
        return dsh_loss(u, same_class(batch.labels), self.margin, self.alpha)


class DSH(DeepHashBaseline):
    """DSH (Liu et al., CVPR 2016): contrastive loss with margin on relaxed codes + L1 pull
    towards ±1.

    Options besides the deep engine's: ``margin`` (m; default 2 × bits, the paper's 2k),
    ``alpha`` (the regulariser's weight, default 0.01 as in the paper).
    """

    method_name: ClassVar[str] = "dsh"
    output: ClassVar[str] = "linear"
    default_options: ClassVar[dict[str, Any]] = dict(DSH_OPTIONS)

    def resolve_settings(self, data: TrainData) -> dict[str, Any]:
        settings = super().resolve_settings(data)
        if settings["margin"] is None:
            settings["margin"] = 2.0 * self.bits
        return settings

    def build_objective(
        self, network: nn.Module, settings: dict[str, Any], data: TrainData, num_images: int
    ) -> DSHObjective:
        return DSHObjective(network, settings["margin"], settings["alpha"])
