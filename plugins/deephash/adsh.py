"""ADSH: Q.-Y. Jiang and W.-J. Li, "Asymmetric Deep Supervised Hashing", AAAI 2018 (the RAZH
paper's reference [47]); the authors' code (github.com/jiangqy/ADSH-AAAI2018, ``ADSH_pytorch``)
settles what the text leaves open.

ADSH treats query and database asymmetrically: a network F(·; Θ) hashes *queries*, while the
*database* codes V ∈ {±1}^{n×c} are learned directly as variables. Each outer iteration samples
Ω, m database points used as queries, and minimises (the paper's objective)::

    J(Θ, V) = Σ_{i∈Ω} Σ_{j=1..n} (ũ_iᵀ v_j − c·S_ij)² + γ Σ_{i∈Ω} ‖v_i − ũ_i‖²
    ũ_i = tanh(F(y_i; Θ))

alternately: Θ by back-propagation on Ω for ``inner_epochs`` epochs (:func:`adsh_loss`), then V
in closed form, one column at a time (:func:`adsh_database_codes`, discrete cyclic coordinate
descent)::

    Q = −2c·Sᵀ Ũ − 2γ Ū,   V_{*k} = −sgn(2 V̂_k Û_kᵀ ũ_k + Q_{*k})

(Ū: Ũ placed at the rows of Ω, zero elsewhere; V̂_k, Û_k: V and Ũ without column k).

**Zero-shot protocol: the "database" ADSH may learn codes for is the training set only** (seen
classes), never the evaluation database, whose images and labels a method never sees. V is
therefore a training device here: every image the benchmark scores, query or database, is hashed
by the network F, the way ADSH hashes queries.

Choices the paper leaves open, as the authors' code makes them (or, where marked, our own):

* S: +1 / −r with r = #similar / #dissimilar (the code's "soft constraint";
  ``balance=false`` gives the paper's ±1).
* m = 2000 (``num_samples``, at most the training set), γ = 200, 3 epochs on Ω per outer
  iteration; one engine epoch is one epoch on the training images, of which only Ω's enter the
  loss (all of them whenever m ≥ n, as on digits and cub-mini64's training sets).
* V starts at 0 (the code's initialisation) and takes one V-step from the freshly initialised
  network before Θ's first epoch; otherwise the first outer iteration would only shrink ũ
  towards V = 0 (our choice).
* The loss is the code's (sum / (n · batch)) divided by c²: a constant factor, same minimiser,
  O(1) values at any code length (our choice, for AdamW and gradient clipping).
* Ũ in the V-step is the network's output on Ω's whole, unaugmented images at the end of the
  outer iteration (the code keeps the last training-mode outputs).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from plugins.deep.engine import Batch, Objective, Session
from plugins.deep.network import HashingNetwork
from zshbench.method import TrainData

from .common import DeepHashBaseline
from .label_similarity import balanced_similarity, label_rows, shares_a_label
from .options import ADSH_OPTIONS


def adsh_loss(
    u: torch.Tensor,
    database_codes: torch.Tensor,
    similarity: torch.Tensor,
    own_codes: torch.Tensor,
    bits: int,
    gamma: float,
) -> torch.Tensor:
    """J's share of a batch of Ω: (Σ_ij (ũ_iᵀv_j − c·S_ij)² + γ Σ_i ‖v_i − ũ_i‖²) / (n·B·c²).

    ``u`` (B, c) tanh outputs, ``database_codes`` V (n, c), ``similarity`` (B, n) rows of S,
    ``own_codes`` (B, c) the rows of V of the batch's own images.
    """
    u = u.float()
    n, batch = len(database_codes), len(u)
    fit = (u @ database_codes.T - bits * similarity).pow(2).sum()
    quantisation = (own_codes - u).pow(2).sum()
    return (fit + gamma * quantisation) / (n * batch * bits**2)


def adsh_database_codes(
    codes: torch.Tensor,
    u: torch.Tensor,
    similarity: torch.Tensor,
    omega: torch.Tensor,
    bits: int,
    gamma: float,
) -> torch.Tensor:
    """The V-step: every column of V (n, c) in turn, exactly minimising J in that column.

    ``codes`` the current V (n, c) (zeros before the first step), ``u`` Ũ (m, c) of Ω,
    ``similarity`` S (m, n), ``omega`` (m,) Ω's rows in V.
    """
    v = codes.double().clone()
    u = u.double()
    u_bar = torch.zeros_like(v)
    u_bar[omega] = u
    q = -2.0 * bits * similarity.double().T @ u - 2.0 * gamma * u_bar
    for k in range(v.shape[1]):
        others = [j for j in range(v.shape[1]) if j != k]
        field = 2.0 * v[:, others] @ (u[:, others].T @ u[:, k]) + q[:, k]
        v[:, k] = torch.where(field > 0, -1.0, 1.0)
    return v.float()


class ADSHObjective(Objective):
    """Θ-steps on Ω every batch; the V-step and a fresh Ω every ``inner_epochs`` epochs."""

    def __init__(
        self,
        network: HashingNetwork,
        bits: int,
        num_images: int,
        num_samples: int,
        gamma: float,
        inner_epochs: int,
        balance: bool,
    ):
        super().__init__(network)
        self.bits = int(bits)
        self.num_samples = int(num_samples)
        self.gamma = float(gamma)
        self.inner_epochs = int(inner_epochs)
        self.balance = bool(balance)
        # V and the round's Ω (plain tensors, not buffers: DDP need not broadcast them)
        self.codes = torch.zeros(num_images, self.bits)
        self.omega: torch.Tensor | None = None
        self.similarity: torch.Tensor | None = None  # (m, n)
        self.row_of: torch.Tensor | None = None  # (n,): row of S for an image of Ω, else −1

    def _sample(self, session: Session) -> None:
        n = len(session.labels)
        m = min(self.num_samples, n)
        generator = torch.Generator().manual_seed(session.context.seed * 1_000_003 + session.epoch)
        self.omega = torch.randperm(n, generator=generator)[:m]
        rows = label_rows(session.labels, int(session.labels.max()) + 1)
        if self.balance:
            self.similarity = balanced_similarity(rows[self.omega], rows)
        else:
            self.similarity = shares_a_label(rows[self.omega], rows).float() * 2 - 1
        self.row_of = torch.full((n,), -1, dtype=torch.long)
        self.row_of[self.omega] = torch.arange(m)

    def _update_codes(self, session: Session) -> None:
        u = session.encode_training_set()[self.omega]
        self.codes = adsh_database_codes(
            self.codes.cpu(), u, self.similarity.cpu(), self.omega, self.bits, self.gamma
        )

    def start_epoch(self, session: Session) -> None:
        if self.omega is not None and (session.epoch - 1) % self.inner_epochs != 0:
            return
        if self.omega is not None:
            self._update_codes(session)  # the V-step of the outer iteration that ends here
        self._sample(session)
        if session.epoch == 1:
            self._update_codes(session)  # V from the initial network (see module docstring)
        device = session.context.device
        self.codes = self.codes.to(device)
        self.similarity = self.similarity.to(device)
        self.row_of = self.row_of.to(device)

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        u = self.network.hash_images(batch.images)
        index = batch.index.to(u.device)
        rows = self.row_of[index]
        keep = rows >= 0
        if not bool(keep.any()):  # no image of Ω in this batch (only when m < n)
            zero = u.sum() * 0.0
            return {"loss": zero}
        loss = adsh_loss(
            u[keep],
            self.codes,
            self.similarity[rows[keep]],
            self.codes[index[keep]],
            self.bits,
            self.gamma,
        )
        with torch.no_grad():
            agreement = (torch.sign(u[keep]) == self.codes[index[keep]]).float().mean()
        return {"loss": loss, "code_agreement": agreement}


class ADSH(DeepHashBaseline):
    """ADSH on the shared engine (see the module docstring).

    Options besides the engine's: ``num_samples`` (m, 2000; at most the training set),
    ``gamma`` (γ, 200), ``inner_epochs`` (epochs on Ω per outer iteration, 3), ``balance``
    (true: S = +1 / −r as the authors' code; false: the paper's ±1).
    """

    method_name: ClassVar[str] = "adsh"
    default_options: ClassVar[dict[str, Any]] = dict(ADSH_OPTIONS)

    def build_objective(
        self, network: nn.Module, settings: dict[str, Any], data: TrainData, num_images: int
    ) -> Objective:
        return ADSHObjective(
            network,
            self.bits,
            num_images,
            int(settings["num_samples"]),
            float(settings["gamma"]),
            int(settings["inner_epochs"]),
            bool(settings["balance"]),
        )
