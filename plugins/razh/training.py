"""Training RAZH: the loss of Eq. 16 per batch, AdamW, epochs, validation, data parallelism.

One training step draws its own random masks and K-means starts from a seeded generator (per
seed, epoch and process), so a run is reproducible. Under ``torchrun`` every process takes an
equal shard of each epoch's shuffled order (the remainder is dropped so all processes make the
same number of steps) and ``DistributedDataParallel`` averages the gradients; validation runs on
rank 0 and its verdict is broadcast.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zshbench.errors import TrainingError
from zshbench.method import ImageView, RunContext

from .losses import (
    classification_loss,
    hash_alignment_loss,
    pairwise_hash_loss,
    reconstruction_loss,
    total_loss,
)
from .model import RAZHNet

LOSS_TERMS = ("cls", "h", "rec")


def parse_losses(text: str) -> frozenset[str]:
    """``"cls+h+rec"`` → {"cls", "h", "rec"} (Table IV's subsets), with a clear error."""
    terms = frozenset(part.strip() for part in str(text).split("+") if part.strip())
    unknown = terms - set(LOSS_TERMS)
    if not terms or unknown:
        raise ValueError(
            f"losses must be '+'-joined terms of {', '.join(LOSS_TERMS)} (e.g. cls+h+rec), "
            f"not {text!r}"
        )
    return terms


# --------------------------------------------------------------------------- images


def images_to_uint8(images: Sequence[np.ndarray], size: int) -> torch.Tensor:
    """(N, 3, size, size) uint8 of (H, W, C) images: alpha dropped, gray → RGB, resized."""
    from PIL import Image

    from plugins.extractors import _drop_alpha, _resize

    out = np.empty((len(images), size, size, 3), dtype=np.uint8)
    for i, image in enumerate(images):
        image = _drop_alpha(np.asarray(image))
        image = _resize(image, (size, size), Image.Resampling.BICUBIC)
        out[i] = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def load_view(view: ImageView, size: int, context: RunContext, what: str) -> torch.Tensor:
    """All images of ``view`` as one uint8 tensor (training sets are kept in memory)."""
    chunks = []
    with context.progress.task(f"load {what} ({len(view)} images)", total=len(view)) as advance:
        for _positions, batch in view.batches(512):
            chunks.append(images_to_uint8(batch, size))
            advance(len(batch))
    if not chunks:
        return torch.zeros((0, 3, size, size), dtype=torch.uint8)
    return torch.cat(chunks)


class Normalizer:
    """uint8 → the model's input scale (the timm model's mean and std)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)

    def __call__(self, images: torch.Tensor, device: torch.device | str) -> torch.Tensor:
        x = images.to(device, non_blocking=True).float().div_(255.0)
        if self.mean.device != x.device:  # moved once, not on every batch
            self.mean, self.std = self.mean.to(x.device), self.std.to(x.device)
        return (x - self.mean) / self.std


@torch.no_grad()
def encode_view(
    net: RAZHNet,
    view: ImageView,
    size: int,
    normalizer: Normalizer,
    context: RunContext,
    batch_size: int,
    amp: bool,
    cache: dict[tuple[int, bytes], torch.Tensor] | None = None,
) -> np.ndarray:
    """b = sgn(h) of the whole images of ``view`` (Eq. 8), in {-1, +1}, deterministic.

    With ``cache`` the view's decoded images are kept between calls (the validation views are
    encoded after every epoch; decoding their JPEGs again each time would dominate).
    """
    was_training = net.training
    net.eval()
    codes = []
    key = (id(view.source), view.indices.tobytes())
    if cache is not None and key not in cache:
        cache[key] = load_view(view, size, context, "validation images")
    stored = cache.get(key) if cache is not None else None
    with context.progress.task(f"encode {len(view)} images", total=len(view)) as advance:
        for positions, batch in _batches(view, size, batch_size, stored):
            x = normalizer(batch, context.device)
            with autocast(context.device, amp):
                h = net.hash_images(x)
            codes.append(torch.where(h.float() >= 0, 1, -1).to(torch.int8).cpu().numpy())
            advance(len(positions))
    net.train(was_training)
    return np.concatenate(codes) if codes else np.zeros((0, net.hash_layer.out_features), np.int8)


def _batches(view: ImageView, size: int, batch_size: int, stored: torch.Tensor | None):
    """(positions, uint8 batch) of a view, from memory when it is cached."""
    if stored is not None:
        for start in range(0, len(stored), batch_size):
            stop = min(start + batch_size, len(stored))
            yield range(start, stop), stored[start:stop]
        return
    for positions, images in view.batches(batch_size):
        yield positions, images_to_uint8(images, size)


def autocast(device: str, enabled: bool):
    """bf16 autocast on CUDA when enabled; a no-op context elsewhere (CPU trains in fp32)."""
    on_cuda = str(device).startswith("cuda")
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=bool(enabled and on_cuda))


# --------------------------------------------------------------------------- objective


class Objective(nn.Module):
    """RAZHNet + Eq. 16 in one module, so DistributedDataParallel can wrap the whole step."""

    def __init__(self, net: RAZHNet, alpha: float, beta: float, losses: frozenset[str]):
        super().__init__()
        self.net = net
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.losses = losses

    def forward(
        self, images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator | None
    ) -> dict[str, torch.Tensor]:
        out = self.net(images, labels, generator)
        similar = labels[:, None] == labels[None, :]
        parts = {
            "cls": classification_loss(out.logits, labels),
            "h": pairwise_hash_loss(out.h, similar),
            "r": reconstruction_loss(out.reconstruction, out.target, out.masked),
        }
        if out.h_aux is not None:
            parts["r"] = parts["r"] + reconstruction_loss(
                out.aux_reconstruction, out.target, out.aux_selected
            )
            parts["hal"] = hash_alignment_loss(out.h_aux, out.h)
        parts["loss"] = total_loss(parts, self.alpha, self.beta, self.losses)
        if out.mixing is not None:
            parts["replaced"] = out.mixing.replaced.float().mean().detach()
        return parts


@dataclass
class EpochStats:
    epoch: int
    seconds: float
    images: int
    losses: dict[str, float]
    validation_map: float | None = None

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else float("nan")


@dataclass
class TrainSettings:
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_epochs: float = 1.0
    grad_clip: float | None = 1.0
    hflip: bool = False
    amp: bool = True
    eval_every: int = 1
    patience: int | None = None


@dataclass
class TrainResult:
    history: list[EpochStats] = field(default_factory=list)
    best_epoch: int | None = None
    best_validation_map: float | None = None


def _broadcast_float(value: float, context: RunContext) -> float:
    if not context.distributed:
        return value
    import torch.distributed as dist

    tensor = torch.tensor([value], dtype=torch.float64, device=_comm_device(context))
    dist.broadcast(tensor, src=0)
    return float(tensor.item())


def _comm_device(context: RunContext) -> str:
    return context.device if str(context.device).startswith("cuda") else "cpu"


def train(
    net: RAZHNet,
    images: torch.Tensor,
    labels: torch.Tensor,
    normalizer: Normalizer,
    objective_args: dict[str, Any],
    settings: TrainSettings,
    context: RunContext,
    validate: Callable[[RAZHNet], float] | None = None,
    label: str = "train",
) -> TrainResult:
    """Train ``net`` on uint8 ``images`` for ``settings.epochs``; keep the best-validated state.

    With ``validate`` (called on rank 0 every ``eval_every`` epochs; higher is better) the
    network ends in the state of its best validated epoch, and training stops early after
    ``patience`` evaluations without improvement.
    """
    device = torch.device(context.device)
    rank, world = context.rank, context.world_size
    net.to(device).train()
    objective: nn.Module = Objective(net, **objective_args)
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        objective = DistributedDataParallel(
            objective,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=True,
        )
    parameters = [p for p in net.parameters() if p.requires_grad]
    decay = [p for p in parameters if p.ndim > 1]
    no_decay = [p for p in parameters if p.ndim <= 1]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": settings.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=settings.lr,
        betas=settings.betas,
    )
    count = len(images)
    per_rank = count // world
    local_batch = max(1, settings.batch_size // world)
    steps_per_epoch = max(1, math.ceil(per_rank / local_batch))
    total_steps = steps_per_epoch * max(1, settings.epochs)
    warmup = settings.warmup_epochs * steps_per_epoch

    def schedule(step: int) -> float:  # linear warm-up, then half-cosine decay (MAE's)
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1.0, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    generator = torch.Generator().manual_seed(context.seed * 7919 + rank + 1)
    result = TrainResult()
    best_state: dict[str, torch.Tensor] | None = None
    stale = 0
    for epoch in range(1, settings.epochs + 1):
        order = torch.randperm(
            count, generator=torch.Generator().manual_seed(context.seed * 100_003 + epoch)
        )
        shard = order[: per_rank * world][rank::world]
        sums: dict[str, float] = {}
        started = time.perf_counter()
        with context.progress.task(f"{label} epoch {epoch}", total=steps_per_epoch) as advance:
            for step in range(steps_per_epoch):
                index = shard[step * local_batch : (step + 1) * local_batch]
                if len(index) == 0:
                    advance(1)
                    continue
                x = normalizer(images[index], device)
                if settings.hflip:
                    flip = (torch.rand(len(index), generator=generator) < 0.5).to(device)
                    x[flip] = x[flip].flip(-1)
                y = labels[index].to(device)
                with autocast(context.device, settings.amp):
                    parts = objective(x, y, generator)
                loss = parts["loss"]
                if not torch.isfinite(loss):
                    raise TrainingError(
                        f"RAZH: the loss became {loss.item()} at epoch {epoch}, step {step + 1} "
                        f"({', '.join(f'{k}={v.item():.4g}' for k, v in parts.items())})",
                        f"Lower the learning rate (--option lr=..., now {settings.lr:g}) or "
                        "alpha/beta.",
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
        seen = per_rank
        stats = EpochStats(epoch, seconds, seen * world, {k: v / seen for k, v in sums.items()})
        if validate is not None and (epoch % settings.eval_every == 0 or epoch == settings.epochs):
            score = validate(net) if rank == 0 else 0.0
            score = _broadcast_float(score, context)
            stats.validation_map = score
            if result.best_validation_map is None or score > result.best_validation_map:
                result.best_validation_map, result.best_epoch = score, epoch
                best_state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
                stale = 0
            else:
                stale += 1
        result.history.append(stats)
        context.progress.log(_describe(label, stats))
        if settings.patience is not None and stale >= settings.patience:
            context.progress.log(
                f"{label}: no validation gain in {stale} evaluations, stopping at epoch {epoch}"
            )
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    elif validate is None:
        result.best_epoch = len(result.history)
    net.eval()
    return result


def _describe(label: str, stats: EpochStats) -> str:
    terms = " ".join(f"{k}={v:.4f}" for k, v in stats.losses.items())
    text = (
        f"{label} epoch {stats.epoch}: {terms} ({stats.seconds:.1f} s, "
        f"{stats.images_per_second:.0f} img/s)"
    )
    if stats.validation_map is not None:
        text += f", seen-class validation mAP {stats.validation_map:.4f}"
    return text


def supervised_finetune(
    net: RAZHNet,
    images: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    normalizer: Normalizer,
    settings: TrainSettings,
    context: RunContext,
) -> list[EpochStats]:
    """RAZH-F: fine-tune the encoder with class supervision (cross-entropy on the seen classes,
    through a temporary linear head on the pooled feature) before RAZH's own training."""
    device = torch.device(context.device)
    net.to(device).train()
    head = nn.Linear(net.encoder.embed_dim, num_classes).to(device)
    parameters = list(net.encoder.parameters()) + list(head.parameters())
    optimizer = torch.optim.AdamW(
        parameters, lr=settings.lr, betas=settings.betas, weight_decay=settings.weight_decay
    )
    history = []
    generator = torch.Generator().manual_seed(context.seed + 12345)
    for epoch in range(1, settings.epochs + 1):
        order = torch.randperm(len(images), generator=generator)
        started, total = time.perf_counter(), 0.0
        for start in range(0, len(order), settings.batch_size):
            index = order[start : start + settings.batch_size]
            x = normalizer(images[index], device)
            with autocast(context.device, settings.amp):
                features = net.pooled(net.encode_tokens(net.patch_tokens(x)))
                loss = F.cross_entropy(head(features).float(), labels[index].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(index)
        stats = EpochStats(
            epoch, time.perf_counter() - started, len(images), {"ce": total / len(images)}
        )
        history.append(stats)
        context.progress.log(_describe("class-supervised fine-tuning", stats))
    return history
