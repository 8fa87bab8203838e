"""PIXEL as a zshbench method on the shared deep-hashing engine.

What is PIXEL's own is here, in :mod:`.model` (network, prompts) and :mod:`.losses` (its three
terms); scales, backbone, data, optimisation, model selection, distributed training and the
record are the engine's (:mod:`plugins.deep`). Prompts are encoded by the core's text encoder
(``--encoder``, the packaged MiniLM by default), once per fit, for the seen classes only.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from plugins.deep.backbones import build_backbone
from plugins.deep.engine import Batch, Objective
from plugins.deep.images import Normalizer
from plugins.deep.method import DeepHashingMethod
from zshbench.errors import ZshbenchError
from zshbench.method import RunContext, TrainData

from . import losses
from .model import (
    PROMPTS,
    PIXELNet,
    attribute_strengths,
    count_tokens,
    readable_attribute,
    regression_targets,
)
from .options import PIXEL_OPTIONS


class PIXELObjective(Objective):
    """L = L_cls + w_align · L_align + w_reg · L_reg (:mod:`.losses`)."""

    def __init__(self, network: PIXELNet, settings: dict[str, Any]):
        super().__init__(network)
        self.s, self.m = float(settings["s"]), float(settings["m"])
        self.w_align, self.w_reg = float(settings["w_align"]), float(settings["w_reg"])
        self.same_class_weight = float(settings["same_class_weight"])
        self.text_dropout = float(settings["text_dropout"])

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        net = self.network
        h, visual = net.forward_all(batch.images)
        cosines = losses.cosine_logits(h, net.prototypes)
        cls = losses.cosface_loss(cosines, batch.labels, self.s, self.m)
        text = net.text_embeddings(batch.labels, self.text_dropout, batch.generator)
        align = losses.alignment_loss(
            F.normalize(visual.float(), dim=-1), text, batch.labels, net.alpha,
            self.same_class_weight,
        )  # fmt: skip
        reg = losses.regression_loss(visual.float().mean(dim=2), net.targets[batch.labels])
        return {
            "loss": cls + self.w_align * align + self.w_reg * reg,
            "cls": cls.detach(),
            "align": align.detach(),
            "reg": reg.detach(),
            "acc": (cosines.detach().argmax(1) == batch.labels).float().mean(),
        }


class PIXEL(DeepHashingMethod):
    """PIXEL: Prompt-based Zero-shot Hashing via Visual and Textual Semantic Alignment.

    Options besides the deep engine's: s and m (CosFace scale and margin; 10 and 0.2),
    w_align and w_reg (null: the authors' per data set, :data:`.losses.PAPER_WEIGHTS`),
    same_class_weight (λ of L_align's same-class term, 4), text_dropout (0.1), attribute_dim
    (E; null: 64 at CPU scale, 512 at paper scale, the authors').
    """

    method_name: ClassVar[str] = "pixel"
    uses_text_encoder: ClassVar[bool] = True
    scale_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "cpu": {"attribute_dim": 64},
        "paper": {"attribute_dim": 512},
    }
    default_options: ClassVar[dict[str, Any]] = dict(PIXEL_OPTIONS)

    def resolve_settings(self, data: TrainData) -> dict[str, Any]:
        settings = super().resolve_settings(data)
        source, (w_align, w_reg) = losses.paper_weights(data.dataset)
        if settings["w_align"] is None and settings["w_reg"] is None:
            settings["weights_from"] = source
        settings["w_align"] = w_align if settings["w_align"] is None else settings["w_align"]
        settings["w_reg"] = w_reg if settings["w_reg"] is None else settings["w_reg"]
        return settings

    def prepare(self, settings: dict[str, Any], data: TrainData, context: RunContext) -> None:
        """The prompts' vectors (2, A, d), the seen classes' strengths and L_reg targets."""
        values = data.class_attributes
        if values is None:
            values = data.binary_class_attributes
        if values is None:
            raise ZshbenchError(
                f"data set {data.dataset!r} has no class attributes for PIXEL's prompts",
                "Use a data set with attributes (digits, cub, awa2, sun).",
            )
        values = np.asarray(values, dtype=np.float64)
        names = [readable_attribute(n) for n in data.attribute_names]
        texts = [p.format(attribute=n) for p in PROMPTS for n in names]
        vectors = np.asarray(context.encode_texts(texts), dtype=np.float32)
        if not np.isfinite(vectors).all():
            raise ZshbenchError("the prompt vectors contain NaN or inf", "Check the encoder.")
        self.prompt_vectors_ = vectors.reshape(len(PROMPTS), len(names), -1)
        self.strengths_ = attribute_strengths(values)
        self.targets_ = regression_targets(values)

    def build_network(
        self, settings: dict[str, Any], data: TrainData, context: RunContext
    ) -> tuple[nn.Module, Normalizer]:
        encoder, mean, std = build_backbone(settings)
        net = PIXELNet(
            encoder,
            self.bits,
            count_tokens(encoder, int(settings["img_size"])),
            torch.from_numpy(self.prompt_vectors_),
            torch.from_numpy(self.strengths_),
            torch.from_numpy(self.targets_),
            int(settings["attribute_dim"]),
        )
        return net, Normalizer(mean, std)

    def build_objective(
        self, network: nn.Module, settings: dict[str, Any], data: TrainData, num_images: int
    ) -> PIXELObjective:
        return PIXELObjective(network, settings)
