"""Pairwise label similarity, as the deep baselines' papers and their authors' code define it.

Labels arrive as seen-class ids; every function here also takes multi-hot rows (N, C), since
several of these papers are written for multi-label data (AMVH, DRMH): two images are similar
when they share a label, and "how similar" is the cosine of their label vectors.
"""

from __future__ import annotations

import torch


def label_rows(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(N, C) float multi-hot rows: class ids become one-hot rows; 2-d input passes through."""
    if labels.ndim == 2:
        return labels.float()
    return torch.nn.functional.one_hot(labels.long(), num_classes).float()


def shares_a_label(rows_a: torch.Tensor, rows_b: torch.Tensor) -> torch.Tensor:
    """(Na, Nb) bool: S_ij = 1 when images i and j share at least one label."""
    return (rows_a @ rows_b.T) > 0


def cosine_label_similarity(rows_a: torch.Tensor, rows_b: torch.Tensor) -> torch.Tensor:
    """(Na, Nb) in [0, 1]: cosine of the multi-hot label vectors (1 for the same single label)."""
    norms = rows_a.norm(dim=1, keepdim=True) * rows_b.norm(dim=1, keepdim=True).T
    return (rows_a @ rows_b.T) / norms.clamp_min(1e-12)


def balanced_similarity(rows_a: torch.Tensor, rows_b: torch.Tensor) -> torch.Tensor:
    """(Na, Nb): +1 for similar pairs, −r for dissimilar ones, r = #similar / #dissimilar.

    The "soft constraint" of Jiang & Li's code for DDSH and ADSH (``S*(1+r) − r``): with C
    single-label classes about 1/C of the pairs are similar, and asking all the others for
    ``bᵢᵀbⱼ = −c`` cannot be met by more than two classes; scaling the dissimilar target by r
    balances the two kinds of pairs. With no dissimilar pair r is 1 (it multiplies nothing).
    """
    similar = shares_a_label(rows_a, rows_b).float()
    dissimilar = similar.numel() - similar.sum()
    ratio = similar.sum() / dissimilar if dissimilar > 0 else torch.tensor(1.0)
    return similar * (1.0 + ratio) - ratio
