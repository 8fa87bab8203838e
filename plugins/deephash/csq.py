"""CSQ: Yuan, Wang, Zhang, Tay, Jie, Liu & Feng, "Central Similarity Quantization for Efficient
Image and Video Retrieval", CVPR 2020.

Each class gets a *hash centre* c ∈ {−1, 1}^K, the centres far apart in Hamming space; every
image's code is pulled to its class's centre (central similarity) and towards ±1 (quantisation):

    ĥ = (h + 1)/2,  ĉ = (c + 1)/2                  codes and centres in [0, 1]
    L_C = − (1/K) Σ_k [ ĉ_k log ĥ_k + (1 − ĉ_k) log(1 − ĥ_k) ]        binary cross-entropy
    L_Q = Σ_k log cosh(|2ĥ_k − 1| − 1) = Σ_k log cosh(|h_k| − 1)
    L = L_C + λ L_Q

with h = tanh(z) the network's output. Centres (the paper's Sec. 3.1):

* K a power of two and m ≤ 2K classes: the rows of a Hadamard matrix H_K, and of −H_K after them
  when m > K (any two such rows differ in K/2 or K bits);
* otherwise (e.g. 24 or 48 bits): every bit drawn from Bernoulli(0.5), so two centres differ in
  K/2 bits in expectation. The authors redraw until the centres are far enough apart; we draw
  100 sets from the run's seed and keep the one with the largest minimum pairwise distance
  (then the largest mean).

Settings: λ = 0.05 (the quantisation weight of the authors' code). The authors' code squares
(|h| − 1) and also adds a HashNet pairwise term (weight 0.2) that the paper's objective does not
have; we follow the paper (log cosh, no pairwise term).

Choices the paper leaves open:

* L_C and L_Q are averaged over bits and images (the authors' code averages both);
* L_C is computed from the pre-activation: (tanh(z) + 1)/2 = sigmoid(2z), so the cross-entropy
  is ``binary_cross_entropy_with_logits(2z, ĉ)``, exact and without log(0) when h saturates.

Zero-shot protocol: centres exist for the seen classes only; unseen classes get codes from the
network, never a centre.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from scipy.linalg import hadamard
from torch import nn

from plugins.deep.engine import Batch, Objective
from zshbench.method import RunContext, TrainData

from .common import DeepHashBaseline, no_autocast
from .options import CSQ_OPTIONS

BERNOULLI_DRAWS = 100


def is_power_of_two(value: int) -> bool:
    return value >= 1 and value & (value - 1) == 0


def hadamard_centres(num_classes: int, bits: int) -> np.ndarray:
    """The first ``num_classes`` rows of [H_K; −H_K] (K a power of two, m ≤ 2K)."""
    matrix = hadamard(bits)
    return np.concatenate([matrix, -matrix])[:num_classes].astype(np.float32)


def pairwise_hamming(centres: np.ndarray) -> np.ndarray:
    """Hamming distances of all unordered pairs of ±1 rows."""
    bits = centres.shape[1]
    inner = centres @ centres.T
    upper = np.triu_indices(len(centres), k=1)
    return (bits - inner[upper]) / 2


def bernoulli_centres(num_classes: int, bits: int, seed: int) -> np.ndarray:
    """Centres with i.i.d. Bernoulli(0.5) bits: the best of ``BERNOULLI_DRAWS`` draws by minimum,
    then mean, pairwise Hamming distance."""
    rng = np.random.default_rng(seed)
    best, best_key = None, None
    for _ in range(BERNOULLI_DRAWS):
        centres = np.where(rng.random((num_classes, bits)) < 0.5, -1.0, 1.0).astype(np.float32)
        distances = pairwise_hamming(centres)
        key = (distances.min(), distances.mean()) if len(distances) else (bits, bits)
        if best_key is None or key > best_key:
            best, best_key = centres, key
    return best


def hash_centres(num_classes: int, bits: int, seed: int) -> tuple[np.ndarray, str]:
    """(m × K centres in ±1, how they were made: "hadamard" or "bernoulli")."""
    if is_power_of_two(bits) and num_classes <= 2 * bits:
        return hadamard_centres(num_classes, bits), "hadamard"
    return bernoulli_centres(num_classes, bits, seed), "bernoulli"


def logcosh(x: torch.Tensor) -> torch.Tensor:
    """log(cosh(x)) without overflow: |x| + log(1 + e^{−2|x|}) − log 2."""
    x = x.abs()
    return x + F.softplus(-2.0 * x) - math.log(2.0)


def central_similarity_loss(z: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """L_C: BCE of ĥ = (tanh(z) + 1)/2 = sigmoid(2z) against ĉ = (c + 1)/2, mean over bits and
    images."""
    return F.binary_cross_entropy_with_logits(2.0 * z, (centres + 1.0) / 2.0)


def quantisation_loss(h: torch.Tensor) -> torch.Tensor:
    """L_Q: log cosh(|h_k| − 1), mean over bits and images."""
    return logcosh(h.abs() - 1.0).mean()


def csq_loss(z: torch.Tensor, centres: torch.Tensor, lam: float) -> dict[str, torch.Tensor]:
    """L = L_C + λ L_Q for pre-activations z (h = tanh z) and each image's class centre."""
    with no_autocast(z.device):
        z = z.float()
        central = central_similarity_loss(z, centres.float())
        quantisation = quantisation_loss(torch.tanh(z))
        return {
            "loss": central + lam * quantisation,
            "central": central.detach(),
            "quantisation": quantisation.detach(),
        }


class CSQObjective(Objective):
    def __init__(self, network: nn.Module, centres: torch.Tensor, lam: float):
        super().__init__(network)
        self.register_buffer("centres", centres.float())
        self.lam = float(lam)

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        z = self.network.hash_logits(batch.images)
        return csq_loss(z, self.centres[batch.labels], self.lam)


class CSQ(DeepHashBaseline):
    """CSQ (Yuan et al., CVPR 2020): BCE of each code to its class's hash centre (Hadamard rows,
    or Bernoulli bits where the code length or class count rules Hadamard out) + quantisation.

    Options besides the deep engine's: ``lam`` (the quantisation weight λ, 0.05).
    """

    method_name: ClassVar[str] = "csq"
    output: ClassVar[str] = "tanh"
    default_options: ClassVar[dict[str, Any]] = dict(CSQ_OPTIONS)

    def prepare(self, settings: dict[str, Any], data: TrainData, context: RunContext) -> None:
        centres, kind = hash_centres(data.num_classes, self.bits, context.seed)
        self.centres_ = torch.from_numpy(centres)
        distances = pairwise_hamming(centres)
        self.centre_record_ = {
            "kind": kind,
            "min_distance": float(distances.min()) if len(distances) else None,
            "mean_distance": round(float(distances.mean()), 3) if len(distances) else None,
        }

    def build_objective(
        self, network: nn.Module, settings: dict[str, Any], data: TrainData, num_images: int
    ) -> CSQObjective:
        return CSQObjective(network, self.centres_, settings["lam"])

    def _training_record(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        record = super()._training_record(*args, **kwargs)
        record["hash_centres"] = self.centre_record_
        return record
