"""SitNet: Y. Guo, G. Ding, J. Han and Y. Gao, "SitNet: Discrete Similarity Transfer Network for
Zero-shot Hashing", IJCAI 2017, pp. 1767–1773 (the RAZH paper's reference [60]).

A zero-shot hashing network: the semantic vectors of the classes capture how classes relate, so
a model trained on seen classes carries that similarity structure to unseen ones. Its
multi-task architecture (the paper's Fig. 1) puts two heads on one CNN:

* a **semantic embedding** head, trained with a *semantic embedding loss* against the seen
  classes' semantic vectors (:func:`semantic_embedding_loss`);
* a **discrete hashing layer** that outputs binary codes during training too, b = sgn(z), "to
  avoid the information loss caused by real-value relaxation", trained with a *regularized
  center loss* (:func:`regularized_center_loss`).

The authors released no code and the paper's full text was not available to us offline; the
forms below follow the terms its abstract and figure name, and each choice is ours:

* Semantic embedding loss: DeViSE's hinge rank loss (Frome et al., NeurIPS 2013, the standard
  semantic embedding loss of the time): Σ_{c≠y} max(0, margin + ⟨φ(x), a_c⟩ − ⟨φ(x), a_y⟩) with
  φ a linear map of the backbone feature and a_c the unit-norm semantic vectors of the seen
  classes.
* Discrete hashing layer: b = sgn(z) forward, the gradient of hardtanh(z) backward (the
  straight-through estimator with saturation, Bengio et al. 2013); the network's continuous
  output for encoding is tanh(z), whose signs are the codes.
* Regularized center loss: ‖b_i − c_{y_i}‖² / K to learnable class centres c = tanh(θ) (Wen et
  al.'s center loss on the codes), regularised by the mean inner product of the centres of
  *different* classes, which pushes them apart in Hamming space. The centres start at random
  corners (tanh(±2)); started at 0 they would only pull every code to the sign boundary, and
  on the easy test set SitNet then stayed at chance.
* Class semantic vectors (``semantics``): ``class-names``, the paper's word vectors of the class
  names, through the core's text encoder (``--encoder``, MiniLM by default; GloVe with
  ``--encoder vectors-file``); or ``attributes``, the data set's class-attribute rows.

L = L_sem + α·L_center (α = ``center_weight``), L_center = center term + β·regulariser
(β = ``separation_weight``). Only seen classes' vectors are used in training; the network is
what hashes unseen images.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from plugins.deep.backbones import build_backbone
from plugins.deep.engine import Batch, Objective
from plugins.deep.images import Normalizer
from plugins.deep.method import DeepHashingMethod
from plugins.deep.network import HashingNetwork
from zshbench.errors import ZshbenchError
from zshbench.method import RunContext, TrainData

from .options import SITNET_OPTIONS


def semantic_embedding_loss(
    embedding: torch.Tensor, class_vectors: torch.Tensor, labels: torch.Tensor, margin: float
) -> torch.Tensor:
    """Mean over images of Σ_{c≠y} max(0, margin + ⟨e, a_c⟩ − ⟨e, a_y⟩) (DeViSE's hinge rank)."""
    scores = embedding.float() @ class_vectors.T
    own = scores.gather(1, labels.view(-1, 1))
    hinge = (margin + scores - own).clamp_min(0.0)
    others = torch.ones_like(hinge, dtype=torch.bool).scatter_(1, labels.view(-1, 1), False)
    return (hinge * others).sum(dim=1).mean()


def discrete_codes(z: torch.Tensor) -> torch.Tensor:
    """b = sgn(z) forward (sgn(0) = +1), d hardtanh(z) / dz backward."""
    soft = F.hardtanh(z)
    return soft + (torch.where(z >= 0, 1.0, -1.0).to(z.dtype) - soft).detach()


def regularized_center_loss(
    codes: torch.Tensor, centres: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(center, separation): ‖b_i − c_{y_i}‖² / K averaged over the images, and the mean of
    c_cᵀc_d / K over pairs of different classes. The regularised loss is center + β·separation."""
    bits = codes.shape[1]
    center = (codes.float() - centres[labels]).pow(2).sum(dim=1).mean() / bits
    gram = centres @ centres.T / bits
    count = len(centres)
    if count < 2:
        separation = gram.sum() * 0.0
    else:
        off = ~torch.eye(count, dtype=torch.bool, device=gram.device)
        separation = gram[off].mean()
    return center, separation


class SitNetNetwork(HashingNetwork):
    """Backbone → feature → (discrete hashing layer, semantic embedding head)."""

    def __init__(self, encoder: nn.Module, bits: int, semantic_dim: int):
        super().__init__(encoder, bits)
        self.semantic = nn.Linear(int(encoder.embed_dim), int(semantic_dim))


class SitNetObjective(Objective):
    """L_sem + α·(center + β·separation) on a batch (see the module docstring)."""

    def __init__(
        self,
        network: SitNetNetwork,
        class_vectors: torch.Tensor,
        margin: float,
        center_weight: float,
        separation_weight: float,
    ):
        super().__init__(network)
        self.register_buffer("class_vectors", F.normalize(class_vectors.float(), dim=1))
        # centres start at random corners (tanh(±2) = ±0.96): codes then have a target from the
        # first step; centres at 0 would only pull every code towards the sign boundary
        corners = torch.randint(0, 2, (len(class_vectors), network.bits)) * 2.0 - 1.0
        self.centre_logits = nn.Parameter(2.0 * corners)
        self.margin = float(margin)
        self.center_weight = float(center_weight)
        self.separation_weight = float(separation_weight)

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        net = self.network
        features = net.features(batch.images)
        codes = discrete_codes(net.hash_layer(features).float())
        sem = semantic_embedding_loss(
            net.semantic(features), self.class_vectors, batch.labels, self.margin
        )
        center, separation = regularized_center_loss(
            codes, torch.tanh(self.centre_logits), batch.labels
        )
        loss = sem + self.center_weight * (center + self.separation_weight * separation)
        return {"loss": loss, "sem": sem, "center": center, "separation": separation}


def readable_class_name(name: str) -> str:
    """ "006.Least_Auklet" → "Least Auklet", "persian+cat" → "persian cat"."""
    return re.sub(r"^\d+\.", "", name).replace("_", " ").replace("+", " ").strip()


def class_semantic_vectors(data: TrainData, context: RunContext, semantics: str) -> np.ndarray:
    """(seen classes, d) semantic vectors: encoded class names or the class-attribute rows."""
    if semantics == "class-names":
        texts = [readable_class_name(name) for name in data.class_names]
        vectors = np.asarray(context.encode_texts(texts), dtype=np.float32)
    elif data.class_attributes is None:
        raise ZshbenchError(
            f"sitnet: data set {data.dataset!r} has no class attributes",
            "Use --option semantics=class-names (word vectors of the class names).",
        )
    else:
        vectors = np.asarray(data.class_attributes, dtype=np.float32)
        vectors = np.where(vectors < 0, 0.0, vectors)  # some AWA2 copies mark missing as −1
    if vectors.shape[0] != data.num_classes or not np.isfinite(vectors).all():
        raise ZshbenchError("sitnet: the class semantic vectors are malformed (NaN, inf or count)")
    if (np.linalg.norm(vectors, axis=1) == 0).any():
        raise ZshbenchError("sitnet: a seen class has an all-zero semantic vector")
    return vectors


class SitNet(DeepHashingMethod):
    """SitNet on the shared engine (see the module docstring).

    Options besides the engine's: ``semantics`` (class-names | attributes), ``margin`` (0.1),
    ``center_weight`` (α, 1.0), ``separation_weight`` (β, 1.0).
    """

    method_name: ClassVar[str] = "sitnet"
    # Class-name vectors (semantics=word-vectors, or auto without attributes) come from the
    # core's text encoder: --encoder reaches the method and the record names the encoder.
    uses_text_encoder: ClassVar[bool] = True
    default_options: ClassVar[dict[str, Any]] = dict(SITNET_OPTIONS)

    def prepare(self, settings: dict[str, Any], data: TrainData, context: RunContext) -> None:
        self.class_vectors_ = class_semantic_vectors(data, context, settings["semantics"])

    def build_network(
        self, settings: dict[str, Any], data: TrainData, context: RunContext
    ) -> tuple[nn.Module, Normalizer]:
        encoder, mean, std = build_backbone(settings)
        network = SitNetNetwork(encoder, self.bits, self.class_vectors_.shape[1])
        return network, Normalizer(mean, std)

    def build_objective(
        self, network: nn.Module, settings: dict[str, Any], data: TrainData, num_images: int
    ) -> Objective:
        return SitNetObjective(
            network,
            torch.from_numpy(self.class_vectors_),
            float(settings["margin"]),
            float(settings["center_weight"]),
            float(settings["separation_weight"]),
        )
