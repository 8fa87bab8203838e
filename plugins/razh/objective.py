"""Eq. 16 as the deep engine's objective: L = L_cls + α·L_h + β·(L_r + L_hal).

One module holds the network and the loss, so DistributedDataParallel can wrap the whole step.
Besides the loss terms it reports the share of patches Eq. 3 replaced (``replaced``), which the
engine averages per epoch into the record: a threshold that replaces nearly every patch turns
the mixing branch into class-prototype reconstruction.
"""

from __future__ import annotations

import torch

from plugins.deep.engine import Batch, Objective

from .losses import (
    classification_loss,
    hash_alignment_loss,
    hash_loss_batch_scale,
    pairwise_hash_loss,
    reconstruction_loss,
    total_loss,
)
from .model import RAZHNet

LOSS_TERMS = ("cls", "h", "rec")


def parse_losses(text: str) -> frozenset[str]:
    """``"cls+h+rec"`` → {"cls", "h", "rec"} (Table IV's subsets), with a clear error."""
    terms = frozenset(part.strip() for part in str(text).split("+") if part.strip())
    unknown = terms - set(LOSS_TERMS)
    if not terms or unknown:
        raise ValueError(
            f"losses must be '+'-joined terms of {', '.join(LOSS_TERMS)} (e.g. cls+h+rec), "
            f"not {text!r}"
        )
    return terms


def razh_loss_parts(
    net: RAZHNet,
    images: torch.Tensor,
    labels: torch.Tensor,
    generator: torch.Generator | None,
    alpha: float,
    beta: float,
    losses: frozenset[str],
    hash_loss_batch: int | None = None,
    aux_hash_loss: bool = False,
) -> dict[str, torch.Tensor]:
    """Every term of Eq. 16 for one batch, and their weighted sum under ``"loss"``; L_h on the
    scale of a ``hash_loss_batch``-image batch (None: the batch's own, Eq. 17 as written).

    ``aux_hash_loss`` adds the authors' code's L_cls + α·L_h on the mixing branch's h^a
    (terms ``cls_aux``, ``h_aux``), which Eq. 16 does not write."""
    out = net(images, labels, generator, reconstruct="rec" in losses)
    similar = labels[:, None] == labels[None, :]
    parts = {
        "cls": classification_loss(out.logits, labels),
        "h": pairwise_hash_loss(out.h, similar)
        * hash_loss_batch_scale(len(labels), hash_loss_batch),
    }
    if out.reconstruction is not None:
        parts["r"] = reconstruction_loss(out.reconstruction, out.target, out.masked)
    if out.h_aux is not None:
        parts["r"] = parts["r"] + reconstruction_loss(
            out.aux_reconstruction, out.target, out.aux_selected
        )
        parts["hal"] = hash_alignment_loss(out.h_aux, out.h)
    parts["loss"] = total_loss(parts, alpha, beta, losses)
    if aux_hash_loss and out.h_aux is not None and "cls" in losses and "h" in losses:
        parts["cls_aux"] = classification_loss(net.classifier(out.h_aux), labels)
        parts["h_aux"] = pairwise_hash_loss(out.h_aux, similar) * hash_loss_batch_scale(
            len(labels), hash_loss_batch
        )
        parts["loss"] = parts["loss"] + parts["cls_aux"] + alpha * parts["h_aux"]
    with torch.no_grad():
        if "cls" in losses:  # without L_cls the classifier is untrained: its argmax means nothing
            parts["acc"] = (out.logits.argmax(1) == labels).float().mean()
        if out.mixing is not None:
            parts["replaced"] = out.mixing.replaced.float().mean()
    return parts


class RAZHObjective(Objective):
    """Eq. 16 on a batch (``losses`` selects Table IV's subsets; the reconstruction warm-up is
    ``losses={"rec"}`` with α = 0, β = 1)."""

    def __init__(
        self,
        network: RAZHNet,
        alpha: float,
        beta: float,
        losses: frozenset[str],
        hash_loss_batch: int | None = None,
        aux_hash_loss: bool = False,
    ):
        super().__init__(network)
        self.hash_loss_batch = hash_loss_batch
        self.aux_hash_loss = bool(aux_hash_loss)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.losses = losses
        self.classifier_trained = "cls" in losses

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        return razh_loss_parts(
            self.network, batch.images, batch.labels, batch.generator, self.alpha, self.beta,
            self.losses, self.hash_loss_batch, self.aux_hash_loss,
        )  # fmt: skip
