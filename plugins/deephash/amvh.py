"""AMVH: J. Lu, V. E. Liong and Y.-P. Tan, "Adversarial Multi-label Variational Hashing", IEEE
TIP 30, 2021, pp. 332–344 (the RAZH paper's reference [17], "AWVH" in its Table II).

What the paper builds (its abstract, and the RAZH paper's summary: "uses generators and
discriminators for hash code learning, fitting the network to unseen data during training"):
hash functions learned from both real and *synthetic* samples, with two networks trained
adversarially —

* a **generator network** that is variational: it infers a latent representation of a sample
  as a distribution, q(z | x) = N(μ, diag σ²), samples it (reparameterised), and decodes the
  sample into a new synthetic training sample; latent samples drawn from the prior give new
  ones;
* a **discriminator-hashing network** that tells real samples from synthetic ones *and* hashes
  both, with a multi-label discriminative criterion on the codes and a quantisation loss
  between binary and real-valued codes.

The authors released no code and the paper's full text was not available to us offline, so the
forms below are ours and named as such; every term plays the role the paper gives it:

* Samples live in the backbone's feature space f (the pooled token feature): the generator
  reconstructs f from z and the sample's labels (a label-conditioned decoder, so prior samples
  carry labels to hash), and the "discriminator-hashing network" is the hash layer plus a small
  discriminator on f. Generating 64-pixel images instead would dominate a CPU step and be
  judged only through the same features.
* Multi-label discriminative criterion (:func:`multilabel_pair_loss`): the pairwise
  likelihood ``log(1 + e^θ) − s_ij θ``, θ = ½ h_iᵀh_j, with s_ij the cosine of the label
  vectors (1 / 0 for single labels), over real and synthetic codes together.
* Quantisation (:func:`quantisation_loss`): ‖sgn(h) − h‖² / c on real codes.
* Variational term (:func:`variational_loss`): ‖f̃ − f‖² / D + KL(q(z|f) ‖ N(0, I)) / D, with
  f detached (the backbone is shaped by the codes, not by what the generator finds easy).
* Adversarial term (:func:`discriminator_loss`, :func:`generator_loss`): the standard
  non-saturating GAN losses; the discriminator sees real f and synthetic f̃ (both detached),
  the generator is scored by a frozen copy of the discriminator, so one backward pass trains
  each player on its own loss only.
* Synthetic codes are learned with the hash layer only (f̃ detached there): the generator is
  trained by its variational and adversarial terms.

L = L_pair + λ_q·L_quant + λ_v·L_var + λ_a·(L_D + L_G), λ = ``quant_weight``, ``vae_weight``,
``adv_weight``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from plugins.deep.engine import Batch, Objective
from plugins.deep.network import HashingNetwork
from zshbench.method import TrainData

from .common import DeepHashBaseline
from .label_similarity import cosine_label_similarity, label_rows
from .options import AMVH_OPTIONS


def multilabel_pair_loss(h: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Mean over ordered pairs i ≠ j of log(1 + e^θ_ij) − s_ij·θ_ij, θ = ½ h_iᵀh_j, s = cosine
    of the label rows."""
    h = h.float()
    theta = 0.5 * h @ h.T
    s = cosine_label_similarity(rows, rows)
    off = ~torch.eye(len(h), dtype=torch.bool, device=h.device)
    return (F.softplus(theta) - s * theta)[off].mean()


def quantisation_loss(h: torch.Tensor) -> torch.Tensor:
    """‖sgn(h) − h‖² per code, divided by the code length."""
    h = h.float()
    return (torch.sign(h).detach() - h).pow(2).sum(dim=1).mean() / h.shape[1]


def variational_loss(
    reconstruction: torch.Tensor, target: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor
) -> torch.Tensor:
    """Mean squared reconstruction error + KL(N(μ, σ²) ‖ N(0, I)) / D, per sample."""
    dims = target.shape[1]
    error = (reconstruction.float() - target.float()).pow(2).sum(dim=1) / dims
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1) / dims
    return (error + kl).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """BCE(D(real), 1) + BCE(D(synthetic), 0): the discriminator tells real from synthetic."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """BCE(D(synthetic), 1): the generator makes the discriminator call its samples real."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


