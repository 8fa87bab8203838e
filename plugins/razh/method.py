"""RAZH and its ablations as zshbench methods, on the shared deep-hashing engine.

What is RAZH's own is here and in :mod:`.model` / :mod:`.objective`: the network (mixing and
reconstruction branches, AEM), Eq. 16, the attribute inputs, the reconstruction warm-up and
RAZH-F's class-supervised fine-tuning. Scales, backbone, data, augmentation, optimisation, model
selection, distributed training and the record come from :mod:`plugins.deep`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from plugins.deep.backbones import build_backbone
from plugins.deep.engine import Batch, Objective, Session, train
from plugins.deep.images import Normalizer
from plugins.deep.method import DeepHashingMethod, native_side
from zshbench.errors import ZshbenchError
from zshbench.method import RunContext, TrainData

from . import config as razh_config
from .attributes import attribute_inputs
from .model import AttributeEmbedding, RAZHNet
from .objective import RAZHObjective, parse_losses
from .options import RAZH_OPTIONS


class ClassSupervisedObjective(Objective):
    """RAZH-F's fine-tuning: cross-entropy of a temporary linear head on the pooled encoder
    feature of the whole image (class supervision of the backbone, before RAZH's own loss)."""

    def __init__(self, network: RAZHNet, num_classes: int):
        super().__init__(network)
        self.head = nn.Linear(network.encoder.embed_dim, num_classes)

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        net = self.network
        features = net.pooled(net.encode_tokens(net.patch_tokens(batch.images)))
        loss = F.cross_entropy(self.head(features).float(), batch.labels)
        return {"loss": loss, "ce": loss.detach()}


class RAZH(DeepHashingMethod):
    """RAZH: Zero-Shot Hashing Based on Reconstruction With Part Alignment.

    Options (``--option key=value``; None means "from the scale / data set", see
    ``plugins/razh/config.py`` and ``plugins/deep/scales.py``), besides the deep engine's
    (scale, model, stem, img_size, patch_size, embed_dim, depth, num_heads, weights,
    pretrained, epochs, batch_size, lr, weight_decay, warmup_epochs, grad_clip, augment, amp,
    selection, eval_every, patience, encode_batch_size):
    losses: Table IV's subsets, '+'-joined from cls, h, rec (default cls+h+rec).
    mask_ratio (Table V), clusters (K'), kmeans_iterations, threshold (absolute, the authors'
    0.1/0.2 at paper scale) or replace_ratio (share of patches replaced per batch; CPU scale),
    straight_through, selection_temperature, alpha, beta (Table VIII), pool (mean | cls),
    hash_input (masked: the paper's f_x | full), norm_pix_loss, attributes (attributes |
    class-names), attribute_cut, attribute_dim, decoder_dim/_depth/_heads,
    pretrain_epochs (reconstruction-only warm-up), finetune_epochs (RAZH-F's class-supervised
    fine-tuning), diagnostics (draw this many images' clusters and matched attributes).
    """

    method_name: ClassVar[str] = "razh"
    class_supervised_variant: ClassVar[str | None] = "razh-f"
    mixing: ClassVar[str | None] = "aem"
    clustering: ClassVar[bool] = True
    attribute_source: ClassVar[str] = "attributes"
    uses_text_encoder: ClassVar[bool] = True

    default_options: ClassVar[dict[str, Any]] = dict(RAZH_OPTIONS)

    # ------------------------------------------------------------------ options

    def check_options(self) -> None:
        super().check_options()
        o, name = self.options, self.method_name
        try:
            parse_losses(o["losses"])
        except ValueError as error:
            raise ZshbenchError(f"{name}: {error}") from None
        if o["threshold"] is not None and o["replace_ratio"] is not None:
            raise ZshbenchError(f"{name}: give threshold or replace_ratio, not both")

    @classmethod
    def scale_table(cls) -> dict[str, dict[str, str]]:
        """The engine's scales with RAZH's own defaults and data-set rules (config.py)."""
        from plugins.deep.scale_info import scale_table

        table = scale_table(
            {"cpu": razh_config.RAZH_CPU, "paper": razh_config.RAZH_PAPER},
            razh_config.scale_words(),
        )
        for texts in table.values():
            texts["attributes"] = f'"{cls.attribute_source}"'
        return table

    def resolve_settings(self, data: TrainData) -> dict[str, Any]:
        settings = razh_config.resolve(
            self.options, data.dataset, self.bits, native_side(data.images), data.paper_family
        )
        settings["attributes"] = settings["attributes"] or self.attribute_source
        return settings

    # ------------------------------------------------------------------ engine hooks

    @property
    def display_name(self) -> str:
        """The method as logs name it: ``razh[losses=cls+h]`` for a Table IV subset."""
        losses = self.options.get("losses", "cls+h+rec")
        if sorted(parse_losses(losses)) == sorted(("cls", "h", "rec")):
            return self.method_name
        return f"{self.method_name}[losses={losses}]"

    def prepare(self, settings: dict[str, Any], data: TrainData, context: RunContext) -> None:
        context.progress.log(
            f"{self.display_name} {self.bits} bits: α = {float(settings['alpha']):g}, "
            f"β = {float(settings['beta']):g} ({settings['alpha_beta_source']}); reconstruction "
            f"warm-up {settings['pretrain_epochs']} epochs ({settings['pretrain_epochs_source']})"
        )
        self.vectors_ = self.sets_ = self.attribute_texts_ = None
        if self.mixing == "aem":
            self.vectors_, self.sets_, self.attribute_texts_ = attribute_inputs(
                data, context, settings["attributes"], settings["attribute_cut"]
            )

    def build_network(
        self, settings: dict[str, Any], data: TrainData, context: RunContext
    ) -> tuple[nn.Module, Normalizer]:
        encoder, mean, std = build_backbone(settings)
        aem = None
        if self.mixing == "aem":
            aem = AttributeEmbedding(
                torch.from_numpy(self.vectors_),
                torch.from_numpy(self.sets_),
                visual_dim=int(encoder.embed_dim),
                attribute_dim=int(settings["attribute_dim"]),
                temperature=float(settings["selection_temperature"]),
                straight_through=bool(settings["straight_through"]),
            )
        net = RAZHNet(
            encoder,
            self.bits,
            data.num_classes,
            aem=aem,
            mixing=self.mixing,
            clustering=self.clustering,
            clusters=int(settings["clusters"]),
            kmeans_iterations=int(settings["kmeans_iterations"]),
            threshold=settings.get("threshold"),
            replace_ratio=settings.get("replace_ratio"),
            mask_ratio=float(settings["mask_ratio"]),
            decoder_dim=int(settings["decoder_dim"]),
            decoder_depth=int(settings["decoder_depth"]),
            decoder_heads=int(settings["decoder_heads"]),
            pool=settings["pool"],
            hash_input=settings["hash_input"],
            norm_pix_loss=bool(settings["norm_pix_loss"]),
            decoder_pos_embed=str(settings["decoder_pos_embed"]),
        )
        return net, Normalizer(mean, std)

    def build_objective(
        self, network: nn.Module, settings: dict[str, Any], data: TrainData, num_images: int
    ) -> RAZHObjective:
        return RAZHObjective(
            network,
            alpha=float(settings["alpha"]),
            beta=float(settings["beta"]),
            losses=parse_losses(settings["losses"]),
            hash_loss_batch=settings["hash_loss_batch"],
            aux_hash_loss=bool(settings["aux_hash_loss"]),
        )

    def before_training(self, session: Session) -> None:
        """RAZH-F's class-supervised fine-tuning, then the reconstruction-only warm-up, on the
        images training will see."""
        network = session.network
        finetune_epochs = int(self.settings_["finetune_epochs"] or 0)
        pretrain_epochs = int(self.settings_["pretrain_epochs"] or 0)
        if finetune_epochs > 0:
            classes = int(network.classifier.out_features)
            objective = ClassSupervisedObjective(network, classes)
            self._train_stage(session, objective, finetune_epochs, "class-supervised fine-tuning")
        if pretrain_epochs > 0:
            objective = RAZHObjective(network, alpha=0.0, beta=1.0, losses=frozenset({"rec"}))
            self._train_stage(session, objective, pretrain_epochs, "reconstruction warm-up")

    def _train_stage(self, session: Session, objective: Objective, epochs: int, label: str) -> None:
        """``epochs`` of ``objective`` on the session's images: its own schedule, no selection."""
        stage = replace(
            session.settings, epochs=epochs, schedule_epochs=None, patience=None,
            extend_until_accuracy=None,
        )  # fmt: skip
        train(
            objective, session.images, session.labels, session.normalizer, stage,
            session.context, label=f"{label} before {session.phase}", method=self.display_name,
        )  # fmt: skip

    def _training_record(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        record = super()._training_record(*args, **kwargs)
        record["finetune_epochs"] = int(self.settings_["finetune_epochs"] or 0)
        record["pretrain_epochs"] = int(self.settings_["pretrain_epochs"] or 0)
        replaced = [
            entry["replaced"]
            for entries in record["history"].values()
            for entry in entries
            if "replaced" in entry
        ]
        if replaced:
            record["replaced_fraction"] = round(float(np.mean(replaced[-5:])), 4)
        return record

    # ------------------------------------------------------------------ diagnostics

    def after_fit(
        self, data: TrainData, context: RunContext, images: torch.Tensor, labels: torch.Tensor
    ) -> None:
        if int(self.settings_["diagnostics"]) > 0 and context.rank == 0:
            self._write_diagnostics(data, context, images, labels)

    def _write_diagnostics(
        self, data: TrainData, context: RunContext, images: torch.Tensor, labels: torch.Tensor
    ) -> None:
        from .diagnostics import draw_matches

        if self.network_ is None or self.network_.aem is None:
            context.progress.log(
                f"{self.method_name}: no attribute module, so no attribute matches to draw; "
                "diagnostics skipped"
            )
            return
        folder = context.artifact_dir or (
            Path(context.checkpoint_dir) if context.checkpoint_dir else None
        )
        if folder is None:
            context.progress.log(f"{self.method_name}: no folder for diagnostics; skipped")
            return
        count = min(int(self.settings_["diagnostics"]), len(images))
        picks = np.sort(
            np.random.default_rng(context.seed).choice(len(images), count, replace=False)
        )
        path = Path(folder) / "attribute-matches.png"
        draw_matches(
            self.network_,
            images[picks],
            labels[picks],
            self.normalizer_,
            self.attribute_texts_ or [],
            [data.class_names[i] for i in labels[picks].tolist()],
            path,
            device=context.device,
            seed=context.seed,
        )
        context.progress.log(f"{self.method_name}: diagnostics written to {path}")


class RAZHNoClustering(RAZH):
    """RAZH-C: no K-means; every patch is matched to its own nearest attribute."""

    clustering = False
    method_name = "razh-c"


class RAZHNoAttributes(RAZH):
    """RAZH-A: no attribute embedding module; the reconstruction branch only."""

    mixing = None
    method_name = "razh-a"
    uses_text_encoder = False


class RAZHDualRandom(RAZH):
    """RAZH-D: two random-selection branches (different masks), no attributes."""

    mixing = "random"
    method_name = "razh-d"
    uses_text_encoder = False


class RAZHClassNames(RAZH):
    """RAZH-T: the class names are the only attributes (what CIFAR-10 gets in the paper)."""

    attribute_source = "class-names"
    method_name = "razh-t"


class RAZHFineTuned(RAZH):
    """RAZH-F (the paper's Table VII): RAZH on a backbone that saw class supervision.

    At paper scale the original ViT-B/16 fine-tuned on ImageNet classes
    (``vit_base_patch16_224.orig_in21k_ft_in1k``, the paper's "ViT-finetune" [20]); at CPU scale
    the encoder is fine-tuned with class supervision on the seen classes first
    (``finetune_epochs``). Either way the record says so: ImageNet's classes overlap AWA2's and
    CUB's unseen classes, so a result with ImageNet class-supervised weights is not strictly
    zero-shot.
    """

    method_name = "razh-f"
    allows_class_supervised_weights = True
    PAPER_MODEL: ClassVar[str] = "vit_base_patch16_224.orig_in21k_ft_in1k"
    CPU_FINETUNE_EPOCHS: ClassVar[int] = 10

    @classmethod
    def scale_table(cls) -> dict[str, dict[str, str]]:
        table = super().scale_table()
        table["paper"]["model"] = f'"{cls.PAPER_MODEL}"'
        table["cpu"]["finetune_epochs"] = f"{cls.CPU_FINETUNE_EPOCHS} (0 with weights given)"
        return table

    def resolve_settings(self, data: TrainData) -> dict[str, Any]:
        settings = super().resolve_settings(data)
        if settings["scale"] == "paper" and self.options["model"] is None:
            settings["model"] = self.PAPER_MODEL
        pretrained = settings.get("weights") or settings.get("pretrained")
        if settings["scale"] == "cpu" and self.options["finetune_epochs"] == 0 and not pretrained:
            settings["finetune_epochs"] = self.CPU_FINETUNE_EPOCHS
        return settings
