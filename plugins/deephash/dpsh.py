"""DPSH: Li, Wang & Kang, "Feature Learning based Deep Supervised Hashing with Pairwise Labels",
IJCAI 2016.

The likelihood of the pairwise labels under p(s_ij = 1 | b_i, b_j) = σ(Θ_ij), Θ_ij = ½ b_iᵀb_j,
relaxed to real-valued outputs u, plus a quantisation term tying u to its code b = sgn(u):

    J = − Σ_{s_ij ∈ S} (s_ij Θ_ij − log(1 + e^{Θ_ij}))  +  η Σ_i ‖b_i − u_i‖²,   Θ_ij = ½ u_iᵀu_j

with u_i = Wᵀφ(x_i) + v the network's linear output (no tanh). The paper's η is 10 on CIFAR-10
(the authors' code: 10 on CIFAR-10, 50 on NUS-WIDE); we use 10.

Choices the paper leaves open, settled as the authors' PyTorch code (jiangqy/DPSH-pytorch) does:

* S is every pair of a batch image with *every* training image: a memory U holds the latest
  output of each training image (written, detached, as its batch passes), and Θ is computed
  between the batch's u (with gradient) and U. Self-pairs count, as in the authors' code.
* U starts as the outputs of the untrained network on the whole training set (the authors start
  from zeros, which makes the first epoch's pairs with unseen images constant; one deterministic
  encoding pass gives the paper's sum over all pairs from the first step).

J is a sum of N² pair terms and N quantisation terms, so how much η weighs against the
likelihood depends on the training-set size N: per image, N likelihood terms against one
quantisation term. η = 10 was set on CIFAR-10's N = 5,000 training images. We keep that balance
on a training set of any size (``reference_images``, default 5,000): the likelihood is averaged
over each image's N partners and the quantisation term divided by the reference size,

    loss = [ Σ_{i ∈ batch, j} ℓ_ij / N  +  η Σ_{i ∈ batch} ‖b_i − u_i‖² / N_ref ] / M,

which at N = N_ref is exactly the authors' division of J by N·M. (With the authors' division on
a few hundred training images, η weighs 10–20 times more than in the paper; the untrained
CPU-scale encoder gives nearly the same output for every image, and the quantisation term then
holds the codes there: on the tests' separable set, mAP at chance after 60 steps, against 0.99
with N_ref.) ``reference_images=0`` divides by N instead (the authors' code as is).

At CPU scale on digits DPSH does not fit the seen classes with either division: its likelihood
has no balanced pair weights, so with 7 classes most of its gradient is common to all images
and the outputs shrink to 0 (likelihood log 2 per pair); see the README's "Deep baselines".

Zero-shot protocol: S comes from seen-class labels, and the memory holds training images only.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from plugins.deep.engine import Batch, Objective, Session
from zshbench.method import TrainData

from .common import (
    CodeMemory,
    DeepHashBaseline,
    hard_sign,
    no_autocast,
    same_class,
)
from .options import DPSH_OPTIONS


def pairwise_likelihood_loss(
    u: torch.Tensor, memory: torch.Tensor, similar: torch.Tensor
) -> torch.Tensor:
    """− Σ_{i,j} (s_ij Θ_ij − log(1 + e^{Θ_ij})), Θ_ij = ½ u_iᵀU_j, summed over the batch (rows)
    and the memory (columns); ``log(1 + e^x)`` as softplus (no overflow at Θ = bits/2)."""
    with no_autocast(u.device):
        theta = 0.5 * u.float() @ memory.float().T
        return (F.softplus(theta) - similar.float() * theta).sum()


def quantisation_loss(u: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """Σ_i ‖b_i − u_i‖² over the batch (b detached: the codes are targets, not functions of θ)."""
    with no_autocast(u.device):
        return (codes.detach().float() - u.float()).pow(2).sum()


def pair_normalisers(num_images: int, batch: int, reference_images: int) -> tuple[float, float]:
    """(1/(N·M), 1/(N_ref·M)): the likelihood's and the quantisation term's divisors; N_ref = N
    when ``reference_images`` is 0 (the authors' 1/(N·M) for both)."""
    reference = reference_images or num_images
    return 1.0 / (num_images * batch), 1.0 / (reference * batch)


def dpsh_loss(
    u: torch.Tensor,
    memory: torch.Tensor,
    similar: torch.Tensor,
    eta: float,
    reference_images: int = 0,
    codes: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """DPSH's J for one batch against the memory: the likelihood over N·M pairs divided by N·M,
    η Σ‖b_i − u_i‖² divided by N_ref·M (see the module docstring). b_i = sgn(u_i), or the rows
    of ``codes`` given (DSDH's B)."""
    pair_scale, image_scale = pair_normalisers(memory.shape[0], u.shape[0], reference_images)
    likelihood = pairwise_likelihood_loss(u, memory, similar) * pair_scale
    targets = hard_sign(u.detach()) if codes is None else codes
    quantisation = quantisation_loss(u, targets) * image_scale
    return {
        "loss": likelihood + eta * quantisation,
        "likelihood": likelihood.detach(),
        "quantisation": quantisation.detach(),
    }


class DPSHObjective(Objective):
    """J on each batch against the memory U of every training image's latest output."""

    def __init__(self, network: nn.Module, num_images: int, eta: float, reference_images: int):
        super().__init__(network)
        self.eta = float(eta)
        self.reference_images = int(reference_images)
        self.memory = CodeMemory(num_images, network.bits)
        self.labels: torch.Tensor | None = None

    def start_epoch(self, session: Session) -> None:
        if self.labels is None:  # first epoch: the untrained network's outputs, labels once
            self.labels = session.labels.clone()
            self.memory.fill(session.encode_training_set())

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        u = self.network.hash_images(batch.images)
        self.memory.write(batch.index, u)
        labels = self.labels.to(u.device)
        similar = same_class(batch.labels, labels)
        return dpsh_loss(u, self.memory.values, similar, self.eta, self.reference_images)


class DPSH(DeepHashBaseline):
    """DPSH (Li et al., IJCAI 2016): pairwise-label likelihood of relaxed codes + quantisation.

    Options besides the deep engine's: ``eta`` (the quantisation weight η, default 10),
    ``reference_images`` (the training-set size η was set for, 5,000; 0: the training set's own).
    """

    method_name: ClassVar[str] = "dpsh"
    output: ClassVar[str] = "linear"
    default_options: ClassVar[dict[str, Any]] = dict(DPSH_OPTIONS)

    def build_objective(
        self, network: nn.Module, settings: dict[str, Any], data: TrainData, num_images: int
    ) -> DPSHObjective:
        return DPSHObjective(
            network, num_images, settings["eta"], int(settings["reference_images"])
        )
