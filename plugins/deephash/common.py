"""What the deep baselines share beyond the engine: pair labels, per-image code memory, the two
output layers and the base class (the balanced pair weights are the engine's
:func:`plugins.deep.pairs.pair_weights`, which RAZH uses too).

Every baseline here is a :class:`DeepHashBaseline`: the engine's backbone and pooled feature, one
linear hash layer, and the method's own objective. The output layer is the paper's:

* ``output = "tanh"``: h = tanh(W f + o) (DCH, CSQ, ADSH, DDSH, AMVH; HashNet scales the
  pre-activation by its continuation β during training);
* ``output = "linear"``: u = W f + o, unbounded, pushed towards ±1 by the loss (DSH's regulariser,
  DPSH's and DSDH's quantisation terms), as in those papers' networks.

Codes are sgn(output) either way, so the engine's encoding and validation need nothing else.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from plugins.deep.backbones import build_backbone
from plugins.deep.images import Normalizer
from plugins.deep.method import DeepHashingMethod
from plugins.deep.network import HashingNetwork
from zshbench.method import RunContext, TrainData

OUTPUTS = ("tanh", "linear")


def same_class(labels: torch.Tensor, other: torch.Tensor | None = None) -> torch.Tensor:
    """s_ij = 1 when image i and image j share their (single) class label, as a bool matrix."""
    other = labels if other is None else other
    return labels[:, None] == other[None, :]


def hard_sign(x: torch.Tensor) -> torch.Tensor:
    """sgn with sgn(0) = +1 (torch.sign gives 0, which is no code), as the encoder's codes."""
    return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)


def fp32(x: torch.Tensor) -> torch.Tensor:
    """x in fp32 (losses are computed outside bf16 autocast: inner products reach ``bits``)."""
    return x.float()


def no_autocast(device: torch.device | str):
    return torch.autocast(torch.device(device).type, enabled=False)


class CodeMemory:
    """Continuous codes of every training image (the U of DPSH and DSDH), indexed by
    :attr:`plugins.deep.engine.Batch.index`.

    A step writes its batch's codes (detached); the pairwise term of the next steps reads them,
    so each batch meets the whole training set as the papers' sums over all pairs do. Under
    torchrun every rank writes every rank's batch (all-gather), so the memories stay identical
    and a code update from them (DSDH's) is the same on every rank.
    """

    def __init__(self, count: int, bits: int):
        self.values = torch.zeros(int(count), int(bits))

    def to(self, device: torch.device | str) -> CodeMemory:
        self.values = self.values.to(device)
        return self

    def fill(self, values: torch.Tensor) -> None:
        if values.shape != self.values.shape:
            raise ValueError(f"memory holds {tuple(self.values.shape)}, not {tuple(values.shape)}")
        self.values = values.detach().float().to(self.values.device).clone()

    @torch.no_grad()
    def write(self, index: torch.Tensor, values: torch.Tensor) -> None:
        values = values.detach().float()
        index = index.to(values.device)
        index, values = _all_gather(index, values)
        if self.values.device != values.device:
            self.values = self.values.to(values.device)
        self.values[index] = values


def _all_gather(index: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every rank's (index, values); the engine gives every rank batches of the same size."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return index, values
    world = dist.get_world_size()
    indices = [torch.empty_like(index) for _ in range(world)]
    rows = [torch.empty_like(values) for _ in range(world)]
    dist.all_gather(indices, index.contiguous())
    dist.all_gather(rows, values.contiguous())
    return torch.cat(indices), torch.cat(rows)


class LinearHashingNetwork(HashingNetwork):
    """The engine's network with an unbounded output u = W f + o (DSH, DPSH, DSDH)."""

    def hash_images(self, images: torch.Tensor) -> torch.Tensor:
        return self.hash_logits(images)


class DeepHashBaseline(DeepHashingMethod):
    """A deep baseline: the engine's backbone and hash layer, the paper's output layer
    (``output``) and its objective (``build_objective``); a baseline with a network of its own
    (DRMH's regions, SitNet's semantic head) overrides ``build_network``. Options are declared
    with their types, ranges and help (:class:`zshbench.options.Option`), checked before any
    data loads."""

    output: ClassVar[str] = "tanh"
    # The deep-hashing literature fine-tunes ImageNet class-supervised backbones; a baseline may
    # too, and its record says so (``weights_supervision``, ``pretrained``, a warning).
    allows_class_supervised_weights: ClassVar[bool] = True

    def build_network(
        self, settings: dict[str, Any], data: TrainData, context: RunContext
    ) -> tuple[nn.Module, Normalizer]:
        encoder, mean, std = build_backbone(settings)
        network_class = LinearHashingNetwork if self.output == "linear" else HashingNetwork
        return network_class(encoder, self.bits), Normalizer(mean, std)
