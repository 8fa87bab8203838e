"""RAZH's losses, one small function per equation of the paper (Eq. 12–18; Eq. 11's pair
weights θ are the engine's :func:`plugins.deep.pairs.pair_weights`).

Averages instead of the paper's plain sums for L_cls and L_r (Eq. 12, 13), as the authors' code
does (cross-entropy and MSE means). L_h (Eq. 17) and L_hal (Eq. 18) keep the paper's 1/(2N)
normalisation of a sum, the scale Table VIII's α and β were tuned for; as that scale grows with
the batch, :func:`hash_loss_batch_scale` brings L_h back to the authors' batch of 16 at any other
batch size, so α keeps the balance it was tuned for.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from plugins.deep.pairs import pair_weights


def classification_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Eq. 12, L_cls: softmax cross-entropy of the classifier on h, averaged over the batch."""
    return F.cross_entropy(logits.float(), labels)


def pairwise_hash_loss(h: torch.Tensor, similar: torch.Tensor) -> torch.Tensor:
    """Eq. 17, L_h: θ-weighted negative log-likelihood of the pairwise similarities.

    (1/2N) Σ_{i≠j} θ_ij (log(1 + e^{½ h_iᵀh_j}) − s_ij ½ h_iᵀh_j), on the authors' scale: a
    θ-weighted *sum* over the batch's pairs divided by 2N, as Table VIII's α and β were tuned for
    (it equals (N − 1)/2 times "mean over similar pairs + mean over dissimilar pairs": 7.5 times
    at the paper's batch of 16). ``log(1 + e^x)`` is softplus (no overflow for long codes:
    ½ h_iᵀh_j reaches bits/2), and h_iᵀh_j is computed in fp32 even under bf16 autocast.
    """
    with torch.autocast(h.device.type, enabled=False):
        h = h.float()
        similar = similar.to(h.dtype)
        inner = 0.5 * h @ h.T
        terms = F.softplus(inner) - similar * inner
        return (pair_weights(similar) * terms).sum() / (2 * h.shape[0])


#: The batch Table VIII's α and β were tuned at (the authors' code and the paper: 16).
AUTHORS_BATCH = 16


def hash_loss_batch_scale(batch: int, reference: int | None) -> float:
    """The factor that puts L_h of a ``batch``-image step on the scale of a ``reference``-image
    one: (reference − 1)/(batch − 1); 1 when ``reference`` is None (the formula as written).

    L_h (Eq. 17) is a θ-weighted sum over N(N − 1) ordered pairs divided by 2N; θ makes the sum
    N(N − 1) times a per-pair mean, so L_h = (N − 1)/2 · m with m independent of N. At the CPU
    scale's batch of 32 it is 31/15 ≈ 2.07 times the value the same network gives at 16, and
    α = 1 weighs L_h twice as heavily against L_cls as the paper meant (measured on 75 CUB
    classes: L_h 18.5 against L_cls 3.6, training accuracy stuck at 0.10-0.12).
    """
    if reference is None or batch < 2:
        return 1.0
    return (int(reference) - 1) / (int(batch) - 1)


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
