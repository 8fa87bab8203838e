"""The deep-hashing engine: one training loop shared by RAZH and every deep baseline.

A deep method is a network with ``hash_images(x) -> h`` (continuous codes in (-1, 1); the codes
are ``sgn(h)``) and an :class:`Objective` (its loss on a :class:`Batch`, and optionally a code
update at the start of each epoch). Everything else is here, written once:

* AdamW with a linear warm-up and a half-cosine decay, gradient clipping, bf16 autocast on CUDA;
* per-image training augmentation (:mod:`plugins.deep.images`); deterministic evaluation;
* a NaN/inf guard that stops the run with one line naming the epoch, step and every loss term;
* DistributedDataParallel under ``torchrun``: equal shards, the remainder dropped so every rank
  takes the same steps; rank 0 validates and broadcasts the verdict;
* model selection on the seen-class validation task (:mod:`plugins.deep.selection` chooses the
  epoch, :class:`DeepHashingMethod` runs the phases), never on unseen classes;
* per-epoch figures on the progress bar and in the run's log file, and the record's fields:
  the validation curve, chosen epoch, per-epoch loss terms, images/s, seen-class training
  accuracy and the time of each phase.

Steps draw masks and other randomness from a seeded generator (per seed, epoch and rank), so a
run is reproducible.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from zshbench.errors import TrainingError
from zshbench.method import ImageView, RunContext

from .checkpoint import EpochCheckpoint
from .images import Normalizer, build_augmentation, load_view, view_batches
from .loader import InputPipeline
from .selection import EpochSelector


def autocast(device: str, enabled: bool):
    """bf16 autocast on CUDA when enabled; a no-op context elsewhere (CPU trains in fp32)."""
    on_cuda = str(device).startswith("cuda")
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=bool(enabled and on_cuda))


@dataclass
class Batch:
    """One training step's input: normalised (and augmented) images on the device, their seen-
    class labels, their positions in the training set (for methods that keep per-image codes),
    and the step's seeded generator."""

    images: torch.Tensor
    labels: torch.Tensor
    index: torch.Tensor
    generator: torch.Generator
    epoch: int


class Objective(nn.Module):
    """A method's training objective around its network.

    ``forward(batch)`` returns named scalar tensors: ``"loss"`` (what is minimised) and any
    other terms worth recording (averaged per epoch into the record and the log). A method with
    a classifier reports its batch accuracy as ``"acc"``; for any other the engine measures the
    training accuracy by nearest class-centre code when it needs it. Model selection only
    chooses epochs whose training accuracy reached ``selection_min_accuracy``. Parameters of
    the objective itself (e.g. a learned code matrix) are optimised along with the network's.
    An objective that leaves the network's classifier untrained sets ``classifier_trained``
    to False.
    """

    classifier_trained: bool = True

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def start_epoch(self, session: Session) -> None:
        """Called on every rank before each epoch; methods with a discrete code update (e.g.
        ADSH, DSDH) do it here, with ``session.encode_training_set()`` for the current codes."""


@dataclass
class TrainSettings:
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_epochs: float = 1.0
    grad_clip: float | None = 1.0
    augment: str = "none"
    amp: bool = True
    eval_every: int = 1
    patience: int | None = None
    selection_window: int = 1  # evaluations averaged when choosing the epoch (odd)
    # An epoch may be chosen once the objective's "acc" (training accuracy, averaged over the
    # epoch) reaches this; None: every epoch may be chosen.
    selection_min_accuracy: float | None = None
    schedule_epochs: int | None = None  # cosine horizon; None: ``epochs``
    # A retrain without validation: after ``epochs``, go on (up to ``schedule_epochs``) until the
    # objective's "acc" reaches this, so the final model fits its classes as the chosen epoch did.
    extend_until_accuracy: float | None = None
    image_size: int = 0


@dataclass
class EpochStats:
    epoch: int
    seconds: float
    images: int
    losses: dict[str, float]
    validation_map: float | None = None
    # deterministic seen-class training accuracy, measured when selection needs it and the
    # objective reports no "acc" of its own
    train_accuracy: float | None = None

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else float("nan")

    def to_record(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"epoch": self.epoch, "seconds": round(self.seconds, 3)}
        entry.update({k: round(v, 6) for k, v in self.losses.items()})
        if self.validation_map is not None:
            entry["validation_map"] = round(self.validation_map, 6)
        if self.train_accuracy is not None:
            entry["train_accuracy"] = round(self.train_accuracy, 6)
        return entry