class VariationalGenerator(nn.Module):
    """q(z | f) = N(μ(f), diag σ²(f)) and a label-conditioned decoder g(z, y) → f̃."""

    def __init__(self, feature_dim: int, latent_dim: int, num_classes: int, hidden: int):
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.encoder = nn.Sequential(nn.Linear(feature_dim, hidden), nn.GELU())
        self.mu = nn.Linear(hidden, latent_dim)
        self.logvar = nn.Linear(hidden, latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim + num_classes, hidden), nn.GELU(), nn.Linear(hidden, feature_dim)
        )

    def posterior(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.encoder(features)
        return self.mu(hidden), self.logvar(hidden).clamp(-10.0, 10.0)

    def decode(self, z: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.cat([z, rows.to(z.dtype)], dim=1))


class Discriminator(nn.Module):
    """Real or synthetic, from a feature: one hidden layer."""

    def __init__(self, feature_dim: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(feature_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1)
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features).squeeze(1)


class AMVHObjective(Objective):
    """The hashing network with AMVH's generator and discriminator (see module docstring)."""

    def __init__(
        self,
        network: HashingNetwork,
        num_classes: int,
        latent_dim: int,
        hidden: int,
        quant_weight: float,
        vae_weight: float,
        adv_weight: float,
    ):
        super().__init__(network)
        dim = int(network.encoder.embed_dim)
        self.num_classes = int(num_classes)
        self.generator = VariationalGenerator(dim, latent_dim, num_classes, hidden)
        self.discriminator = Discriminator(dim, hidden)
        self.quant_weight = float(quant_weight)
        self.vae_weight = float(vae_weight)
        self.adv_weight = float(adv_weight)

    def _frozen_discriminator(self, features: torch.Tensor) -> torch.Tensor:
        """D's scores with its parameters detached: gradients reach the generator only."""
        frozen = {k: v.detach() for k, v in self.discriminator.named_parameters()}
        return functional_call(self.discriminator, frozen, (features,))

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        net = self.network
        rows = label_rows(batch.labels, self.num_classes)
        features = net.features(batch.images).float()
        h = torch.tanh(net.hash_layer(features))
        target = features.detach()
        mu, logvar = self.generator.posterior(target)
        noise = torch.randn(mu.shape, generator=batch.generator).to(mu.device)
        prior = torch.randn(mu.shape, generator=batch.generator).to(mu.device)
        reconstruction = self.generator.decode(mu + (0.5 * logvar).exp() * noise, rows)
        novel = self.generator.decode(prior, rows)
        synthetic = torch.cat([reconstruction, novel])
        h_synthetic = torch.tanh(net.hash_layer(synthetic.detach()))
        parts = {
            "pair": multilabel_pair_loss(torch.cat([h, h_synthetic]), rows.repeat(3, 1)),
            "quant": quantisation_loss(h),
            "vae": variational_loss(reconstruction, target, mu, logvar),
            "disc": discriminator_loss(
                self.discriminator(target), self.discriminator(synthetic.detach())
            ),
            "gen": generator_loss(self._frozen_discriminator(synthetic)),
        }
        parts["loss"] = (
            parts["pair"]
            + self.quant_weight * parts["quant"]
            + self.vae_weight * parts["vae"]
            + self.adv_weight * (parts["disc"] + parts["gen"])
        )
        return parts


class AMVH(DeepHashBaseline):
    """AMVH on the shared engine (see the module docstring).

    Options besides the engine's: ``latent_dim`` (z, 32), ``hidden`` (width of the generator
    and discriminator, 128), ``quant_weight`` (0.1), ``vae_weight`` (1.0), ``adv_weight``
    (0.1).
    """

    method_name: ClassVar[str] = "amvh"
    default_options: ClassVar[dict[str, Any]] = dict(AMVH_OPTIONS)

    def build_objective(
        self, network: nn.Module, settings: dict[str, Any], data: TrainData, num_images: int
    ) -> Objective:
        return AMVHObjective(
            network,
            data.num_classes,
            int(settings["latent_dim"]),
            int(settings["hidden"]),
            float(settings["quant_weight"]),
            float(settings["vae_weight"]),
            float(settings["adv_weight"]),
        )
