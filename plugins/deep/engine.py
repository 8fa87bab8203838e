"""The deep-hashing engine: one training loop shared by RAZH and every deep baseline.

A deep method is a network with ``hash_images(x) -> h`` (continuous codes in (-1, 1); the codes
are ``sgn(h)``) and an :class:`Objective` (its loss on a :class:`Batch`, and optionally a code
update at the start of each epoch). Everything else is here, written once:

* AdamW with a linear warm-up and a half-cosine decay, gradient clipping, bf16 autocast on CUDA;
* per-image training augmentation (:mod:`plugins.deep.images`); deterministic evaluation;
* a NaN/inf guard that stops the run with one line naming the epoch, step and every loss term;
* DistributedDataParallel under ``torchrun``: equal shards, the remainder dropped so every rank
  takes the same steps; rank 0 validates and broadcasts the verdict;
* model selection on the seen-class validation task (:class:`DeepHashingMethod`), never on
  unseen classes;
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

from .images import Normalizer, build_augmentation, load_view, view_batches


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


class EpochSelector:
    """Chooses the epoch whose validation mAP, averaged over ``window`` evaluations centred on
    it, is best among the *eligible* epochs, and keeps that epoch's network state.

    Validation tasks on a few pseudo-unseen classes are noisy (±4 points between neighbouring
    epochs on digits); a window of 3 keeps a single lucky evaluation from being chosen. At the
    ends of training the window is truncated. An epoch is eligible once the network has fit its
    training classes (``add(..., eligible=...)``; the engine's ``selection_min_accuracy``): on
    digits an untrained network's codes already score 30 % on the validation task at 48 bits,
    so an epoch before the seen classes are learnt could otherwise win on noise, and such a
    network transfers worse (48 bits: 20 % test mAP after 10 epochs, 44 % after 20). When no
    epoch becomes eligible, the best of all is chosen (``fell_back``). ``stale`` counts eligible
    evaluations since the best.
    """

    def __init__(self, window: int = 1):
        if window < 1 or window % 2 == 0:
            raise ValueError(f"the selection window must be an odd number ≥ 1, not {window}")
        self.half = window // 2
        self.scores: list[tuple[int, float, bool]] = []
        self.states: list[tuple[int, dict[str, torch.Tensor]]] = []
        self.best_epoch: int | None = None
        self.best_score: float | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.fell_back = False
        self.stale = 0
        self._any: tuple[float, int, dict[str, torch.Tensor]] | None = None  # ignoring eligibility
        self._decided = 0  # evaluations whose window is complete

    def add(self, epoch: int, score: float, network: nn.Module, eligible: bool = True) -> None:
        self.scores.append((epoch, score, bool(eligible)))
        state = {k: v.detach().cpu().clone() for k, v in network.state_dict().items()}
        self.states = [*self.states[-self.half :], (epoch, state)]
        while self._decided + self.half < len(self.scores):
            self._decide(self._decided)

    def finish(self) -> None:
        while self._decided < len(self.scores):
            self._decide(self._decided)
        if self.best_state is None and self._any is not None:
            self.best_score, self.best_epoch, self.best_state = self._any
            self.fell_back = True

    def _decide(self, index: int) -> None:
        window = self.scores[max(0, index - self.half) : index + self.half + 1]
        smoothed = sum(score for _, score, _ in window) / len(window)
        epoch, _, eligible = self.scores[index]
        state = next(state for e, state in self.states if e == epoch)
        if self._any is None or smoothed > self._any[0]:
            self._any = (smoothed, epoch, state)
        self._decided += 1
        if not eligible:
            return
        if self.best_score is None or smoothed > self.best_score:
            self.best_score, self.best_epoch, self.best_state = smoothed, epoch, state
            self.stale = 0
        else:
            self.stale += 1


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
    device = torch.device(context.device)
    rank, world = context.rank, context.world_size
    network = objective.network
    objective.to(device).train()
    step_module: nn.Module = objective
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        if device.type == "cuda":  # BatchNorm statistics over the whole global batch
            nn.SyncBatchNorm.convert_sync_batchnorm(objective)
        step_module = DistributedDataParallel(
            objective,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=True,
        )
    parameters = [p for p in objective.parameters() if p.requires_grad]
    optimizer = _optimizer(parameters, settings)
    count = len(images)
    per_rank = count // world
    local_batch = max(1, settings.batch_size // world)
    steps_per_epoch = max(1, math.ceil(per_rank / local_batch))
    horizon = max(1, settings.schedule_epochs or settings.epochs)
    total_steps = steps_per_epoch * horizon
    warmup = settings.warmup_epochs * steps_per_epoch

    def schedule(step: int) -> float:  # linear warm-up, then half-cosine decay (MAE's)
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1.0, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    augment = build_augmentation(settings.augment, settings.image_size or images.shape[-1])
    generator = torch.Generator().manual_seed(context.seed * 7919 + rank + 1)
    session = Session(
        network, images, labels, normalizer, context, settings,
        classifier_trained=objective.classifier_trained,
    )  # fmt: skip
    result = TrainResult()
    selector = EpochSelector(settings.selection_window)
    last_epoch = settings.epochs
    if settings.extend_until_accuracy is not None:
        last_epoch = max(settings.epochs, horizon)
    for epoch in range(1, last_epoch + 1):
        session.epoch = epoch
        started = time.perf_counter()
        objective.start_epoch(session)
        order = torch.randperm(
            count, generator=torch.Generator().manual_seed(context.seed * 100_003 + epoch)
        )
        shard = order[: per_rank * world][rank::world]
        sums: dict[str, float] = {}
        with context.progress.task(
            f"{label} epoch {epoch}/{settings.epochs if epoch <= settings.epochs else last_epoch}",
            total=steps_per_epoch,
        ) as advance:
            for step in range(steps_per_epoch):
                index = shard[step * local_batch : (step + 1) * local_batch]
                if len(index) == 0:
                    advance(1)
                    continue
                raw = images[index]
                if augment is not None:
                    raw = augment(raw)
                batch = Batch(
                    normalizer(raw, device), labels[index].to(device), index, generator, epoch
                )
                with autocast(context.device, settings.amp):
                    parts = step_module(batch)
                loss = parts["loss"]
                if not torch.isfinite(loss):
                    terms = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in parts.items())
                    raise TrainingError(
                        f"{method}: the loss became {loss.item()} at epoch {epoch}, step "
                        f"{step + 1} ({terms})",
                        f"Lower the learning rate (--option lr=..., now {settings.lr:g}) or the "
                        "loss weights.",
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if settings.grad_clip:
                    nn.utils.clip_grad_norm_(parameters, settings.grad_clip)
                optimizer.step()
                scheduler.step()
                for key, value in parts.items():
                    sums[key] = sums.get(key, 0.0) + float(value.detach()) * len(index)
                advance(1)
        seconds = time.perf_counter() - started
        result.training_seconds += seconds
        stats = EpochStats(
            epoch, seconds, per_rank * world, {k: v / per_rank for k, v in sums.items()}
        )
        if validate is not None and (epoch % settings.eval_every == 0 or epoch == settings.epochs):
            validation_started = time.perf_counter()
            score = validate(network) if rank == 0 else 0.0
            score = _broadcast_float(score, context)
            result.validation_seconds += time.perf_counter() - validation_started
            stats.validation_map = score
            eligible = True
            if settings.selection_min_accuracy is not None:
                accuracy = _epoch_accuracy(stats, session, context)
                eligible = accuracy >= settings.selection_min_accuracy
            selector.add(epoch, score, network, eligible)
        result.history.append(stats)
        context.progress.status(
            describe_epoch(
                label, stats, settings.epochs if epoch <= settings.epochs else last_epoch
            )
        )
        if epoch >= settings.epochs:
            bar = settings.extend_until_accuracy
            if bar is None:
                break
            accuracy = _epoch_accuracy(stats, session, context)
            if accuracy >= bar:
                break
            if epoch == settings.epochs:
                context.progress.log(
                    f"{label}: training accuracy {accuracy:.3f} < {bar} after {epoch} epochs; "
                    f"training on (at most to epoch {last_epoch})"
                )
        if settings.patience is not None and selector.stale >= settings.patience:
            context.progress.status(
                f"{label}: no validation gain in {selector.stale} evaluations, stopping at "
                f"epoch {epoch}"
            )
            break
    selector.finish()
    result.no_epoch_eligible = selector.fell_back
    if selector.fell_back:
        context.progress.log(
            f"warning: {method}: the training accuracy never reached "
            f"{settings.selection_min_accuracy} in {len(result.history)} epochs; the epoch was "
            "chosen among all of them (more epochs or a higher lr would fit the seen classes)"
        )
    if selector.best_state is not None:
        network.load_state_dict(selector.best_state)
        result.best_epoch, result.best_validation_map = selector.best_epoch, selector.best_score
    elif validate is None:
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
        text += f", seen-class validation mAP {stats.validation_map:.4f}"
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
    with context.progress.task(f"encode {len(view)} images", total=len(view)) as advance:
        for positions, batch in view_batches(view, size, batch_size, stored):
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
