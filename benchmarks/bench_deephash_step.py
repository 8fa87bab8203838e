"""Training-step throughput of the deep baselines against a plain supervised ViT step, in one run.

    python benchmarks/bench_deephash_step.py [--scale cpu|paper] [--device cpu|cuda] [--quick]
                                             [--methods dsh,dpsh,...]

Each method's own network (the engine's backbone and hash layer, the paper's output layer) and
objective are built as a run builds them (``DeepHashingMethod.resolve_settings``,
``build_network``, ``build_objective``) and timed on random images: forward, the method's loss,
backward, AdamW, with bf16 autocast on CUDA as the engine trains there. The reference is a
supervised step of the same encoder (linear classifier, cross-entropy): the cost a reader knows.
Methods with a per-epoch code update (DSDH's W-step and DCC) print its time for a training set
of ``--images`` images separately (it runs once per epoch, not per step).

``--scale cpu`` is digits' geometry (8 px, the conv-stem encoder); ``--scale paper`` is
ViT-B/16 at 224 (random weights), a CUB-shaped set of 150 seen classes (a GPU job). Prints
images/s, ms/step and peak memory (CUDA: ``max_memory_allocated``; CPU: the process's peak
resident set, which only grows). Numbers vary with the machine and its load; nothing is asserted.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.step_timing import (  # noqa: E402
    peak_memory_mb,
    reset_peak_memory,
    supervised_step,
    time_steps,
)
from plugins.deep.engine import Batch, autocast  # noqa: E402
from zshbench.datasets.base import ArrayImageSource  # noqa: E402
from zshbench.method import ImageView, RunContext  # noqa: E402

METHODS = {
    "dsh": "dsh:DSH",
    "dpsh": "dpsh:DPSH",
    "dsdh": "dsdh:DSDH",
    "dch": "dch:DCH",
    "hashnet": "hashnet:HashNet",
    "csq": "csq:CSQ",
}


def geometry(scale: str) -> tuple[str, int, int, int]:
    """(data set, native side, batch, seen classes)."""
    return ("cub", 224, 16, 150) if scale == "paper" else ("digits", 8, 32, 7)


def method_class(name: str) -> type:
    module, cls = METHODS[name].split(":")
    return getattr(importlib.import_module(f"plugins.deephash.{module}"), cls)


def build(name: str, scale: str, bits: int, images: int, device: str):
    """(method, network, objective, settings) exactly as a run builds them, on random weights."""
    dataset, side, _, classes = geometry(scale)
    method = method_class(name)(bits, scale=scale, pretrained=False)
    view = ImageView(ArrayImageSource(np.zeros((1, side, side, 3), np.uint8)), [0])
    data = SimpleNamespace(dataset=dataset, images=view, num_classes=classes)
    settings = method.resolve_settings(data)
    context = RunContext(device=device, seed=0)
    method.prepare(settings, data, context)
    torch.manual_seed(0)
    network, _ = method.build_network(settings, data, context)
    objective = method.build_objective(network.to(device), settings, data, images)
    return method, network, objective.to(device), settings


def prime_codes(objective, images: int, classes: int, bits: int, device: str) -> None:
    """Give a memory-based objective (DPSH, DSDH) the state its first epoch would leave."""
    labels = torch.arange(images) % classes
    outputs = torch.randn(images, bits)
    if hasattr(objective, "memory"):
        objective.labels = labels
        objective.memory.fill(outputs)
        objective.memory.to(device)
    if hasattr(objective, "codes"):
        objective.codes = torch.where(outputs >= 0, 1.0, -1.0)
        objective.update_codes()


def bench(name: str, args, device: str, amp: bool):
    """[(step, seconds per step, peak MB, code update seconds or None)]."""
    _, side, batch, classes = geometry(args.scale)
    batch = args.batch or batch
    method, network, objective, settings = build(name, args.scale, args.bits, args.images, device)
    size = int(settings["img_size"])
    prime_codes(objective, args.images, classes, args.bits, device)
    update = None
    if hasattr(objective, "update_codes"):
        started = time.perf_counter()
        objective.update_codes()
        update = time.perf_counter() - started
    objective.train()
    x = torch.randn(batch, 3, size, size, device=device)
    labels = torch.randint(0, classes, (batch,), device=device)
    index = torch.arange(batch) % args.images
    optimizer = torch.optim.AdamW([p for p in objective.parameters() if p.requires_grad], 1e-4)
    generator = torch.Generator().manual_seed(0)

    def step():
        with autocast(device, amp):
            loss = objective(Batch(x, labels, index, generator, 1))["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    reset_peak_memory(device)
    seconds = time_steps(step, args.steps, args.warmup, device)
    return batch, seconds, peak_memory_mb(device), update


def bench_supervised(args, device: str, amp: bool):
    _, _, batch, classes = geometry(args.scale)
    batch = args.batch or batch
    _, network, _, settings = build("dch", args.scale, args.bits, args.images, device)
    size = int(settings["img_size"])
    x = torch.randn(batch, 3, size, size, device=device)
    labels = torch.randint(0, classes, (batch,), device=device)
    step = supervised_step(network.encoder.train(), classes, x, labels, amp)
    reset_peak_memory(device)
    return batch, time_steps(step, args.steps, args.warmup, device), peak_memory_mb(device), None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=("cpu", "paper"), default="cpu")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--bits", type=int, default=64)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--images", type=int, default=None, help="training-set size (memory)")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="few steps (a smoke run)")
    parser.add_argument("--no-amp", action="store_true", help="fp32 on CUDA")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.methods.split(",") if n.strip()]
    unknown = sorted(set(names) - set(METHODS))
    if unknown:
        parser.error(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    device, amp = args.device, not args.no_amp
    args.steps = args.steps or (2 if args.quick else 20)
    args.warmup = 1 if args.quick else 3
    args.images = args.images or (8855 if args.scale == "paper" else 400)
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"bf16 autocast {'on' if amp and device.startswith('cuda') else 'off'}, scale "
          f"{args.scale}, {args.bits} bits, {args.images} training images, "
          f"{args.steps} timed steps")  # fmt: skip
    print(f"{'step':16} {'batch':>5} {'ms/step':>9} {'img/s':>9} {'peak MB':>9} "
          f"{'code update s':>14}")  # fmt: skip
    rows = [("supervised ViT", bench_supervised(args, device, amp))]
    rows += [(name, bench(name, args, device, amp)) for name in names]
    for name, (batch, seconds, peak, update) in rows:
        update_text = f"{update:14.2f}" if update is not None else f"{'':>14}"
        print(f"{name:16} {batch:5d} {seconds * 1000:9.1f} {batch / seconds:9.1f} {peak:9.0f} "
              f"{update_text}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
