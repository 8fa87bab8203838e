"""DSDH: Li, Sun, He & Tan, "Deep Supervised Discrete Hashing", NeurIPS 2017.

The pairwise likelihood of DPSH on the network's outputs u, plus a linear classifier W on the
*binary* codes b, the two tied by a quantisation term:

    min_{B, W, θ}  − Σ_{s_ij ∈ S} (s_ij Ψ_ij − log(1 + e^{Ψ_ij}))  +  μ Σ_i ‖y_i − Wᵀb_i‖²
                   + ν ‖W‖²_F  +  η Σ_i ‖b_i − u_i‖²,         Ψ_ij = ½ u_iᵀu_j,  b_i ∈ {−1, 1}^K

with u_i the network's linear output and y_i the one-hot label. Optimised alternately:

* θ (the network) by back-propagation with B and W fixed: the likelihood and η‖b_i − u_i‖²;
* W in closed form:  W = (B Bᵀ + (ν/μ) I)⁻¹ B Yᵀ;
* B by discrete cyclic coordinate descent (DCC), one bit (row of B) at a time:
  b_k = sgn(p_k − B'ᵀ W' w_k), P = W Y + (η/μ) U, where w_k is W's k-th row and B', W' are B and
  W without their k-th rows (minimises μ‖Y − WᵀB‖² + η‖B − U‖² over row k exactly).

The paper's settings: μ = 1, ν = 0.1, η = 55 (as we read its experiments section; third-party
PyTorch ports use ν = 1). W and B are updated once per epoch, from the memory of the network's
outputs, ``dcc_iterations`` rounds of (W-step, B-step) each (10, the rounds third-party ports
run; they update after every mini-batch, which under torchrun would need the memory synchronised
at every step and costs a DCC sweep per step).

Choices the paper leaves open (DPSH's code base, which DSDH builds on, settles the first two):

* the likelihood pairs each batch image with every training image through a memory U of the
  latest outputs (detached), divided by N·M like DPSH; the η term is divided by N_ref·M, with
  N_ref = 5,000 (``reference_images``: CIFAR-10's training set, on which DSDH's η was set, as
  DPSH's), so η weighs against the likelihood as in the paper whatever the training-set size
  (see :mod:`.dpsh`; with N·M on digits' few hundred images the collapsed outputs of the
  untrained CPU-scale encoder give B one code for every image, and η = 55 holds them there:
  seen-class mAP at chance). The B- and W-steps keep the paper's μ, ν, η: their terms are all
  per-image sums, whose balance does not depend on N;
* the memory starts as the untrained network's outputs (one deterministic encoding pass) and
  B as their signs, so the first epoch already has codes to pull towards;
* the code update runs in the engine's ``start_epoch``, before every epoch, from the memory,
  identically on every rank (the memory is all-gathered under torchrun);
* the terms μ‖y − Wᵀb‖² and ν‖W‖² do not depend on θ; the record carries the classification
  term (mean over the batch) as a figure.

Zero-shot protocol: Y is the seen-class labels; B and U cover training images only.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
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
from .dpsh import dpsh_loss
from .options import DSDH_OPTIONS


def classifier_step(codes: torch.Tensor, targets: torch.Tensor, mu: float, nu: float):
    """W = (B Bᵀ + (ν/μ) I)⁻¹ B Yᵀ for B (K × N) in {−1, 1} and one-hot Y (C × N); W is K × C.

    Solved in float64 (B Bᵀ is N on its diagonal; ν/μ is small)."""
    b = codes.double()
    gram = b @ b.T + (nu / mu) * torch.eye(b.shape[0], dtype=torch.float64, device=b.device)
    return torch.linalg.solve(gram, b @ targets.double().T).to(codes.dtype)


def code_step(
    codes: torch.Tensor,
    outputs: torch.Tensor,
    weights: torch.Tensor,
    targets: torch.Tensor,
    mu: float,
    eta: float,
) -> torch.Tensor:
    """One DCC sweep over the K rows of B (K × N): b_k = sgn(p_k − B'ᵀ W' w_k), P = W Y + (η/μ) U.

    ``outputs`` is U (K × N), ``weights`` W (K × C), ``targets`` Y (C × N). Returns a new B;
    rows are updated in order, each using the rows already updated.
    """
    codes = codes.clone()
    projection = weights @ targets + (eta / mu) * outputs
    for k in range(codes.shape[0]):
        rest = torch.arange(codes.shape[0], device=codes.device) != k
        correction = codes[rest].T @ (weights[rest] @ weights[k])
        codes[k] = hard_sign(projection[k] - correction)
    return codes


def dsdh_network_loss(
    u: torch.Tensor,
    memory: torch.Tensor,
    similar: torch.Tensor,
    codes: torch.Tensor,
    eta: float,
    reference_images: int = 0,
) -> dict[str, torch.Tensor]:
    """The terms of DSDH's objective that depend on the network, for one batch: the likelihood
    against the memory divided by N·M, and η Σ‖b_i − u_i‖² with b_i from B divided by N_ref·M:
    DPSH's J with B as the codes."""
    return dpsh_loss(u, memory, similar, eta, reference_images, codes=codes)


