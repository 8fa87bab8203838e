"""The base class of every deep hashing method: settings at two scales, model selection, encoding.

A subclass supplies only what is its own: ``build_network`` (a module with ``hash_images`` and
``bits``), ``build_objective`` (its loss, :class:`plugins.deep.engine.Objective`) and, if it
has one, ``before_training`` (a warm-up stage such as RAZH's reconstruction pre-training).
Everything else — scales, backbone, data, augmentation, optimisation, selection, distributed
training, records — is the engine's, written once.

Model selection (``selection``), on the seen-class validation task only:

* ``retrain`` (default): train on the seen classes outside the validation split, evaluate every
  ``eval_every`` epochs, pick the best epoch; then train a fresh network on *all* seen classes
  for that many epochs, on the same learning-rate schedule, and on past them (at most to the
  schedule's end) while its training accuracy is below ``selection_min_accuracy``, the bar the
  chosen epoch had to clear. The shipped model has seen every seen class, and its epoch count
  was chosen without looking at an unseen class.
* ``checkpoint``: keep the best validated state of the first network (it never sees the
  validation classes).
* ``none``: a fixed schedule of ``epochs`` on all seen classes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from zshbench.errors import ZshbenchError
from zshbench.method import HashingMethod, ImageView, RunContext, TrainData

from . import scales
from .backbones import weights_supervision
from .engine import (
    Objective,
    Session,
    TrainResult,
    TrainSettings,
    encode_view,
    torch_threads,
    train,
    training_accuracy,
)
from .hybrid import provenance as backbone_provenance
from .images import Normalizer, cache_record, load_view


class DeepHashingMethod(HashingMethod):
    """A backbone + hash head trained end to end by the shared engine (see module docstring).

    Options shared by every deep method: scale (cpu | paper), model (a timm ViT name), stem
    (patch | conv), img_size, patch_size, embed_dim, depth, num_heads, weights (a local
    checkpoint), pretrained (timm's weights for the model's tag, from the local hub cache),
    epochs, batch_size, lr, weight_decay, warmup_epochs, grad_clip, augment
    (none | crop | crop+flip | rrc+flip | flip), amp (bf16 on CUDA), selection
    (retrain | checkpoint | none), eval_every, patience, selection_window (validation
    evaluations averaged when choosing the epoch), selection_min_accuracy (the training accuracy
    an epoch needs to be chosen), encode_batch_size, threads (torch threads on a CPU device;
    1 at CPU scale).
    """

    method_name: ClassVar[str] = "deep"
    supports_distributed: ClassVar[bool] = True
    # Weights trained on ImageNet's class labels leak unseen-class supervision (ImageNet's
    # classes overlap AWA2's and CUB's unseen ones); only a variant about them may use them.
    allows_class_supervised_weights: ClassVar[bool] = False
    # The registered variant that does take them, named in the refusal (RAZH's: razh-f).
    class_supervised_variant: ClassVar[str | None] = None
    # Per-scale defaults of this method over the engine's (scales.CPU / scales.PAPER).
    scale_defaults: ClassVar[dict[str, dict[str, Any]]] = {}

    default_options: ClassVar[dict[str, Any]] = {**scales.ENGINE_OPTIONS}

    @classmethod
    def scale_table(cls) -> dict[str, dict[str, str]]:
        """{scale: {option: its value there, as text}}: what ``zshbench info`` shows for the
        options left at null (:mod:`plugins.deep.scale_info`)."""
        from .scale_info import scale_table

        return scale_table(cls.scale_defaults)

    @property
    def display_name(self) -> str:
        """The method as logs and progress lines name it (a variant may add what it varies)."""
        return self.method_name

    def __init__(self, bits: int, **options: Any):
        super().__init__(bits, **options)
        self.check_options()
        self.settings_: dict[str, Any] = {}
        self.resolved_: dict[str, Any] = {}
        self.training_: dict[str, Any] = {}
        self.phases_: dict[str, float] = {}
        self.network_: nn.Module | None = None
        self.normalizer_: Normalizer | None = None
        self.image_cache_: dict | None = None  # provenance of the decoded image cache
        self.pretrained_: dict[str, Any] | None = None
        self.encoded_: tuple[int, float] = (0, 0.0)  # images encoded, seconds (images/s)

    # ------------------------------------------------------------------ what subclasses supply

    def build_network(
        self, settings: dict[str, Any], data: TrainData, context: RunContext
    ) -> tuple[nn.Module, Normalizer]:
        """A freshly initialised network (with ``hash_images`` and ``bits``) and its input
        normaliser."""
        raise NotImplementedError

    def build_objective(
        self, network: nn.Module, settings: dict[str, Any], data: TrainData, num_images: int
    ) -> Objective:
        raise NotImplementedError

    def before_training(self, session: Session) -> None:
        """A stage before the method's own loss (default: none) on what the phase's training
        will see: ``session`` holds the fresh network, the phase's images, labels, normaliser
        and settings. Its time counts as warm-up."""

    def resolve_settings(self, data: TrainData) -> dict[str, Any]:
        """Every None option filled from the scale, this method's defaults and the data set."""
        return scales.resolve(
            self.options,
            self.scale_defaults.get(self.options["scale"], {}),
            data.dataset,
            native_side(data.images),
        )

    # ------------------------------------------------------------------ options

    def check_options(self) -> None:
        """One-line errors for what one option's declaration cannot say: combinations of options
        and values with a structure (an odd window). A value's type, range or choices belong in
        its :class:`~zshbench.options.Option`, which ``HashingMethod`` has already checked."""
        o, name = self.options, self.method_name
        if o["weights"] and o["pretrained"]:
            raise ZshbenchError(f"{name}: give weights or pretrained, not both")
        if o["selection_window"] is not None and o["selection_window"] % 2 == 0:
            raise ZshbenchError(
                f"{name}: selection_window must be odd, not {o['selection_window']}"
            )
        if self.bits < 1:
            raise ZshbenchError(f"{name}: bits must be positive")

    def config(self) -> dict[str, Any]:
        config = {**super().config(), "resolved": self.resolved_, "training": self.training_}
        if self.training_ and self.encoded_[1] > 0:
            config["training"] = {
                **self.training_,
                "encode_images_per_second": round(self.encoded_[0] / self.encoded_[1], 1),
            }
        if self.pretrained_ is not None:
            config["pretrained"] = self.pretrained_
        return config

    def phase_seconds(self) -> dict[str, float]:
        return dict(self.phases_)

    # ------------------------------------------------------------------ fit

    def _train_settings(self, settings: dict[str, Any]) -> TrainSettings:
        return TrainSettings(
            epochs=int(settings["epochs"]),
            batch_size=int(settings["batch_size"]),
            lr=float(settings["lr"]),
            weight_decay=float(settings["weight_decay"]),
            warmup_epochs=float(settings["warmup_epochs"]),
            grad_clip=settings["grad_clip"],
            augment=str(settings["augment"]),
            amp=bool(settings["amp"]),
            eval_every=int(settings["eval_every"]),
            patience=settings["patience"],
            selection_window=int(settings["selection_window"]),
            selection_min_accuracy=settings["selection_min_accuracy"],
            image_size=int(settings["img_size"]),
        )

    def _check_supervision(self, settings: dict[str, Any]) -> list[str]:
        """Refuse class-supervised weights outside the variant about them; warnings to record."""
        supervision = weights_supervision(settings)
        warnings = []
        if supervision == "class-supervised":
            if not self.allows_class_supervised_weights:
                variant = self.class_supervised_variant
                raise ZshbenchError(
                    f"{self.method_name}: {settings.get('backbone') or settings['model']!r} "
                    "carries weights trained on ImageNet class labels, which overlap unseen "
                    "classes of AWA2 and CUB",
                    "Use self-supervised weights (-o weights=FILE from 'zshbench pretrain', or "
                    "model=vit_base_patch16_224.mae)"
                    + (f", or {variant}, the variant made for them." if variant else "."),
                )
            warnings.append(
                f"backbone weights {settings.get('backbone') or settings['model']!r} were "
                "trained with ImageNet class labels; ImageNet's classes overlap unseen classes "
                "of AWA2 and CUB, so this is not a strict zero-shot result"
            )
        if supervision == "unknown":
            warnings.append(
                f"backbone weights from a local file ({settings['weights']}); zshbench cannot "
                "tell whether they saw class labels"
            )
        return warnings

    def fit(self, data: TrainData, context: RunContext) -> None:
        settings = self.resolve_settings(data)
        with torch_threads(settings["threads"], context.device):
            self._fit(settings, data, context)

    def _fit(self, settings: dict[str, Any], data: TrainData, context: RunContext) -> None:
        """Settings and warnings, the method's preparation, the training phases its selection
        calls for, then the record."""
        self.settings_ = settings
        self.resolved_ = {
            k: v for k, v in settings.items() if self.options.get(k) is None and v is not None
        }
        warnings = self._check_supervision(settings)
        for warning in warnings:
            context.progress.log(f"warning: {self.display_name}: {warning}")
        self.prepare(settings, data, context)
        fit = FitInputs(
            settings,
            data,
            context,
            load_view(data.images, int(settings["img_size"]), context, "training images"),
            torch.as_tensor(np.asarray(data.labels), dtype=torch.long),
            self._train_settings(settings),
        )
        self.image_cache_ = cache_record(data.images, int(settings["img_size"]))
        selection = self._selection(fit)
        final, chosen = self._train_selected(fit, selection)
        self.network_ = final.network
        accuracy, accuracy_by = training_accuracy(final.session)
        self.phases_ = {k: round(v, 3) for k, v in fit.seconds.items()}
        self.training_ = self._training_record(
            selection, chosen, final.result, accuracy, accuracy_by, final.network, warnings,
            settings, context.world_size,
        )  # fmt: skip
        self.pretrained_ = backbone_provenance(
            settings, data.dataset, self.normalizer_.mean.flatten().tolist(),
            self.normalizer_.std.flatten().tolist(),
        )  # fmt: skip
        self._log_outcome(chosen, accuracy, context)
        self.after_fit(data, context, fit.images, fit.labels)

    def _selection(self, fit: FitInputs) -> str:
        """The ``selection`` option, or ``none`` when the split has no seen-class validation."""
        selection, validation = fit.settings["selection"], fit.data.validation
        if selection != "none" and (validation is None or len(validation.query) == 0):
            fit.context.progress.log(
                f"{self.display_name}: no seen-class validation split; training a fixed "
                f"{fit.train_settings.epochs} epochs on all seen classes"
            )
            return "none"
        return selection

    def _train_selected(self, fit: FitInputs, selection: str) -> tuple[TrainedPhase, TrainResult]:
        """The phases of ``selection`` (module docstring): the final phase, and the result whose
        epoch was chosen on validation (the final phase's own without validation)."""
        if selection == "none":
            final = self._train_phase(fit, None, fit.train_settings, "train (all seen classes)")
            return final, final.result
        subset = torch.as_tensor(fit.data.validation.fit_positions, dtype=torch.long)
        first = self._train_phase(
            fit, subset, fit.train_settings, "train (seen classes minus validation)", True
        )
        if selection != "retrain":
            return first, first.result
        run = retrain_settings(fit.train_settings, first.result)
        final = self._train_phase(fit, None, run, "retrain (all seen classes)")
        return final, first.result

    def _train_phase(
        self,
        fit: FitInputs,
        subset: torch.Tensor | None,
        run: TrainSettings,
        label: str,
        validated: bool = False,
    ) -> TrainedPhase:
        """A freshly seeded network trained on ``subset`` of the training images (None: all):
        the method's stage before its loss, then its objective (``validated``: choosing the
        epoch on the seen-class validation task); the time of each part."""
        chosen = slice(None) if subset is None else subset
        images, labels = fit.images[chosen], fit.labels[chosen]
        network, self.normalizer_ = self._seeded_network(fit.settings, fit.data, fit.context)
        validate = SeenClassValidation(self.normalizer_, fit) if validated else None
        session = Session(network, images, labels, self.normalizer_, fit.context, run, phase=label)
        started = time.perf_counter()
        self.before_training(session)
        fit.seconds["warmup_s"] += time.perf_counter() - started
        objective = self.build_objective(network, fit.settings, fit.data, len(images))
        session.classifier_trained = objective.classifier_trained
        result = train(
            objective, images, labels, self.normalizer_, run, fit.context,
            validate=validate, label=label, method=self.display_name,
        )  # fmt: skip
        fit.seconds["training_s"] += result.training_seconds
        fit.seconds["validation_s"] += result.validation_seconds
        return TrainedPhase(network, result, session)

    def _log_outcome(self, chosen: TrainResult, accuracy: float, context: RunContext) -> None:
        """One line: the epoch chosen on validation (if any) and the training accuracy."""
        context.progress.log(
            f"{self.display_name} {self.bits} bits: "
            + (
                f"epoch {chosen.best_epoch} chosen on seen-class validation "
                f"(validation mAP {100 * chosen.best_validation_map:.2f} %, its moving average "
                "over the selection window), "
                if chosen.best_validation_map is not None
                else ""
            )
            + f"seen-class training accuracy {accuracy:.3f}"
        )

    def prepare(self, settings: dict[str, Any], data: TrainData, context: RunContext) -> None:
        """Work done once per fit before any network is built (e.g. attribute vectors)."""

    def after_fit(
        self, data: TrainData, context: RunContext, images: torch.Tensor, labels: torch.Tensor
    ) -> None:
        """Work done once the final network is trained (e.g. diagnostics)."""

    def _seeded_network(
        self, settings: dict[str, Any], data: TrainData, context: RunContext
    ) -> tuple[nn.Module, Normalizer]:
        """A freshly initialised network (seeded: every process builds the same one)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(context.seed)
            network, normalizer = self.build_network(settings, data, context)
        return network.to(context.device), normalizer

    def _training_record(
        self,
        selection: str,
        chosen: TrainResult,
        final: TrainResult,
        accuracy: float,
        accuracy_by: str,
        network: nn.Module,
        warnings: list[str],
        settings: dict[str, Any],
        world_size: int,
    ) -> dict[str, Any]:
        epochs_run = chosen.history + (final.history if final is not chosen else [])
        record: dict[str, Any] = {
            "selection": selection,
            "best_epoch": chosen.best_epoch,
            "best_validation_map": chosen.best_validation_map,
            "selection_min_accuracy": settings["selection_min_accuracy"],
            "no_epoch_eligible": chosen.no_epoch_eligible,
            "final_epochs": len(final.history),
            "epochs_run": len(epochs_run),
            "seconds_per_epoch": round(
                float(np.mean([s.seconds for s in epochs_run])) if epochs_run else 0.0, 3
            ),
            "images_per_second": round(
                float(np.mean([s.images_per_second for s in epochs_run])) if epochs_run else 0.0,
                1,
            ),
            "train_accuracy": round(accuracy, 4),
            "train_accuracy_by": accuracy_by,
            "validation_curve": [
                [s.epoch, s.validation_map] for s in chosen.history if s.validation_map is not None
            ],
            "history": {
                "selection" if final is not chosen else "final": [
                    s.to_record() for s in chosen.history
                ],
                **(
                    {"final": [s.to_record() for s in final.history]} if final is not chosen else {}
                ),
            },
            "final_losses": final.history[-1].losses if final.history else {},
            "parameters": sum(p.numel() for p in network.parameters()),
            "weights_supervision": weights_supervision(settings),
            "world_size": world_size,
        }
        record["input_pipeline"] = final.input_pipeline  # loader vs step img/s (.loader)
        if self.image_cache_ is not None:
            record["image_cache"] = self.image_cache_
        if warnings:
            record["warnings"] = warnings
        return record

    # ------------------------------------------------------------------ encode

    def encode(self, images: ImageView, context: RunContext) -> np.ndarray:
        if self.network_ is None or self.normalizer_ is None:
            raise ZshbenchError(f"{self.method_name}: encode called before fit")
        started = time.perf_counter()
        with torch_threads(self.settings_["threads"], context.device):
            codes = encode_view(
                self.network_,
                images,
                int(self.settings_["img_size"]),
                self.normalizer_,
                context,
                int(self.settings_["encode_batch_size"]),
                bool(self.settings_["amp"]),
            )
        count, seconds = self.encoded_
        self.encoded_ = (count + len(images), seconds + time.perf_counter() - started)
        return codes


def native_side(view: ImageView) -> int | None:
    """The images' side length when they are all square and the same size, else None."""
    shape = view.fixed_shape
    if shape is None and len(view):
        first = view.load([0])[0].shape
        shape = first if first[0] == first[1] else None
    if shape is None or shape[0] != shape[1]:
        return None
    return int(shape[0])


