"""DDSH: Q.-Y. Jiang, X. Cui and W.-J. Li, "Deep Discrete Supervised Hashing", IEEE TIP 27(12),
2018 (arXiv 1707.09905; the RAZH paper's reference [59]); the authors' MATLAB code
(github.com/jiangqy/DDSH-TIP2018, ``trainDDSH.m``) settles what the text leaves open.

DDSH lets the pairwise supervision guide both the discrete codes and the network. Its objective
is the squared inner-product fit ``Σ_ij (q·S_ij − b_iᵀb_j)²`` over the training set (q = code
length). Each round samples Ω, ``sample_columns`` training images (the "columns" of S), and
splits the training set into Ω and Γ = the rest:

* **discrete coding** (``start_epoch``): the codes B_Ω of the sampled images are binary variables,
  learned bit by bit with the network's codes B_Γ = sgn(F(x; Θ)) of the others fixed. Bit k fits
  what the first k − 1 bits leave unexplained (the code's residuals ``q·S − Σ_{l<k} b_l b_lᵀ``),
  which gives one binary quadratic programme per bit (:func:`bit_problem`)::

      min_{b ∈ {±1}^m}  bᵀ Q b + pᵀ b,   Q = −2 R_ΩΩ (zero diagonal),   p = −2 R_ΓΩᵀ B_Γ[:, k]

* **feature learning** (``forward``): the network learns from Γ only, each image against the
  discrete codes of Ω: ``Σ_{i∈Γ, j∈Ω} (q·S_ij − tanh(F(x_i))ᵀ b_j)²`` (:func:`ddsh_feature_loss`;
  the gradient in ``trainDDSH.m`` is that of this sum). Images of Ω are not trained on this round.

Choices the paper leaves open, as the authors' code makes them (or, where marked, our own):

* S: +1 for pairs sharing a label, −r for the others, r = #similar / #dissimilar (the code's
  "soft" similarity, :func:`plugins.deephash.label_similarity.balanced_similarity`;
  ``balance=false`` gives the paper's ±1).
* |Ω| = 100 and three rounds of (discrete step, pass over Γ) per sampled Ω (the code's
  ``sample_column`` and ``iters``); one engine epoch is one round. |Ω| is at most half the
  training set, so that Γ is never empty (our choice; the authors' sets are far larger).
* The binary quadratic programme is NP-hard; the code solves a balanced-partition relaxation. We
  use greedy coordinate descent from the Γ-only optimum sgn(−p) (:func:`solve_binary_quadratic`),
  which never increases the objective and ends in a 1-flip local minimum (our choice).
* The loss is the code's sum divided by (pairs · q²): a constant factor, same minimiser, O(1)
  values at any code length (our choice, for AdamW and gradient clipping).
* Codes of Γ come from the whole (unaugmented) training images at the start of each round
  (``Session.encode_training_set``); the code takes them from the previous pass.

Zero-shot protocol: S is built from seen-class labels of the training images only.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from plugins.deep.engine import Batch, Objective, Session
from plugins.deep.network import HashingNetwork
from zshbench.method import TrainData

from .common import DeepHashBaseline
from .label_similarity import balanced_similarity, label_rows, shares_a_label
from .options import DDSH_OPTIONS


def ddsh_feature_loss(
    u: torch.Tensor, omega_codes: torch.Tensor, similarity: torch.Tensor, bits: int
) -> torch.Tensor:
    """Feature learning on Γ: mean over (i ∈ batch, j ∈ Ω) of (q·S_ij − u_iᵀb_j)² / q².

    ``u`` (B, q) are tanh outputs of the batch's Γ images, ``omega_codes`` (m, q) the discrete
    codes of Ω, ``similarity`` (B, m) the rows of S for the batch.
    """
    residual = bits * similarity - u.float() @ omega_codes.T
    return residual.pow(2).mean() / bits**2


def bit_problem(
    residual_gamma: torch.Tensor, residual_omega: torch.Tensor, gamma_bit: torch.Tensor
) -> tuple[np.ndarray, np.ndarray]:
    """(Q, p) of bit k's binary quadratic programme ``min bᵀQb + pᵀb`` over b ∈ {±1}^m.

    ``residual_gamma`` (n_Γ, m) and ``residual_omega`` (m, m) are ``q·S − Σ_{l<k} b_l b_lᵀ``
    for the Γ×Ω and Ω×Ω blocks, ``gamma_bit`` (n_Γ,) is bit k of the Γ codes. Expanding
    ``Σ_{i∈Γ,j∈Ω} (R_ij − g_i b_j)² + Σ_{i≠j∈Ω} (R_ij − b_i b_j)²`` with b² = g² = 1 leaves
    these two terms plus a constant.
    """
    q = (-2.0 * residual_omega).double().numpy().copy()
    np.fill_diagonal(q, 0.0)
    p = (-2.0 * residual_gamma.T @ gamma_bit).double().numpy()
    return q, p


def solve_binary_quadratic(q: np.ndarray, p: np.ndarray, max_sweeps: int = 100) -> np.ndarray:
    """A 1-flip local minimum of ``bᵀQb + pᵀb`` over b ∈ {±1}^m (Q symmetric, zero diagonal).

    Greedy coordinate descent from sgn(−p): b_i ← −sgn(2·Σ_j Q_ij b_j + p_i), which is the exact
    minimiser in b_i with the others fixed, so the objective never increases; sweeps repeat
    until no coordinate changes.
    """
    b = np.where(p > 0, -1.0, 1.0)
    field = 2.0 * q @ b + p
    for _ in range(max_sweeps):
        changed = False
        for i in range(len(b)):
            if field[i] == 0.0:
                continue
            best = -1.0 if field[i] > 0 else 1.0
            if best != b[i]:
                field += 2.0 * q[:, i] * (best - b[i])
                b[i] = best
                changed = True
        if not changed:
            break
    return b


def quadratic_objective(q: np.ndarray, p: np.ndarray, b: np.ndarray) -> float:
    return float(b @ q @ b + p @ b)


def ddsh_discrete_codes(
    gamma_codes: torch.Tensor, s_gamma: torch.Tensor, s_omega: torch.Tensor, bits: int
) -> torch.Tensor:
    """B_Ω (m, q) in {±1}, bit by bit on the residual of the bits before (see module docstring).

    ``gamma_codes`` (n_Γ, q) ±1, ``s_gamma`` (n_Γ, m) and ``s_omega`` (m, m) blocks of S.
    """
    gamma_codes = gamma_codes.double().cpu()
    residual_gamma = bits * s_gamma.double().cpu()
    residual_omega = bits * s_omega.double().cpu()
    omega_codes = torch.zeros(len(s_omega), bits, dtype=torch.float64)
    for k in range(bits):
        q, p = bit_problem(residual_gamma, residual_omega, gamma_codes[:, k])
        b = torch.from_numpy(solve_binary_quadratic(q, p))
        omega_codes[:, k] = b
        residual_gamma -= torch.outer(gamma_codes[:, k], b)
        residual_omega -= torch.outer(b, b)
    return omega_codes.float()


def sign_codes(h: torch.Tensor) -> torch.Tensor:
    """sgn with sgn(0) = +1, as the engine encodes."""
    return torch.where(h >= 0, 1.0, -1.0)


class DDSHObjective(Objective):
    """Discrete coding of Ω at the start of each round, feature learning on Γ in every step."""

    def __init__(
        self,
        network: HashingNetwork,
        bits: int,
        sample_columns: int,
        rounds_per_sample: int,
        balance: bool,
    ):
        super().__init__(network)
        self.bits = int(bits)
        self.sample_columns = int(sample_columns)
        self.rounds_per_sample = int(rounds_per_sample)
        self.balance = bool(balance)
        # per-round state (plain tensors, not buffers: DDP need not broadcast them every step)
        self.omega: torch.Tensor | None = None
        self.in_omega: torch.Tensor | None = None
        self.similarity: torch.Tensor | None = None  # (n, m): S between every image and Ω
        self.omega_codes: torch.Tensor | None = None  # (m, q)

    def _sample(self, session: Session, epoch: int) -> None:
        n = len(session.labels)
        # Ω never takes more than half the training set: with |Ω| ≥ n, Γ would be empty and
        # the network would never train (a small training set, or a large sample_columns).
        m = max(1, min(self.sample_columns, n // 2))
        generator = torch.Generator().manual_seed(session.context.seed * 1_000_003 + epoch)
        self.omega = torch.randperm(n, generator=generator)[:m]
        rows = label_rows(session.labels, int(session.labels.max()) + 1)
        if self.balance:
            similarity = balanced_similarity(rows, rows[self.omega])
        else:
            similarity = shares_a_label(rows, rows[self.omega]).float() * 2 - 1
        self.in_omega = torch.zeros(n, dtype=torch.bool)
        self.in_omega[self.omega] = True
        self.similarity = similarity

    def start_epoch(self, session: Session) -> None:
        epoch = session.epoch
        if self.omega is None or (epoch - 1) % self.rounds_per_sample == 0:
            self._sample(session, epoch)
        codes = sign_codes(session.encode_training_set())
        gamma = ~self.in_omega
        omega_codes = ddsh_discrete_codes(
            codes[gamma],
            self.similarity[gamma],
            self.similarity[self.omega],
            self.bits,
        )
        device = session.context.device
        self.omega_codes = omega_codes.to(device)
        self.similarity = self.similarity.to(device)
        self.in_omega = self.in_omega.to(device)

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        h = self.network.hash_images(batch.images)
        index = batch.index.to(h.device)
        keep = ~self.in_omega[index]
        if not bool(keep.any()):  # a batch of Ω images only: nothing to learn this step
            zero = h.sum() * 0.0
            return {"loss": zero, "fit": zero.detach()}
        loss = ddsh_feature_loss(h[keep], self.omega_codes, self.similarity[index[keep]], self.bits)
        return {"loss": loss, "fit": loss.detach()}


class DDSH(DeepHashBaseline):
    """DDSH on the shared engine (see the module docstring).

    Options besides the engine's: ``sample_columns`` (|Ω|, 100), ``rounds_per_sample`` (rounds
    of discrete step + pass over Γ per sampled Ω, 3), ``balance`` (true: S = +1 / −r as the
    authors' code; false: the paper's ±1).
    """

    method_name: ClassVar[str] = "ddsh"
    default_options: ClassVar[dict[str, Any]] = dict(DDSH_OPTIONS)

    def build_objective(
        self, network: nn.Module, settings: dict[str, Any], data: TrainData, num_images: int
    ) -> Objective:
        return DDSHObjective(
            network,
            self.bits,
            int(settings["sample_columns"]),
            int(settings["rounds_per_sample"]),
            bool(settings["balance"]),
        )