class DSDHObjective(Objective):
    """The network's terms on each batch; the W- and B-steps at the start of each epoch."""

    def __init__(
        self,
        network: nn.Module,
        num_images: int,
        num_classes: int,
        mu: float,
        nu: float,
        eta: float,
        dcc_iterations: int,
        reference_images: int = 0,
    ):
        super().__init__(network)
        self.mu, self.nu, self.eta = float(mu), float(nu), float(eta)
        self.reference_images = int(reference_images)
        self.dcc_iterations = int(dcc_iterations)
        self.num_classes = int(num_classes)
        self.memory = CodeMemory(num_images, network.bits)
        self.codes: torch.Tensor | None = None  # B, N × K (rows per image)
        self.weights: torch.Tensor | None = None  # W, K × C
        self.labels: torch.Tensor | None = None

    def start_epoch(self, session: Session) -> None:
        if self.labels is None:
            self.labels = session.labels.clone()
            self.memory.fill(session.encode_training_set())
            self.codes = hard_sign(self.memory.values.clone())
        self.update_codes()

    @torch.no_grad()
    def update_codes(self) -> None:
        """``dcc_iterations`` rounds of the W-step and a DCC sweep of the B-step, from U."""
        outputs = self.memory.values.float().T  # K × N
        device = outputs.device
        targets = torch.nn.functional.one_hot(self.labels.to(device), self.num_classes).float().T
        codes = self.codes.to(device).T
        for _ in range(self.dcc_iterations):
            self.weights = classifier_step(codes, targets, self.mu, self.nu)
            codes = code_step(codes, outputs, self.weights, targets, self.mu, self.eta)
        self.codes = codes.T.contiguous()

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        u = self.network.hash_images(batch.images)
        self.memory.write(batch.index, u)
        device = u.device
        similar = same_class(batch.labels, self.labels.to(device))
        codes = self.codes.to(device)[batch.index.to(device)]
        parts = dsdh_network_loss(
            u, self.memory.values, similar, codes, self.eta, self.reference_images
        )
        with torch.no_grad(), no_autocast(device):
            onehot = torch.nn.functional.one_hot(batch.labels, self.num_classes).float()
            scores = codes.float() @ self.weights.to(device).float()
            parts["classification"] = (onehot - scores).pow(2).sum(1).mean()
        return parts


class DSDH(DeepHashBaseline):
    """DSDH (Li et al., NeurIPS 2017): pairwise likelihood + linear classification of the binary
    codes, with the discrete B update (DCC) and the closed-form W update each epoch.

    Options besides the deep engine's: ``mu`` (classification weight, 1), ``nu`` (‖W‖² weight,
    0.1), ``eta`` (quantisation weight, 55), ``dcc_iterations`` (rounds of the W- and B-steps
    per epoch, 10), ``reference_images`` (the training-set size η was set for, 5,000; 0: the
    training set's own).
    """

    method_name: ClassVar[str] = "dsdh"
    output: ClassVar[str] = "linear"
    default_options: ClassVar[dict[str, Any]] = dict(DSDH_OPTIONS)

    def build_objective(
        self, network: nn.Module, settings: dict[str, Any], data: TrainData, num_images: int
    ) -> DSDHObjective:
        return DSDHObjective(
            network,
            num_images,
            data.num_classes,
            mu=settings["mu"],
            nu=settings["nu"],
            eta=settings["eta"],
            dcc_iterations=settings["dcc_iterations"],
            reference_images=int(settings["reference_images"]),
        )