@dataclass
class TrainResult:
    history: list[EpochStats] = field(default_factory=list)
    best_epoch: int | None = None
    best_validation_map: float | None = None
    training_seconds: float = 0.0
    validation_seconds: float = 0.0
    no_epoch_eligible: bool = False  # the training accuracy never reached the selection's bar
    input_pipeline: dict = field(default_factory=dict)  # loader vs step img/s (.loader)


@dataclass
class Session:
    """What an objective may need beyond one batch: the whole training set and the context."""

    network: nn.Module
    images: torch.Tensor  # uint8 (N, 3, S, S), on the CPU
    labels: torch.Tensor
    normalizer: Normalizer
    context: RunContext
    settings: TrainSettings
    epoch: int = 0
    # whether the objective trains the network's classifier (if it has one); an untrained one
    # says nothing of the training accuracy (RAZH's L_h-only row of Table IV)
    classifier_trained: bool = True
    # the phase this session trains for ("train (all seen classes)", ...): a stage before it
    # names its checkpoint after it, so the selection pass and the retrain keep separate files
    phase: str = "train"

    @torch.no_grad()
    def encode_training_set(self, batch_size: int = 256) -> torch.Tensor:
        """h (continuous) of every training image, deterministic (no augmentation), on CPU."""
        was_training = self.network.training
        self.network.eval()
        out = []
        for start in range(0, len(self.images), batch_size):
            x = self.normalizer(self.images[start : start + batch_size], self.context.device)
            with autocast(self.context.device, self.settings.amp):
                out.append(self.network.hash_images(x).float().cpu())
        self.network.train(was_training)
        return torch.cat(out) if out else torch.zeros(0)


def _epoch_accuracy(stats: EpochStats, session: Session, context: RunContext) -> float:
    """The epoch's seen-class training accuracy, the same on every rank: the objective's own
    "acc" (its classifier's, averaged over the epoch's batches) or, for an objective without
    one, :func:`training_accuracy` of the network as it stands (rank 0 measures it)."""
    accuracy = stats.losses.get("acc")
    if accuracy is not None:  # each rank averaged its own batches: rank 0's figure decides
        return _broadcast_float(float(accuracy), context)
    if stats.train_accuracy is None:  # measured once per epoch, already the same on every rank
        measured = training_accuracy(session)[0] if context.rank == 0 else 0.0
        stats.train_accuracy = _broadcast_float(measured, context)
    return stats.train_accuracy


def _comm_device(context: RunContext) -> str:
    return context.device if str(context.device).startswith("cuda") else "cpu"


@contextlib.contextmanager
def torch_threads(threads: int | None, device: str) -> Iterator[None]:
    """Run with ``threads`` torch intra-op threads on a CPU device (None: unchanged), then
    restore the previous count."""
    if threads is None or torch.device(device).type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _broadcast_float(value: float, context: RunContext) -> float:
    if not context.distributed:
        return value
    import torch.distributed as dist

    tensor = torch.tensor([value], dtype=torch.float64, device=_comm_device(context))
    dist.broadcast(tensor, src=0)
    return float(tensor.item())


def _optimizer(parameters: list[nn.Parameter], settings: TrainSettings) -> torch.optim.Optimizer:
    """AdamW; no weight decay on biases, norms and other 1-d parameters (MAE's convention)."""
    decay = [p for p in parameters if p.ndim > 1]
    no_decay = [p for p in parameters if p.ndim <= 1]
    return torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": settings.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=settings.lr,
        betas=settings.betas,
        foreach=True,  # one fused update over all tensors (the CPU default is a loop)
    )


