"""Batched cosine K-means over each image's patch embeddings (the clustering of Eq. 1).

RAZH groups every image's M patch embeddings into K' clusters, so that an attribute can cover a
region larger than one patch. This runs for a whole batch at once on the model's device: one
(B, M, K') similarity tensor per iteration, no per-image Python loop and no k-means package.

Choices (documented because the paper does not give them):

* **cosine**: patches are L2-normalised and assigned to the centre of highest cosine
  similarity; centres are the normalised means of their members (spherical k-means).
* **initialisation**: K' distinct patches per image drawn with a seeded ``torch.Generator``.
* **fixed iterations**: ``iterations`` assignment/update rounds (no convergence test, so the cost
  is fixed and the batch stays in lock-step).
* **empty clusters** keep their previous centre.
* **no gradient** flows through the assignment (it is an argmax); Eq. 1's centres are then
  recomputed by the caller as plain means of the members, which *are* differentiable.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


@torch.no_grad()
def cosine_kmeans(
    points: torch.Tensor,
    clusters: int,
    iterations: int = 10,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Cluster each row-set of ``points`` (B, M, D) into ``clusters`` groups.

    Returns the assignment (B, M) int64 in [0, clusters). Deterministic for a given generator
    state. ``clusters`` must be between 1 and M.
    """
    if points.ndim != 3:
        raise ValueError(f"points must be (B, M, D), got shape {tuple(points.shape)}")
    batch, count, _ = points.shape
    if not 1 <= clusters <= count:
        raise ValueError(f"clusters must be in [1, {count}] (patches per image), got {clusters}")
    with torch.autocast(points.device.type, enabled=False):  # fp32 even inside bf16 training
        return _cosine_kmeans(points, clusters, iterations, generator)


def _cosine_kmeans(
    points: torch.Tensor, clusters: int, iterations: int, generator: torch.Generator | None
) -> torch.Tensor:
    batch, count, _ = points.shape
    unit = F.normalize(points.float(), dim=-1)
    # K' distinct starting patches per image: the first K' of a random permutation.
    noise = torch.rand(batch, count, generator=generator, device="cpu").to(points.device)
    start = noise.argsort(dim=1)[:, :clusters]
    centres = torch.gather(unit, 1, start[..., None].expand(-1, -1, unit.shape[-1]))
    assignment = (unit @ centres.transpose(1, 2)).argmax(dim=-1)
    for _ in range(int(iterations)):
        one_hot = F.one_hot(assignment, clusters).to(unit.dtype)  # (B, M, K')
        sums = one_hot.transpose(1, 2) @ unit  # (B, K', D)
        sizes = one_hot.sum(dim=1)[..., None]  # (B, K', 1)
        centres = torch.where(sizes > 0, F.normalize(sums, dim=-1), centres)
        assignment = (unit @ centres.transpose(1, 2)).argmax(dim=-1)
    return assignment


def cluster_means(points: torch.Tensor, assignment: torch.Tensor, clusters: int) -> torch.Tensor:
    """Eq. 1: j_k = (1/|C_k|) Σ_{p ∈ C_k} p for every image, (B, K', D); empty clusters → 0.

    Differentiable in ``points`` (the assignment is a constant), which is how F_m and the patch
    embedding receive gradients through the cluster centres.
    """
    one_hot = F.one_hot(assignment, clusters).to(points.dtype)  # (B, M, K')
    sums = one_hot.transpose(1, 2) @ points
    sizes = one_hot.sum(dim=1)[..., None].clamp_min(1)
    return sums / sizes
