"""RAZH's losses, one small function per equation of the paper (Eq. 12–18).

Averages instead of the paper's plain sums (Eq. 12, 13): the sums grow with the batch size and
would change the meaning of α and β whenever the batch changes; with means the relative weight of
the terms is the same for every batch size.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def classification_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Eq. 12, L_cls: softmax cross-entropy of the classifier on h, averaged over the batch."""
    return F.cross_entropy(logits.float(), labels)


def pair_weights(similar: torch.Tensor) -> torch.Tensor:
    """Eq. 11, θ_ij: total pairs / pairs of the same kind (similar or dissimilar).

    The paper's s_n is garbled (``N − ½ Σ s_ij``); its evident intent is the number of
    dissimilar pairs, so s_p and s_n count the ordered pairs (i, j) of the N×N matrix, including
    i = j, with s_ij = 1 and 0 respectively. A kind absent from the batch gets weight 0.
    """
    total = similar.numel()
    positive = similar.sum()
    negative = total - positive
    weight_positive = total / positive.clamp_min(1)
    weight_negative = total / negative.clamp_min(1)
    return torch.where(similar > 0, weight_positive, weight_negative)


def pairwise_hash_loss(h: torch.Tensor, similar: torch.Tensor) -> torch.Tensor:
    """Eq. 17, L_h: θ-weighted negative log-likelihood of the pairwise similarities.

    (1/N²) Σ_ij θ_ij (log(1 + e^{½ h_iᵀh_j}) − s_ij ½ h_iᵀh_j), with ``log(1 + e^x)`` computed
    as softplus (no overflow for long codes: ½ h_iᵀh_j reaches bits/2). With θ of Eq. 11 this is
    the mean over similar pairs plus the mean over dissimilar pairs.
    """
    h = h.float()
    similar = similar.to(h.dtype)
    inner = 0.5 * h @ h.T
    terms = F.softplus(inner) - similar * inner
    return (pair_weights(similar) * terms).sum() / similar.numel()


def reconstruction_loss(
    prediction: torch.Tensor, target: torch.Tensor, selected: torch.Tensor
) -> torch.Tensor:
    """One branch of Eq. 13, L_r: squared error of reconstructed pixel patches.

    ``prediction`` and ``target`` are (B, M, p²·C); ``selected`` (B, M) marks the patches the
    encoder did not receive as themselves (masked, or replaced by an attribute), the only ones
    scored (MAE convention). The mean over pixels of a patch, averaged over selected patches;
    0 when nothing is selected.
    """
    per_patch = (prediction.float() - target.float()).pow(2).mean(dim=-1)
    weights = selected.to(per_patch.dtype)
    return (per_patch * weights).sum() / weights.sum().clamp_min(1)


def logcosh(x: torch.Tensor) -> torch.Tensor:
    """log(cosh(x)) without overflow: |x| + log(1 + e^{−2|x|}) − log 2."""
    x = x.abs()
    return x + F.softplus(-2.0 * x) - math.log(2.0)


def hash_alignment_loss(h_mixed: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Eq. 18, L_hal: (1/2N) Σ_i Σ_k logcosh(h^a_ik − h_ik), the smooth form of Eq. 14's |·|."""
    return logcosh(h_mixed.float() - h.float()).sum() / (2 * h.shape[0])


def total_loss(
    parts: dict[str, torch.Tensor], alpha: float, beta: float, use: frozenset[str]
) -> torch.Tensor:
    """Eq. 16, L = L_cls + α·L_h + β·(L_r + L_hal), restricted to the terms in ``use``.

    ``use`` ⊆ {"cls", "h", "rec"} selects Table IV's loss subsets ("rec" is L_r + L_hal, Eq. 15);
    ``parts`` holds "cls", "h", "r" and "hal" (missing ones count as 0).
    """
    zero = next(iter(parts.values())).new_zeros(())
    loss = zero
    if "cls" in use:
        loss = loss + parts.get("cls", zero)
    if "h" in use:
        loss = loss + alpha * parts.get("h", zero)
    if "rec" in use:
        loss = loss + beta * (parts.get("r", zero) + parts.get("hal", zero))
    return loss
