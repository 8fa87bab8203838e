"""PIXEL's three loss terms, as its authors' code computes them (read for facts, not copied).

    L = L_cls + w_align · L_align + w_reg · L_reg

* **L_cls**, CosFace on class prototypes: the cosine c_iy between the continuous code h_i and a
  learned prototype w_y of each seen class, logits s · (c_iy − m · [y = y_i]), cross-entropy;
  s = 10, m = 0.2 (the authors' ``pixel.yaml``).
* **L_align**, the visual–textual alignment (the code's ``compute_loss_semantics_dist``): for
  every pair i < j of the batch, with V_i the image's per-attribute visual embeddings and T_i
  the attribute prompts' text embeddings (both (A, E), each row L2-normalised) and a learned
  scale α (initialised to 1),

      ℓ_ij = mean((V_i − V_j) − α (T_i − T_j))²
             + [y_i = y_j] · λ · (mean(V_i − V_j) + mean(T_i − T_j))

  averaged over the B(B−1)/2 pairs; λ = 4 in the code. The second term is a *signed* mean of
  differences, as the code has it (it is not squared).
* **L_reg**, attribute regression: the mean squared error between the image's attribute scores
  (its visual embeddings averaged over E, one score per attribute) and its class's row of the
  L2-row-normalised class–attribute matrix.

The weights (w_align, w_reg) are the code's per data set: CUB (2.5, 0.5), AWA2 (3, 0.4),
SUN (2, 0.3); other data sets get CUB's (the record says which were used).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

PAPER_WEIGHTS: dict[str, tuple[float, float]] = {
    "cub": (2.5, 0.5),
    "awa2": (3.0, 0.4),
    "sun": (2.0, 0.3),
}
DEFAULT_WEIGHTS_FROM = "cub"


def paper_weights(dataset: str) -> tuple[str, tuple[float, float]]:
    """(the authors' data set whose (w_align, w_reg) apply, the weights) for ``dataset``:
    its own name or its prefix before "-" (``cub-mini64`` → cub), else CUB's."""
    for name in (dataset, dataset.split("-", 1)[0]):
        if name in PAPER_WEIGHTS:
            return name, PAPER_WEIGHTS[name]
    return DEFAULT_WEIGHTS_FROM, PAPER_WEIGHTS[DEFAULT_WEIGHTS_FROM]


def cosine_logits(h: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    """cos(h_i, w_c) for every image i and class prototype c, a (B, C) matrix."""
    return F.normalize(h.float(), dim=1) @ F.normalize(prototypes.float(), dim=1).T


def cosface_loss(cosines: torch.Tensor, labels: torch.Tensor, s: float, m: float) -> torch.Tensor:
    """Cross-entropy of s · (cos − m · one-hot(y)): the margin m is taken off the true class."""
    margin = F.one_hot(labels, cosines.shape[1]).to(cosines.dtype) * float(m)
    return F.cross_entropy(float(s) * (cosines - margin), labels)


def alignment_loss(
    visual: torch.Tensor,
    text: torch.Tensor,
    labels: torch.Tensor,
    alpha: torch.Tensor,
    same_class_weight: float = 4.0,
) -> torch.Tensor:
    """L_align over the pairs i < j of the batch (module docstring); ``visual`` and ``text`` are
    (B, A, E) and row-normalised by the caller.

    The squared term is computed from D_i = V_i − α T_i: mean(D_i − D_j)² =
    (|D_i|² + |D_j|² − 2⟨D_i, D_j⟩) / (A E), so no (B², A, E) tensor is built.
    """
    count = visual.shape[0]
    if count < 2:
        return visual.sum() * 0.0
    size = visual.shape[1] * visual.shape[2]
    d = (visual.float() - alpha.float() * text.float()).reshape(count, -1)
    norms = (d * d).sum(1)
    squared = (norms[:, None] + norms[None, :] - 2.0 * d @ d.T) / size
    means = visual.float().reshape(count, -1).mean(1) + text.float().reshape(count, -1).mean(1)
    signed = means[:, None] - means[None, :]  # mean(V_i − V_j) + mean(T_i − T_j)
    same = (labels[:, None] == labels[None, :]).float()
    pairs = torch.triu(torch.ones(count, count, device=d.device), diagonal=1)
    total = (pairs * (squared + same_class_weight * same * signed)).sum()
    return total / (count * (count - 1) / 2)


def regression_loss(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """MSE between the (B, A) attribute scores and the (B, A) class attribute rows."""
    return F.mse_loss(scores.float(), targets.float())
