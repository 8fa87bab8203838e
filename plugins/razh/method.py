"""RAZH and its ablations as zshbench hashing methods.

``razh`` (the full model), ``razh-c`` (no clustering), ``razh-a`` (no attribute module: the
reconstruction branch only), ``razh-d`` (two random-selection branches, no attributes) and
``razh-t`` (class names as the attributes) are one class with different fixed switches; every
option of Tables IV–VIII is an ``--option``. See ``zshbench info razh`` for the list.

Model selection never looks at unseen classes: with ``selection="checkpoint"`` (default) the
network trains on the seen classes outside the core's validation split and keeps the epoch with
the best mAP on that seen-class validation task; ``"retrain"`` then trains a fresh network on all
seen classes for the chosen number of epochs; ``"none"`` trains on all seen classes for a fixed
``epochs``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from zshbench.errors import ZshbenchError
from zshbench.method import HashingMethod, ImageView, RunContext, TrainData

from . import config as razh_config
from .attributes import attribute_inputs
from .backbone import build_encoder
from .model import AttributeEmbedding, RAZHNet
from .training import (
    Normalizer,
    TrainSettings,
    encode_view,
    load_view,
    parse_losses,
    supervised_finetune,
    train,
)

SELECTIONS = ("checkpoint", "retrain", "none")


class RAZH(HashingMethod):
    """RAZH (the paper's full model). Options (None = resolved from scale, data set and bits):

    scale: "cpu" (small ViT from scratch, for 2 cores) or "paper" (ViT-B/16 at 224, MAE decoder).
    model, img_size, patch_size, embed_dim, depth, num_heads: the timm ViT encoder.
    weights: local checkpoint of the encoder (e.g. MAE's ViT-B/16; decoder keys are ignored).
    pretrained_from_cache: timm's pretrained weights from the local cache (offline).
    finetune_epochs: RAZH-F, class-supervised fine-tuning of the encoder first (epochs).
    pretrain_epochs: reconstruction-only warm-up (L_r + L_hal) before the full loss: the CPU
    scale's stand-in for the paper's MAE-initialised encoder (None: 0 at paper scale).
    decoder_dim, decoder_depth, decoder_heads: the shared MAE-style decoder.
    attribute_dim: d_a. attributes: "attributes" or "class-names" (RAZH-T).
    attribute_cut: cut of a continuous attribute matrix for T^(i) (None: binary matrix, else mean).
    clusters: K'. kmeans_iterations. threshold: replacement threshold on cosine similarity.
    straight_through, selection_temperature: the AEM's top-1 with a soft backward pass.
    mask_ratio: reconstruction branch (Table V). losses: "+"-joined subset of cls, h, rec (Table
    IV). alpha, beta: Eq. 16 (None: the paper's Table VIII). pool: "mean" or "cls".
    hash_input: "full" (h from the whole image) or "masked" (from the reconstruction branch).
    norm_pix_loss: per-patch normalised pixel targets.
    epochs, batch_size, lr, weight_decay, warmup_epochs, grad_clip, hflip, amp (bf16 on CUDA).
    selection, eval_every, patience: model selection on the seen-class validation split.
    encode_batch_size. diagnostics: draw this many images' clusters and matched attributes
    (a PNG beside the record).
    """

    method_name: ClassVar[str] = "razh"
    supports_distributed: ClassVar[bool] = True
    mixing: ClassVar[str | None] = "aem"
    clustering: ClassVar[bool] = True
    attribute_source: ClassVar[str] = "attributes"

    default_options: ClassVar[dict[str, Any]] = {
        "scale": "cpu",
        "model": None,
        "img_size": None,
        "patch_size": None,
        "embed_dim": None,
        "depth": None,
        "num_heads": None,
        "weights": None,
        "pretrained_from_cache": False,
        "finetune_epochs": 0,
        "pretrain_epochs": None,
        "decoder_dim": None,
        "decoder_depth": None,
        "decoder_heads": None,
        "attribute_dim": None,
        "attributes": None,
        "attribute_cut": None,
        "clusters": None,
        "kmeans_iterations": 10,
        "threshold": None,
        "straight_through": True,
        "selection_temperature": 0.1,
        "mask_ratio": 0.5,
        "losses": "cls+h+rec",
        "alpha": None,
        "beta": None,
        "pool": "mean",
        "hash_input": "full",
        "norm_pix_loss": False,
        "epochs": None,
        "batch_size": None,
        "lr": None,
        "weight_decay": None,
        "warmup_epochs": 1.0,
        "grad_clip": 1.0,
        "hflip": False,
        "amp": True,
        "selection": "checkpoint",
        "eval_every": 1,
        "patience": 5,
        "encode_batch_size": 256,
        "diagnostics": 0,
    }

    def __init__(self, bits: int, **options: Any):
        super().__init__(bits, **options)
        self._check_options()
        self.resolved_: dict[str, Any] = {}
        self.training_: dict[str, Any] = {}
        self.net_: RAZHNet | None = None

    # ------------------------------------------------------------------ options

    def _check_options(self) -> None:
        o = self.options
        name = type(self).method_name
        if o["scale"] not in razh_config.SCALES:
            raise ZshbenchError(f"{name}: scale must be one of {razh_config.SCALES}")
        if o["selection"] not in SELECTIONS:
            raise ZshbenchError(f"{name}: selection must be one of {SELECTIONS}")
        try:
            parse_losses(o["losses"])
        except ValueError as error:
            raise ZshbenchError(f"{name}: {error}") from None
        if isinstance(o["mask_ratio"], (int, float)) and not 0.0 <= o["mask_ratio"] < 1.0:
            raise ZshbenchError(f"{name}: mask_ratio must be in [0, 1), not {o['mask_ratio']}")
        for key in ("epochs", "batch_size", "clusters", "img_size", "patch_size"):
            value = o[key]
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ZshbenchError(f"{name}: {key} must be a positive integer, not {value!r}")
        for key in ("mask_ratio", "selection_temperature", "lr", "weight_decay", "alpha", "beta",
                    "threshold"):  # fmt: skip
            value = o[key]
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float))
            ):
                raise ZshbenchError(f"{name}: {key} must be a number, not {value!r}")
        if o["weights"] and o["pretrained_from_cache"]:
            raise ZshbenchError(f"{name}: give weights or pretrained_from_cache, not both")
        if self.bits < 1:
            raise ZshbenchError(f"{name}: bits must be positive")

    def config(self) -> dict[str, Any]:
        return {**super().config(), "resolved": self.resolved_, "training": self.training_}

    # ------------------------------------------------------------------ fit

    def fit(self, data: TrainData, context: RunContext) -> None:
        native = _native_side(data.images)
        settings = razh_config.resolve(self.options, data.dataset, self.bits, native)
        settings["attributes"] = settings["attributes"] or self.attribute_source
        self.resolved_ = {
            k: v for k, v in settings.items() if self.options.get(k) is None and v is not None
        }
        self.settings_ = settings
        vectors = sets = texts = None
        if self.mixing == "aem":
            vectors, sets, texts = attribute_inputs(
                data, context, settings["attributes"], settings["attribute_cut"]
            )
        self.attribute_texts_ = texts

        size = int(settings["img_size"])
        images = load_view(data.images, size, context, "training images")
        labels = torch.as_tensor(np.asarray(data.labels), dtype=torch.long)
        train_settings = TrainSettings(
            epochs=int(settings["epochs"]),
            batch_size=int(settings["batch_size"]),
            lr=float(settings["lr"]),
            weight_decay=float(settings["weight_decay"]),
            warmup_epochs=float(settings["warmup_epochs"]),
            grad_clip=settings["grad_clip"],
            hflip=bool(settings["hflip"]),
            amp=bool(settings["amp"]),
            eval_every=int(settings["eval_every"]),
            patience=settings["patience"],
        )
        objective_args = {
            "alpha": float(settings["alpha"]),
            "beta": float(settings["beta"]),
            "losses": parse_losses(settings["losses"]),
        }
        selection = settings["selection"]
        validation = data.validation
        if selection != "none" and (validation is None or len(validation.query) == 0):
            context.progress.log(
                f"{self.method_name}: no seen-class validation split; training a fixed "
                f"{train_settings.epochs} epochs on all seen classes"
            )
            selection = "none"
        started = time.perf_counter()
        net = self._build(settings, data.num_classes, vectors, sets, context)
        normalizer = self.normalizer_
        warmup_args = {"alpha": 0.0, "beta": 1.0, "losses": frozenset({"rec"})}
        pretrain_epochs = int(settings["pretrain_epochs"] or 0)
        finetune_epochs = int(settings["finetune_epochs"])

        def pretrain(model: RAZHNet, subset: torch.Tensor | None) -> None:
            """What comes before RAZH's own loss, on the images that training will see: the
            class-supervised fine-tuning of RAZH-F, then the reconstruction warm-up."""
            chosen = slice(None) if subset is None else subset
            if finetune_epochs > 0:
                supervised_finetune(
                    model, images[chosen], labels[chosen], data.num_classes, normalizer,
                    replace(train_settings, epochs=finetune_epochs), context,
                )  # fmt: skip
            if pretrain_epochs > 0:
                train(
                    model, images[chosen], labels[chosen], normalizer, warmup_args,
                    replace(train_settings, epochs=pretrain_epochs), context,
                    label="reconstruction warm-up",
                )  # fmt: skip

        validation_images: dict = {}

        def validate(model: RAZHNet) -> float:
            return validation.evaluate(
                lambda view: encode_view(
                    model,
                    view,
                    size,
                    normalizer,
                    context,
                    int(settings["encode_batch_size"]),
                    train_settings.amp,
                    validation_images,
                )  # fmt: skip
            )

        if selection == "none":
            pretrain(net, None)
            result = train(net, images, labels, normalizer, objective_args, train_settings, context)
            final = result
        else:
            fit = torch.as_tensor(validation.fit_positions, dtype=torch.long)
            pretrain(net, fit)
            result = train(
                net, images[fit], labels[fit], normalizer, objective_args, train_settings,
                context, validate=validate, label="train (seen classes minus validation)",
            )  # fmt: skip
            final = result
            if selection == "retrain":
                net = self._build(settings, data.num_classes, vectors, sets, context)
                pretrain(net, None)
                epochs = int(result.best_epoch or train_settings.epochs)
                final = train(
                    net, images, labels, normalizer, objective_args,
                    replace(train_settings, epochs=epochs), context,
                    label="retrain (all seen classes)",
                )  # fmt: skip
        self.net_ = net
        seconds = time.perf_counter() - started
        epochs_run = result.history + (final.history if final is not result else [])
        self.training_ = {
            "selection": selection,
            "best_epoch": result.best_epoch,
            "best_validation_map": result.best_validation_map,
            "epochs_run": len(epochs_run),
            "seconds": round(seconds, 2),
            "seconds_per_epoch": round(
                float(np.mean([s.seconds for s in epochs_run])) if epochs_run else 0.0, 3
            ),
            "images_per_second": round(
                float(np.mean([s.images_per_second for s in epochs_run])) if epochs_run else 0.0,
                1,
            ),
            "world_size": context.world_size if context.distributed else 1,
            "validation_curve": [
                [s.epoch, s.validation_map] for s in result.history if s.validation_map is not None
            ],
            "final_losses": epochs_run[-1].losses if epochs_run else {},
            "finetune_epochs": finetune_epochs,
            "pretrain_epochs": pretrain_epochs,
            "parameters": sum(p.numel() for p in net.parameters()),
        }
        if int(settings["diagnostics"]) > 0 and context.rank == 0:
            self._write_diagnostics(data, context, images, labels)

    def _build(
        self,
        settings: dict[str, Any],
        num_classes: int,
        vectors: np.ndarray | None,
        sets: np.ndarray | None,
        context: RunContext,
    ) -> RAZHNet:
        """A freshly initialised network (seeded: every process builds the same one)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(context.seed)
            encoder, mean, std = build_encoder(settings)
            aem = None
            if self.mixing == "aem":
                aem = AttributeEmbedding(
                    torch.from_numpy(vectors),
                    torch.from_numpy(sets),
                    visual_dim=int(encoder.embed_dim),
                    attribute_dim=int(settings["attribute_dim"]),
                    temperature=float(settings["selection_temperature"]),
                    straight_through=bool(settings["straight_through"]),
                )
            net = RAZHNet(
                encoder,
                self.bits,
                num_classes,
                aem=aem,
                mixing=self.mixing,
                clustering=self.clustering,
                clusters=int(settings["clusters"]),
                kmeans_iterations=int(settings["kmeans_iterations"]),
                threshold=float(settings["threshold"]),
                mask_ratio=float(settings["mask_ratio"]),
                decoder_dim=int(settings["decoder_dim"]),
                decoder_depth=int(settings["decoder_depth"]),
                decoder_heads=int(settings["decoder_heads"]),
                pool=settings["pool"],
                hash_input=settings["hash_input"],
                norm_pix_loss=bool(settings["norm_pix_loss"]),
            )
        self.normalizer_ = Normalizer(mean, std)
        return net.to(context.device)

    # ------------------------------------------------------------------ encode

    def encode(self, images: ImageView, context: RunContext) -> np.ndarray:
        if self.net_ is None:
            raise ZshbenchError(f"{self.method_name}: encode called before fit")
        return encode_view(
            self.net_,
            images,
            int(self.settings_["img_size"]),
            self.normalizer_,
            context,
            int(self.settings_["encode_batch_size"]),
            bool(self.settings_["amp"]),
        )

    # ------------------------------------------------------------------ diagnostics

    def _write_diagnostics(
        self, data: TrainData, context: RunContext, images: torch.Tensor, labels: torch.Tensor
    ) -> None:
        from .diagnostics import draw_matches

        if self.net_ is None or self.net_.aem is None:
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
        picks = np.random.default_rng(context.seed).choice(len(images), count, replace=False)
        path = Path(folder) / "attribute-matches.png"
        draw_matches(
            self.net_,
            images[np.sort(picks)],
            labels[np.sort(picks)],
            self.normalizer_,
            self.attribute_texts_ or [],
            [data.class_names[i] for i in labels[np.sort(picks)].tolist()],
            path,
            device=context.device,
            seed=context.seed,
        )
        context.progress.log(f"{self.method_name}: diagnostics written to {path}")


def _native_side(view: ImageView) -> int | None:
    """The images' side length when they are all square and the same size, else None."""
    shape = view.fixed_shape
    if shape is None and len(view):
        first = view.load([0])[0].shape
        shape = first if first[0] == first[1] else None
    if shape is None or shape[0] != shape[1]:
        return None
    return int(shape[0])


class RAZHNoClustering(RAZH):
    """RAZH-C: no K-means; every patch is matched to its own nearest attribute."""

    clustering = False
    method_name = "razh-c"


class RAZHNoAttributes(RAZH):
    """RAZH-A: no attribute embedding module; the reconstruction branch only."""

    mixing = None
    method_name = "razh-a"


class RAZHDualRandom(RAZH):
    """RAZH-D: two random-selection branches (different masks), no attributes."""

    mixing = "random"
    method_name = "razh-d"


class RAZHClassNames(RAZH):
    """RAZH-T: the class names are the only attributes (what CIFAR-10 gets in the paper)."""

    attribute_source = "class-names"
    method_name = "razh-t"
