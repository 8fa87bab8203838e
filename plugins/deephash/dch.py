"""DCH: Cao, Long, Liu & Wang, "Deep Cauchy Hashing for Hamming Space Retrieval", CVPR 2018.

A pairwise cross-entropy in which the probability that two codes are similar is a Cauchy
function of their (relaxed) Hamming distance, so similar pairs beyond a small Hamming radius are
penalised heavily, plus a Cauchy quantisation loss:

    d(h_i, h_j) = (K/2) (1 − cos(h_i, h_j))                      relaxed Hamming distance (Eq. 6)
    σ(d) = γ / (γ + d)                                           Cauchy probability of s_ij = 1
    L = Σ_{s_ij ∈ S} w_ij [ s_ij log(d_ij / γ) + log(1 + γ / d_ij) ]            (Eq. 8)
    w_ij = |S| / |S_1| if s_ij = 1,  |S| / |S_0| if s_ij = 0                    (Eq. 2)
    Q = Σ_i log(1 + d(|h_i|, 1) / γ)                                            (Eq. 9)
    min L + λ Q                                                                 (Eq. 7)

with h = tanh(W f + o) (the authors' code defaults to the tanh output). The bracket of Eq. 8 is
−log σ(d) for a similar pair and −log(1 − σ(d)) for a dissimilar one, i.e. log(1 + d/γ) and
log(1 + γ/d); we compute it in those forms (log1p, no 0/0 at d = 0).

Settings: γ = 20 (the authors' code default), λ = 0.1 (the weight used with γ = 20 in the
paper's experiments as we read them; the authors' code defaults to 0).

Choices the paper leaves open:

* S is the batch's ordered pairs i ≠ j (an image is not a pair with itself); L is divided by
  |S| (so it is the mean over similar pairs plus the mean over dissimilar pairs) and Q by the
  batch size;
* d is floored at 1e-4·K/2 for dissimilar pairs, whose term diverges as d → 0 (two identical
  codes of different classes); cos is computed with norms floored at 1e-8.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from plugins.deep.engine import Batch, Objective
from plugins.deep.pairs import pair_weights
from zshbench.method import TrainData

from .common import DeepHashBaseline, no_autocast, same_class
from .options import DCH_OPTIONS

DISTANCE_FLOOR = 1e-4  # of K/2


def relaxed_hamming(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Eq. 6: d(a_i, b_j) = (K/2)(1 − cos(a_i, b_j)), for all rows of ``a`` against ``b``."""
    bits = a.shape[1]
    a_unit = a / a.norm(dim=1, keepdim=True).clamp_min(1e-8)
    b_unit = b / b.norm(dim=1, keepdim=True).clamp_min(1e-8)
    return 0.5 * bits * (1.0 - a_unit @ b_unit.T)


def cauchy_cross_entropy(h: torch.Tensor, similar: torch.Tensor, gamma: float) -> torch.Tensor:
    """Eq. 8 with the weights of Eq. 2, divided by |S| (ordered pairs i ≠ j)."""
    distance = relaxed_hamming(h, h)
    floor = DISTANCE_FLOOR * 0.5 * h.shape[1]
    similar_term = torch.log1p(distance.clamp_min(0.0) / gamma)
    dissimilar_term = torch.log1p(gamma / distance.clamp_min(floor))
    terms = torch.where(similar.bool(), similar_term, dissimilar_term)
    weights = pair_weights(similar)
    count = h.shape[0]
    return (weights * terms).sum() / max(count * (count - 1), 1)


def cauchy_quantisation(h: torch.Tensor, gamma: float) -> torch.Tensor:
    """Eq. 9, Q = Σ_i log(1 + d(|h_i|, 1)/γ), divided by the batch size."""
    ones = torch.ones(1, h.shape[1], dtype=h.dtype, device=h.device)
    return torch.log1p(relaxed_hamming(h.abs(), ones) / gamma).sum() / max(h.shape[0], 1)


def dch_loss(
    h: torch.Tensor, similar: torch.Tensor, gamma: float, lam: float
) -> dict[str, torch.Tensor]:
    """Eq. 7, L + λQ, and its two terms."""
    with no_autocast(h.device):
        h = h.float()
        cross_entropy = cauchy_cross_entropy(h, similar, gamma)
        quantisation = cauchy_quantisation(h, gamma)
        return {
            "loss": cross_entropy + lam * quantisation,
            "cauchy": cross_entropy.detach(),
            "quantisation": quantisation.detach(),
        }


class DCHObjective(Objective):
    def __init__(self, network: nn.Module, gamma: float, lam: float):
        super().__init__(network)
        self.gamma = float(gamma)
        self.lam = float(lam)

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        h = self.network.hash_images(batch.images)
        return dch_loss(h, same_class(batch.labels), self.gamma, self.lam)


class DCH(DeepHashBaseline):
    """DCH (Cao et al., CVPR 2018): weighted Cauchy cross-entropy on relaxed Hamming distances +
    Cauchy quantisation loss.

    Options besides the deep engine's: ``gamma`` (the Cauchy scale γ, 20), ``lam`` (the
    quantisation weight λ, 0.1).
    """

    method_name: ClassVar[str] = "dch"
    output: ClassVar[str] = "tanh"
    default_options: ClassVar[dict[str, Any]] = dict(DCH_OPTIONS)

    def build_objective(
        self, network: nn.Module, settings: dict[str, Any], data: TrainData, num_images: int
    ) -> DCHObjective:
        return DCHObjective(network, settings["gamma"], settings["lam"])