def _no_seconds() -> dict[str, float]:
    return {"warmup_s": 0.0, "training_s": 0.0, "validation_s": 0.0}


@dataclass
class FitInputs:
    """What every training phase of one fit reads (settings, data, context, the decoded training
    images and their labels, the engine's settings) and the seconds each part took."""

    settings: dict[str, Any]
    data: TrainData
    context: RunContext
    images: torch.Tensor  # uint8 (N, 3, S, S), on the CPU
    labels: torch.Tensor
    train_settings: TrainSettings
    seconds: dict[str, float] = field(default_factory=_no_seconds)


@dataclass
class TrainedPhase:
    """One training phase's network, the engine's result and the session it trained in."""

    network: nn.Module
    result: TrainResult
    session: Session


def retrain_settings(settings: TrainSettings, chosen: TrainResult) -> TrainSettings:
    """The retrain on all seen classes: as many epochs as were chosen, on the selection's
    learning-rate schedule, and on past them while the training accuracy is below the bar the
    chosen epoch had to clear (no bar when no epoch cleared it)."""
    return replace(
        settings,
        epochs=int(chosen.best_epoch or settings.epochs),
        schedule_epochs=settings.epochs,
        extend_until_accuracy=None if chosen.no_epoch_eligible else settings.selection_min_accuracy,
    )


class SeenClassValidation:
    """The engine's ``validate``: mAP of a network's codes on the seen-class validation task,
    with the task's decoded images kept between epochs (decoding them again would dominate)."""

    def __init__(self, normalizer: Normalizer, fit: FitInputs):
        self.task = fit.data.validation
        self.normalizer = normalizer
        self.context = fit.context
        self.size = int(fit.settings["img_size"])
        self.batch_size = int(fit.settings["encode_batch_size"])
        self.amp = fit.train_settings.amp
        self.images: dict[tuple[int, bytes], torch.Tensor] = {}

    def __call__(self, network: nn.Module) -> float:
        return self.task.evaluate(partial(self.encode, network))

    def encode(self, network: nn.Module, view: ImageView) -> np.ndarray:
        return encode_view(
            network, view, self.size, self.normalizer, self.context, self.batch_size, self.amp,
            self.images,
        )  # fmt: skip
