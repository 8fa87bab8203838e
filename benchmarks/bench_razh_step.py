"""Training-step throughput of RAZH against a plain supervised ViT step, in the same run.

    python benchmarks/bench_razh_step.py [--scale cpu|paper] [--device cpu|cuda] [--quick]

For each input geometry, the same timm ViT encoder is timed twice on random images:

* **RAZH**: one step of Eq. 16: reconstruction branch (mask ratio 0.5, whose f_x gives h),
  mixing branch (K-means, AEM, replacement) and the shared decoder, backward, AdamW;
* **supervised ViT**: forward of the whole image, a linear classifier, cross-entropy,
  backward, AdamW: the reference a reader knows the cost of.

The two steps are called in turn (A B A B ...), each timed on its own, under the scale's
``threads`` setting (one torch thread at CPU scale, as a run trains; torch's default at paper
scale). It prints images/s, milliseconds per step and peak memory (CUDA: ``max_memory_allocated``;
CPU: the process's peak resident set), with bf16 autocast on CUDA as RAZH trains there.
``--scale cpu`` times the CPU-scale geometries of digits (8 px) and cub-mini64 (64 px birds,
resized to 32 px), with the conv-stem token encoder; ``--scale paper`` is ViT-B/16 at 224
(``vit_base_patch16_224.mae`` architecture, random weights) with MAE's decoder (a GPU job).
Numbers vary with the machine and its load; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.step_timing import (  # noqa: E402
    peak_memory_mb,
    reset_peak_memory,
    supervised_step,
    time_alternating,
)
from plugins.deep.backbones import build_backbone  # noqa: E402
from plugins.deep.engine import autocast, torch_threads  # noqa: E402
from plugins.razh import config as razh_config  # noqa: E402
from plugins.razh.method import RAZH  # noqa: E402
from plugins.razh.model import AttributeEmbedding, RAZHNet  # noqa: E402
from plugins.razh.objective import razh_loss_parts  # noqa: E402
from zshbench.options import plain_defaults  # noqa: E402


def geometries(scale: str) -> list[tuple[str, str, int, int]]:
    """(label, data set, native side, batch) to time."""
    if scale == "paper":
        return [("ViT-B/16 224 (CUB)", "cub", 224, 16), ("ViT-B/16 224, batch 64", "cub", 224, 64)]
    return [("digits 8 px", "digits", 8, 32), ("cub-mini64 (32 px)", "cub-mini64", 64, 32)]


def build(scale: str, dataset: str, native: int, bits: int, classes: int, attributes: int):
    options = plain_defaults(RAZH.default_options) | {"scale": scale, "pretrained": False}
    settings = razh_config.resolve(options, dataset, bits, native)
    torch.manual_seed(0)
    encoder, _, _ = build_backbone(settings)
    sets = torch.rand(classes, attributes) < 0.3
    sets[:, 0] = True
    aem = AttributeEmbedding(
        torch.randn(attributes, 300), sets, encoder.embed_dim, int(settings["attribute_dim"])
    )
    net = RAZHNet(
        encoder, bits, classes, aem=aem,
        clusters=int(settings["clusters"]), threshold=settings["threshold"],
        replace_ratio=settings["replace_ratio"],
        decoder_dim=int(settings["decoder_dim"]), decoder_depth=int(settings["decoder_depth"]),
        decoder_heads=int(settings["decoder_heads"]),
    )  # fmt: skip
    return net, settings


def bench_geometry(
    scale: str,
    dataset: str,
    native: int,
    batch: int,
    bits: int,
    device: str,
    amp: bool,
    steps: int,
    warmup: int,
    classes: int = 150,
    attributes: int = 312,
) -> list[tuple[str, float, float]]:
    """[(step name, seconds per step, peak MB)] for the supervised ViT and the RAZH step."""
    net, settings = build(scale, dataset, native, bits, classes, attributes)
    size = int(settings["img_size"])
    net.to(device).train()
    images = torch.randn(batch, 3, size, size, device=device)
    labels = torch.randint(0, classes, (batch,), device=device)
    use = frozenset({"cls", "h", "rec"})
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)

    def razh_step():
        with autocast(device, amp):
            loss = razh_loss_parts(net, images, labels, generator, 1.0, 1.0, use)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    supervised = supervised_step(net.encoder, classes, images, labels, amp)
    pair = {"supervised ViT": supervised, "RAZH (Eq. 16)": razh_step}
    peaks = {}
    for name, step in pair.items():  # peak memory of each step alone, one untimed call
        reset_peak_memory(device)
        step()
        peaks[name] = peak_memory_mb(device)
    with torch_threads(threads_of(settings), device):
        seconds = time_alternating(pair, steps, warmup, device)
    return [(name, seconds[name], peaks[name]) for name in pair]


def threads_of(settings: dict) -> int | None:
    """The torch threads a run of this scale uses on a CPU (its ``threads`` setting; None:
    torch's default), so the step is timed as a run takes it."""
    threads = settings.get("threads")
    return None if threads is None else int(threads)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=("cpu", "paper"), default="cpu")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--bits", type=int, default=64)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--batch", type=int, default=None, help="override every batch size")
    parser.add_argument("--quick", action="store_true", help="few steps (a smoke run)")
    parser.add_argument("--no-amp", action="store_true", help="fp32 on CUDA")
    args = parser.parse_args(argv)
    device, amp = args.device, not args.no_amp
    steps = args.steps or (2 if args.quick else 20)
    warmup = 1 if args.quick else 3
    print(f"device {device}, torch {torch.__version__}, threads: the scale's "
          f"({args.scale}; torch's default here {torch.get_num_threads()}), A B alternating, "
          f"bf16 autocast {'on' if amp and device.startswith('cuda') else 'off'}, "
          f"{args.bits} bits, {steps} timed steps")  # fmt: skip
    print(f"{'geometry':28} {'step':16} {'batch':>5} {'ms/step':>9} {'img/s':>9} {'peak MB':>9}")
    for label, dataset, native, batch in geometries(args.scale):
        if args.batch:
            batch = args.batch
        elif args.quick:
            batch = min(batch, 8)
        for name, seconds, peak in bench_geometry(
            args.scale, dataset, native, batch, args.bits, device, amp, steps, warmup
        ):
            print(f"{label:28} {name:16} {batch:5d} {seconds * 1000:9.1f} "
                  f"{batch / seconds:9.1f} {peak:9.0f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
