"""HashNet: Cao, Long, Wang & Yu, "HashNet: Deep Learning to Hash by Continuation", ICCV 2017.

A weighted maximum-likelihood loss on pairwise labels, with the activation h = tanh(β z) whose β
grows during training (continuation), so that h approaches sgn(z) and training ends on (almost)
binary codes without a quantisation term:

    L = Σ_{s_ij ∈ S} w_ij ( log(1 + exp(α ⟨h_i, h_j⟩)) − α s_ij ⟨h_i, h_j⟩ )
    w_ij = c_ij · |S| / |S_1| if s_ij = 1,   c_ij · |S| / |S_0| if s_ij = 0

c_ij = 1 for single-label data (it weighs multi-label similarity); α is the adaptive sigmoid
parameter, 10 / K in the authors' PyTorch code (``sigmoid_param = 10 / hash_bit``).

Continuation (the paper's sequence of stages with growing β, each warm-started from the last).
The authors' code sets β = (1 + γ t)^p with γ = 0.005, p = 0.5, t the iteration (updated every
200 iterations), over 10,000 iterations: β goes from 1 to √51 ≈ 7.1. We keep that curve and map
it onto epochs: epoch e of a schedule of E epochs is one stage with
t_e = T · (e − 1) / E, T = 10,000, i.e. β_e = (1 + γ T (e − 1)/E)^p. E is the engine's schedule
horizon (``schedule_epochs``, or ``epochs``), so a retrain that stops at the chosen epoch has the
very β it was chosen with. The record carries β per epoch (``beta``).

Choices the paper leaves open:

* S is the batch's ordered pairs i ≠ j (the authors' code pairs two independently drawn
  batches; within one batch the pairs are the same in expectation); L is divided by |S|, so it
  is the mean over similar plus the mean over dissimilar pairs;
* log(1 + e^x) as softplus (the authors clip the inner product at 15 instead).

At test time the codes are sgn(z) = sgn(tanh(β z)) for any β > 0.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from plugins.deep.engine import Batch, Objective, Session
from plugins.deep.pairs import pair_weights
from zshbench.method import TrainData

from .common import DeepHashBaseline, no_autocast, same_class
from .options import HASHNET_OPTIONS


def continuation_beta(
    epoch: int, horizon: int, gamma: float, power: float, iterations: float
) -> float:
    """β of epoch ``epoch`` (1-based) of a ``horizon``-epoch schedule: (1 + γ T (e − 1)/E)^p."""
    progress = (max(1, int(epoch)) - 1) / max(1, int(horizon))
    return float((1.0 + gamma * iterations * progress) ** power)


def weighted_pairwise_loss(h: torch.Tensor, similar: torch.Tensor, alpha: float) -> torch.Tensor:
    """L = Σ w_ij (log(1 + exp(α⟨h_i, h_j⟩)) − α s_ij ⟨h_i, h_j⟩) / |S| over ordered i ≠ j."""
    with no_autocast(h.device):
        h = h.float()
        inner = alpha * h @ h.T
        terms = F.softplus(inner) - similar.float() * inner
        count = h.shape[0]
        return (pair_weights(similar) * terms).sum() / max(count * (count - 1), 1)


class HashNetObjective(Objective):
    """The weighted pairwise loss on tanh(β z), β set for each epoch by the continuation."""

    def __init__(
        self, network: nn.Module, alpha: float, gamma: float, power: float, iterations: float
    ):
        super().__init__(network)
        self.alpha = float(alpha)
        self.gamma, self.power, self.iterations = float(gamma), float(power), float(iterations)
        self.beta = 1.0

    def start_epoch(self, session: Session) -> None:
        horizon = session.settings.schedule_epochs or session.settings.epochs
        self.beta = continuation_beta(
            session.epoch, horizon, self.gamma, self.power, self.iterations
        )

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        z = self.network.hash_logits(batch.images)
        h = torch.tanh(self.beta * z.float())
        loss = weighted_pairwise_loss(h, same_class(batch.labels), self.alpha)
        return {
            "loss": loss,
            "beta": torch.tensor(self.beta, device=loss.device),
            "saturation": (h.detach().abs() > 0.99).float().mean(),
        }


class HashNet(DeepHashBaseline):
    """HashNet (Cao et al., ICCV 2017): weighted pairwise cross-entropy on tanh(β z), β growing by
    continuation over the training schedule.

    Options besides the deep engine's: ``alpha`` (the sigmoid parameter; default 10 / bits, the
    authors'), ``beta_gamma`` (0.005), ``beta_power`` (0.5) and ``beta_iterations`` (10,000): the
    authors' β = (1 + γ t)^p over T iterations, spread over the schedule's epochs.
    """

    method_name: ClassVar[str] = "hashnet"
    output: ClassVar[str] = "tanh"
    default_options: ClassVar[dict[str, Any]] = dict(HASHNET_OPTIONS)

    def resolve_settings(self, data: TrainData) -> dict[str, Any]:
        settings = super().resolve_settings(data)
        if settings["alpha"] is None:
            settings["alpha"] = 10.0 / self.bits
        return settings

    def build_objective(
        self, network: nn.Module, settings: dict[str, Any], data: TrainData, num_images: int
    ) -> HashNetObjective:
        return HashNetObjective(
            network,
            settings["alpha"],
            settings["beta_gamma"],
            settings["beta_power"],
            settings["beta_iterations"],
        )