def train(
    objective: Objective,
    images: torch.Tensor,
    labels: torch.Tensor,
    normalizer: Normalizer,
    settings: TrainSettings,
    context: RunContext,
    validate: Callable[[nn.Module], float] | None = None,
    label: str = "train",
    method: str = "method",
) -> TrainResult:
    """Train ``objective`` on uint8 ``images`` for ``settings.epochs``.

    With ``validate`` (called on rank 0 every ``eval_every`` epochs and at the last; higher is
    better) the network ends in the state of its best validated epoch, and training stops early
    after ``patience`` evaluations without improvement. The learning-rate schedule spans
    ``schedule_epochs`` (default ``epochs``), so a retrain that stops at the epoch chosen on
    validation follows the very schedule that epoch was chosen under. With
    ``extend_until_accuracy`` such a retrain goes on past ``epochs`` (at most to the horizon)
    while its epoch-average training accuracy is below the bar: on all seen classes, from a
    different start, the chosen epoch count is not always enough to fit them.
    """
    session = Session(
        objective.network, images, labels, normalizer, context, settings,
        classifier_trained=objective.classifier_trained,
    )  # fmt: skip
    loop = TrainingLoop(objective, session, label, method)
    saver = EpochCheckpoint.of(loop)  # resumes a killed fit from its last epoch
    first, finished = saver.resume(loop) if saver else (1, False)
    for epoch in range(first, 0 if finished else loop.plan.last_epoch + 1):
        stats = loop.run_epoch(epoch)
        if validate is not None and (epoch % settings.eval_every == 0 or epoch == settings.epochs):
            loop.validate_epoch(stats, validate)
        loop.result.history.append(stats)
        context.progress.status(describe_epoch(label, stats, loop.shown_epochs(epoch)))
        stop = loop.fits_its_classes(stats) or loop.out_of_patience(epoch)
        if saver:
            saver.save(loop, epoch, finished=stop or epoch == loop.plan.last_epoch)
        if stop:
            break
    return loop.finish(validated=validate is not None)


