"""What the training-step benchmarks share: timing steps on a device, peak memory, and the
reference a reader knows the cost of (a supervised step of the same encoder).

Peak memory is CUDA's ``max_memory_allocated`` since the last :func:`reset_peak_memory` on a
GPU; on a CPU it is the process's peak resident set, which only grows (so a later row includes
an earlier one's high-water mark).
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from plugins.deep.engine import autocast


def on_cuda(device: str) -> bool:
    return str(device).startswith("cuda")


def reset_peak_memory(device: str) -> None:
    if on_cuda(device):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_memory_mb(device: str) -> float:
    if on_cuda(device):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def time_steps(step: Callable[[], None], steps: int, warmup: int, device: str) -> float:
    """Seconds per call of ``step`` after ``warmup`` untimed calls (CUDA: synchronised)."""
    for _ in range(warmup):
        step()
    if on_cuda(device):
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    if on_cuda(device):
        torch.cuda.synchronize()
    return (time.perf_counter() - started) / steps


def time_alternating(
    steps: dict[str, Callable[[], None]], rounds: int, warmup: int, device: str
) -> dict[str, float]:
    """Seconds per call of each step, the steps called in turn (A B A B ...): a machine's
    drift in load or clock then falls on every step alike instead of on whichever ran last.
    Each call is timed on its own (CUDA: synchronised before and after)."""
    for _ in range(warmup):
        for step in steps.values():
            step()
    totals = dict.fromkeys(steps, 0.0)
    for _ in range(rounds):
        for name, step in steps.items():
            if on_cuda(device):
                torch.cuda.synchronize()
            started = time.perf_counter()
            step()
            if on_cuda(device):
                torch.cuda.synchronize()
            totals[name] += time.perf_counter() - started
    return {name: total / max(1, rounds) for name, total in totals.items()}


def supervised_step(
    encoder: nn.Module, classes: int, images: torch.Tensor, labels: torch.Tensor, amp: bool
) -> Callable[[], None]:
    """One step of the encoder's mean token → linear classifier → cross-entropy, AdamW."""
    device = str(images.device)
    head = nn.Linear(encoder.embed_dim, classes).to(images.device)
    optimizer = torch.optim.AdamW(list(encoder.parameters()) + list(head.parameters()), 1e-4)

    def step() -> None:
        with autocast(device, amp):
            logits = head(encoder.forward_features(images).mean(1))
            loss = F.cross_entropy(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step
