"""Balanced pair weights θ, shared by the pairwise losses of RAZH (Eq. 11, 17), HashNet and DCH.

A batch of a few classes holds far more dissimilar than similar pairs; weighting each kind by the
inverse of its share keeps the loss from learning "everything is dissimilar".
"""

from __future__ import annotations

import torch


def pair_weights(similar: torch.Tensor) -> torch.Tensor:
    """θ_ij: pairs / pairs of the same kind (similar or dissimilar), over i ≠ j only.

    RAZH's Eq. 11 (its s_n is garbled as ``N − ½ Σ s_ij``; its evident intent, and the authors'
    count, is the number of dissimilar pairs), HashNet's and DCH's w_ij = |S| / |S_1| and
    |S| / |S_0|. s_p and s_n count the ordered pairs (i, j), i ≠ j, with s_ij = 1 and 0;
    θ_ij = N(N − 1)/s_p or N(N − 1)/s_n, and θ_ii = 0 (an image is not a pair with itself). A kind
    absent from the batch gets weight 0 (the papers divide by its count).
    """
    count = similar.shape[0]
    off_diagonal = ~torch.eye(count, dtype=torch.bool, device=similar.device)
    same = similar.bool() & off_diagonal
    total = count * (count - 1)
    positive = same.sum()
    negative = total - positive
    weights = torch.where(
        same, total / positive.clamp_min(1).float(), total / negative.clamp_min(1).float()
    )
    return weights * off_diagonal