@dataclass(frozen=True)
class EpochPlan:
    """How a training set is cut into steps: images per rank and per step, steps per epoch, the
    learning-rate schedule's horizon and the last epoch that may run."""

    per_rank: int
    local_batch: int
    steps_per_epoch: int
    horizon: int
    last_epoch: int

    @classmethod
    def of(cls, count: int, settings: TrainSettings, world: int) -> EpochPlan:
        """Equal shards (the remainder dropped, so every rank takes the same steps); the horizon
        is ``schedule_epochs`` (default ``epochs``), reached only when extending to a bar."""
        per_rank = count // world
        local_batch = max(1, settings.batch_size // world)
        horizon = max(1, settings.schedule_epochs or settings.epochs)
        last_epoch = settings.epochs
        if settings.extend_until_accuracy is not None:
            last_epoch = max(settings.epochs, horizon)
        steps = max(1, math.ceil(per_rank / local_batch))
        return cls(per_rank, local_batch, steps, horizon, last_epoch)


class WarmupCosine:
    """The learning-rate factor of a step: a linear warm-up, then a half-cosine decay (MAE's)."""

    def __init__(self, warmup_steps: float, total_steps: int):
        self.warmup = warmup_steps
        self.total = total_steps

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        progress = (step - self.warmup) / max(1.0, self.total - self.warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def _distributed(objective: Objective, device: torch.device, world: int) -> nn.Module:
    """What a step calls: the objective itself, or under torchrun its DistributedDataParallel
    wrapper (with BatchNorm statistics over the whole global batch on CUDA)."""
    if world <= 1:
        return objective
    from torch.nn.parallel import DistributedDataParallel

    if device.type == "cuda":
        nn.SyncBatchNorm.convert_sync_batchnorm(objective)
    return DistributedDataParallel(
        objective,
        device_ids=[device.index] if device.type == "cuda" else None,
        find_unused_parameters=True,
    )


class TrainingLoop:
    """The state of one :func:`train` call (optimiser, schedule, seeded generator, selector) and
    its steps: an epoch, one optimisation step, a validation, the stopping rules, the end.
    ``session`` holds the training set, its normaliser, the settings and the run's context."""

    stats_type = EpochStats  # what a checkpoint restores the history as

    def __init__(self, objective: Objective, session: Session, label: str, method: str):
        self.objective, self.session, self.label, self.method = objective, session, label, method
        self.settings, self.context = session.settings, session.context
        settings, context = session.settings, session.context
        self.device = torch.device(context.device)
        objective.to(self.device).train()
        self.step_module = _distributed(objective, self.device, context.world_size)
        self.parameters = [p for p in objective.parameters() if p.requires_grad]
        self.optimizer = _optimizer(self.parameters, settings)
        self.plan = EpochPlan.of(len(self.session.images), settings, context.world_size)
        steps = self.plan.steps_per_epoch
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, WarmupCosine(settings.warmup_epochs * steps, steps * self.plan.horizon)
        )
        side = settings.image_size or self.session.images.shape[-1]
        self.pipeline = InputPipeline(
            session.images, session.normalizer, build_augmentation(settings.augment, side),
            self.device,
        )  # fmt: skip
        self.generator = torch.Generator().manual_seed(context.seed * 7919 + context.rank + 1)
        self.result = TrainResult()
        self.selector = EpochSelector(settings.selection_window)

    def shown_epochs(self, epoch: int) -> int:
        """The epoch count a progress line shows: ``epochs``, or the horizon once past it."""
        return self.settings.epochs if epoch <= self.settings.epochs else self.plan.last_epoch

    def _shard(self, epoch: int) -> torch.Tensor:
        """This rank's training positions for ``epoch``: a seeded permutation, cut in equal
        shards."""
        world, count = self.context.world_size, len(self.session.images)
        seed = self.context.seed * 100_003 + epoch
        order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
        return order[: self.plan.per_rank * world][self.context.rank :: world]

    def run_epoch(self, epoch: int) -> EpochStats:
        """The objective's epoch start (e.g. a discrete code update), then every step; the
        epoch's loss terms averaged over this rank's images."""
        self.session.epoch = epoch
        started = time.perf_counter()
        self.objective.start_epoch(self.session)
        shard, batch = self._shard(epoch), self.plan.local_batch
        sums: dict[str, float] = {}
        with self.context.progress.task(
            f"{self.label} epoch {epoch}/{self.shown_epochs(epoch)}",
            total=self.plan.steps_per_epoch,
        ) as advance:
            for step in range(self.plan.steps_per_epoch):
                index = shard[step * batch : (step + 1) * batch]
                if len(index):
                    for key, value in self.step(index, epoch, step).items():
                        sums[key] = sums.get(key, 0.0) + float(value.detach()) * len(index)
                advance(1)
        seconds = time.perf_counter() - started
        self.result.training_seconds += seconds
        per_rank, world = self.plan.per_rank, self.context.world_size
        return EpochStats(
            epoch, seconds, per_rank * world, {k: v / per_rank for k, v in sums.items()}
        )

    def step(self, index: torch.Tensor, epoch: int, step: int) -> dict[str, torch.Tensor]:
        """One optimisation step on the images at ``index``; the objective's loss terms."""
        session, timer = self.session, self.pipeline.start("loader")
        images = self.pipeline.batch(index)
        labels = session.labels[index].to(self.device, non_blocking=True)
        timer = self.pipeline.stop(timer, len(index), then="step")
        batch = Batch(images, labels, index, self.generator, epoch)
        with autocast(self.context.device, self.settings.amp):
            parts = self.step_module(batch)
        self._refuse_non_finite(parts, epoch, step)
        self.optimizer.zero_grad(set_to_none=True)
        parts["loss"].backward()
        if self.settings.grad_clip:
            nn.utils.clip_grad_norm_(self.parameters, self.settings.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.pipeline.stop(timer, len(index))
        return parts

    def _refuse_non_finite(self, parts: dict[str, torch.Tensor], epoch: int, step: int) -> None:
        """Stop with one line naming the epoch, step and every loss term once the loss is NaN
        or infinite."""
        loss = parts["loss"]
        if torch.isfinite(loss):
            return
        terms = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in parts.items())
        raise TrainingError(
            f"{self.method}: the loss became {loss.item()} at epoch {epoch}, step {step + 1} "
            f"({terms})",
            f"Lower the learning rate (--option lr=..., now {self.settings.lr:g}) or the loss "
            "weights.",
        )

    def validate_epoch(self, stats: EpochStats, validate: Callable[[nn.Module], float]) -> None:
        """Rank 0 scores the network on the validation task and every rank gets the score; the
        selector weighs the epoch (eligible once its training accuracy reaches the bar)."""
        context, network = self.context, self.objective.network
        started = time.perf_counter()
        score = validate(network) if context.rank == 0 else 0.0
        score = _broadcast_float(score, context)
        self.result.validation_seconds += time.perf_counter() - started
        stats.validation_map = score
        eligible = True
        if self.settings.selection_min_accuracy is not None:
            accuracy = _epoch_accuracy(stats, self.session, context)
            eligible = accuracy >= self.settings.selection_min_accuracy
        self.selector.add(stats.epoch, score, network, eligible)

    def fits_its_classes(self, stats: EpochStats) -> bool:
        """From ``epochs`` on: stop unless extending to a training-accuracy bar not yet met."""
        epoch, epochs, bar = stats.epoch, self.settings.epochs, self.settings.extend_until_accuracy
        if epoch < epochs:
            return False
        if bar is None:
            return True
        accuracy = _epoch_accuracy(stats, self.session, self.context)
        if accuracy >= bar:
            return True
        if epoch == epochs:
            self.context.progress.log(
                f"{self.label}: training accuracy {accuracy:.3f} < {bar} after {epoch} epochs; "
                f"training on (at most to epoch {self.plan.last_epoch})"
            )
        return False

    def out_of_patience(self, epoch: int) -> bool:
        """``patience`` validations without a gain: stop early."""
        stale = self.selector.stale
        if self.settings.patience is None or stale < self.settings.patience:
            return False
        self.context.progress.status(
            f"{self.label}: no validation gain in {stale} evaluations, stopping at epoch {epoch}"
        )
        return True

    def finish(self, validated: bool) -> TrainResult:
        """The chosen epoch's state back in the network (validated), the record's fields."""
        selector, result, network = self.selector, self.result, self.objective.network
        selector.finish()
        result.no_epoch_eligible = selector.fell_back
        result.input_pipeline = self.pipeline.meter.to_record()
        if selector.fell_back:
            self.context.progress.log(
                f"warning: {self.method}: the training accuracy never reached "
                f"{self.settings.selection_min_accuracy} in {len(result.history)} epochs; the "
                "epoch was chosen among all of them (more epochs or a higher lr would fit the "
                "seen classes)"
            )
        if selector.best_state is not None:
            network.load_state_dict(selector.best_state)
            result.best_epoch, result.best_validation_map = selector.best_epoch, selector.best_score
        elif not validated:
            result.best_epoch = len(result.history)
        network.eval()
        return result


def describe_epoch(label: str, stats: EpochStats, epochs: int) -> str:
    """One line of figures for an epoch: its loss terms, speed and validation mAP."""
    terms = " ".join(f"{k}={v:.4f}" for k, v in stats.losses.items())
    text = (
        f"{label} epoch {stats.epoch}/{epochs}: {terms} ({stats.seconds:.1f} s, "
        f"{stats.images_per_second:.0f} img/s)"
    )
    if stats.validation_map is not None:
        text += f", seen-class validation mAP {100 * stats.validation_map:.2f} %"
    return text


@torch.no_grad()
def encode_view(
    network: nn.Module,
    view: ImageView,
    size: int,
    normalizer: Normalizer,
    context: RunContext,
    batch_size: int,
    amp: bool,
    cache: dict[tuple[int, bytes], torch.Tensor] | None = None,
) -> np.ndarray:
    """b = sgn(h) of the whole images of ``view``, in {-1, +1}, deterministic.

    With ``cache`` the view's decoded images are kept between calls (the validation views are
    encoded after every epoch; decoding their JPEGs again each time would dominate).
    """
    was_training = network.training
    network.eval()
    codes = []
    key = (id(view.source), view.indices.tobytes())
    if cache is not None and key not in cache:
        cache[key] = load_view(view, size, context, "validation images")
    stored = cache.get(key) if cache is not None else None
    what = "the validation set" if cache is not None else "images"  # cached: validation views
    with context.progress.task(f"encode {what} ({len(view)} images)", total=len(view)) as advance:
        for positions, batch in view_batches(view, size, batch_size, stored, context):
            x = normalizer(batch, context.device)
            with autocast(context.device, amp):
                h = network.hash_images(x)
            codes.append(torch.where(h.float() >= 0, 1, -1).to(torch.int8).cpu().numpy())
            advance(len(positions))
    network.train(was_training)
    bits = int(getattr(network, "bits", 0))
    return np.concatenate(codes) if codes else np.zeros((0, bits), np.int8)


@torch.no_grad()
def training_accuracy(session: Session) -> tuple[float, str]:
    """Seen-class accuracy on the training images, deterministic, and how it was measured.

    With a trained classifier on h (``network.classifier``, Eq. 12 for RAZH) its argmax;
    otherwise the nearest class-centre code in Hamming distance (the class centre is the sign of
    the class's mean h), which every hashing network has.
    """
    h = session.encode_training_set()
    labels = session.labels
    if len(h) == 0:
        return float("nan"), "none"
    classifier = getattr(session.network, "classifier", None)
    if isinstance(classifier, nn.Module) and session.classifier_trained:
        weight = next(classifier.parameters())
        logits = classifier(h.to(weight.device, weight.dtype)).float().cpu()
        return float((logits.argmax(1) == labels).float().mean()), "classifier on h"
    classes = labels.unique()
    centres = torch.stack([torch.sign(h[labels == c].mean(0)) for c in classes])
    codes = torch.sign(h)
    predicted = classes[(codes @ centres.T).argmax(1)]
    return float((predicted == labels).float().mean()), "nearest class-centre code"
