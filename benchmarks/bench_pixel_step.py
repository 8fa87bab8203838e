"""Training-step throughput of PIXEL beside RAZH (and HashNet), interleaved in one run.

    python benchmarks/bench_pixel_step.py [--scale cpu|paper] [--device cpu|cuda]
                                          [--rounds 7] [--steps 10] [--methods pixel,razh,hashnet]

Each method's network and objective are built exactly as a run builds them
(``resolve_settings``, ``prepare``, ``build_network``, ``build_objective`` of the registered
method) on a synthetic training side shaped like digits (``--scale cpu``: 8 px, 8 seen classes,
17 attributes, the conv-stem encoder) or CUB (``--scale paper``: ViT-B/16 at 224, random weights,
150 seen classes, 312 attributes; a GPU job). Prompt and attribute texts go through the core's
hashing encoder (no model to load). A step is forward, the method's whole loss, backward and
AdamW (bf16 autocast on CUDA, as the engine trains).

On a shared machine the load moves within seconds, so the methods are timed in ``--rounds``
round-robin rounds of ``--steps`` steps each; the table gives each method's median images/s
over the rounds and the median over rounds of its ratio to the first method's images/s in the
same round. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_epoch import synthetic_set  # noqa: E402
from benchmarks.step_timing import time_steps  # noqa: E402
from plugins.deep.engine import Batch, autocast  # noqa: E402
from zshbench.method import RunContext  # noqa: E402
from zshbench.plugin_manager import load_plugins  # noqa: E402

# (data set, seen classes, native side, attributes, batch)
GEOMETRY = {"cpu": ("digits", 8, 8, 17, 32), "paper": ("cub", 150, 224, 312, 16)}


def build_step(name: str, args, device: str):
    """A closure running one training step of ``name``, and its batch size."""
    dataset, classes, side, attributes, batch = GEOMETRY[args.scale]
    data, _ = synthetic_set(dataset, classes, 4, side, attributes, 0)
    method = load_plugins().methods.get(name).load()(args.bits, scale=args.scale, pretrained=False)
    settings = method.resolve_settings(data)
    method.settings_ = settings
    context = RunContext(device=device, seed=0, encoder="hashing")
    method.prepare(settings, data, context)
    torch.manual_seed(0)
    network, _ = method.build_network(settings, data, context)
    objective = method.build_objective(network.to(device), settings, data, len(data.labels))
    objective = objective.to(device).train()
    size = int(settings["img_size"])
    x = torch.randn(batch, 3, size, size, device=device)
    labels = torch.arange(batch, device=device) % classes
    index = torch.arange(batch)
    parameters = [p for p in objective.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, 1e-4)
    generator = torch.Generator().manual_seed(0)
    amp = device.startswith("cuda")

    def step() -> None:
        with autocast(device, amp):
            loss = objective(Batch(x, labels, index, generator, 1))["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step, batch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=tuple(GEOMETRY), default="cpu")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--methods", default="razh,pixel,hashnet")
    parser.add_argument("--bits", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args(argv)
    if args.device == "cpu":
        torch.set_num_threads(1)
    names = [n.strip() for n in args.methods.split(",") if n.strip()]
    steps = {name: build_step(name, args, args.device) for name in names}
    rates: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(args.rounds):
        for name, (step, batch) in steps.items():
            rates[name].append(batch / time_steps(step, args.steps, 2, args.device))
    print(f"device {args.device}, threads {torch.get_num_threads()}, scale {args.scale}, "
          f"{args.bits} bits, {args.rounds} rounds of {args.steps} steps")  # fmt: skip
    first = names[0]
    print(f"{'method':10} {'median img/s':>13} {'min':>8} {'max':>8} {'× ' + first:>10}")
    for name in names:
        ratio = statistics.median(a / b for a, b in zip(rates[name], rates[first], strict=True))
        values = rates[name]
        print(f"{name:10} {statistics.median(values):13.1f} {min(values):8.1f} "
              f"{max(values):8.1f} {ratio:10.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
