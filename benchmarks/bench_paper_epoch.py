"""One real training epoch of every deep method at paper scale on a synthetic CUB-shaped set.

    python benchmarks/bench_paper_epoch.py [--device cuda] [--methods deep,razh]
                                           [--classes 150] [--per-class 12] [--vectors F.npy]

Each method is looked up in the installed plugins (the entry points a run uses), built with
``scale=paper`` (ViT-B/16 at 224, bf16 autocast on CUDA, the method's own paper-scale
defaults) but random weights (``pretrained=False``: nothing can be downloaded on a lent GPU),
and fitted by the engine exactly as a run fits it, with ``selection=none, epochs=1``: one epoch
on all seen classes (RAZH: ``pretrain_epochs=1``, so its warm-up stage runs too). Then it
encodes a query and a database set and evaluates mAP on the same device, as the runner does.

The set is CUB-shaped: ``--classes`` seen classes (CUB's proposed split has 150), 224 px
images of random pixels, the data set's 312 attributes (continuous class-attribute matrix
0–100 as in CUB's ``class_attribute_labels_continuous.txt``); attribute text vectors from a
``.npy`` with one row per attribute (e.g. ../shared/data/word-vectors/cub_attributes_glove300.npy)
or, without one, the core's hashing encoder. DRMH gets a randomly initialised torchvision
Faster R-CNN saved to a temporary file, unless ``--detector-weights`` names one.

Prints per method: epoch seconds, warm-up seconds, images/s (the engine's own figure), peak
memory (CUDA ``max_memory_allocated``; CPU: the process's peak resident set), encoding images/s
and the mAP on the random set (near chance: a smoke check that encoding and evaluation ran, not
a result). A failing method prints its error and the others go on. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.step_timing import peak_memory_mb, reset_peak_memory  # noqa: E402
from zshbench.datasets.base import ArrayImageSource  # noqa: E402
from zshbench.evaluation import evaluate  # noqa: E402
from zshbench.method import ImageView, RunContext, TrainData  # noqa: E402
from zshbench.plugin_manager import load_plugins  # noqa: E402
from zshbench.runner import expand_methods  # noqa: E402

ATTRIBUTES = 312  # CUB's attributes.txt


def synthetic_cub(classes: int, per_class: int, side: int, seed: int) -> tuple[TrainData, dict]:
    """A CUB-shaped training side and a small query/database set, random pixels."""
    rng = np.random.default_rng(seed)
    n = classes * per_class
    images = rng.integers(0, 256, size=(n, side, side, 3), dtype=np.uint8)
    labels = np.repeat(np.arange(classes), per_class)
    attributes = rng.uniform(0, 100, size=(classes, ATTRIBUTES)) * (
        rng.random((classes, ATTRIBUTES)) < 0.3
    )
    data = TrainData(
        images=ImageView(ArrayImageSource(images), np.arange(n), labels),
        labels=labels,
        class_names=[f"{i + 1:03d}.Synthetic_bird_{i}" for i in range(classes)],
        attribute_names=[f"has_part_{i}::colour_{i % 15}" for i in range(ATTRIBUTES)],
        class_attributes=attributes,
        binary_class_attributes=(attributes > 50).astype(np.float64),
        validation=None,
        dataset="cub",
    )
    test_n = min(n, 512)
    test_images = rng.integers(0, 256, size=(test_n, side, side, 3), dtype=np.uint8)
    test = {
        "view": ImageView(ArrayImageSource(test_images), np.arange(test_n)),
        "labels": rng.integers(0, 50, size=test_n),
    }
    return data, test


def random_detector(folder: Path) -> Path:
    """A randomly initialised torchvision Faster R-CNN (ResNet-50 FPN) saved as a state dict."""
    import torchvision

    model = torchvision.models.detection.fasterrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, num_classes=91
    )
    path = folder / "fasterrcnn_resnet50_fpn-random.pt"
    torch.save(model.state_dict(), path)
    return path


def one_method(name, spec, args, data, test, context, detector: Path | None) -> dict:
    options = {"scale": "paper", "pretrained": False, "selection": "none", "epochs": 1}
    if args.model:
        options["model"] = args.model
    if args.batch:
        options["batch_size"] = args.batch
    cls = spec.load()
    if "pretrain_epochs" in cls.default_options:
        options["pretrain_epochs"] = 1
    if "detector_weights" in cls.default_options:
        options["detector_weights"] = str(detector)
    if "semantics" in cls.default_options:  # class vectors: the attribute matrix, no names
        options["semantics"] = "attributes"
    method = cls(args.bits, **options)
    reset_peak_memory(context.device)
    started = time.perf_counter()
    method.fit(data, context)
    fit_s = time.perf_counter() - started
    peak = peak_memory_mb(context.device)
    training = getattr(method, "training_", {}) or {}
    phases = method.phase_seconds() if hasattr(method, "phase_seconds") else {}
    started = time.perf_counter()
    codes = method.encode(test["view"], context)
    encode_s = time.perf_counter() - started
    half = len(codes) // 2
    scores = evaluate(
        codes[:half], test["labels"][:half], codes[half:], test["labels"][half:],
        topk=min(5000, len(codes) - half), device=context.device,
    )  # fmt: skip
    map_key = next(k for k in scores if str(k).startswith("map@"))
    return {
        "fit_s": fit_s,
        "warmup_s": phases.get("warmup_s", 0.0),
        "epoch_s": training.get("seconds_per_epoch", float("nan")),
        "img_s": training.get("images_per_second", float("nan")),
        "peak_mb": peak,
        "encode_img_s": len(codes) / encode_s,
        "map": float(scores[map_key]),
        "loss": training.get("final_losses", {}).get("loss", float("nan")),
        "batch": method.settings_.get("batch_size") if hasattr(method, "settings_") else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--methods", default="deep", help="names or families (deep: all)")
    parser.add_argument("--bits", type=int, default=64)
    parser.add_argument("--classes", type=int, default=150)
    parser.add_argument("--per-class", type=int, default=12)
    parser.add_argument("--side", type=int, default=224, help="synthetic images' side")
    parser.add_argument("--model", default=None, help="timm name (default: the paper's)")
    parser.add_argument("--batch", type=int, default=None, help="override the batch size")
    parser.add_argument("--vectors", default=None, help=".npy of 312 attribute text vectors")
    parser.add_argument("--detector-weights", default=None)
    parser.add_argument("--csv", default=None, help="also write the table here")
    args = parser.parse_args(argv)

    plugins = load_plugins()
    names = expand_methods(args.methods, plugins)
    data, test = synthetic_cub(args.classes, args.per_class, args.side, seed=0)
    encoder, encoder_options = ("hashing", {})
    if args.vectors:
        encoder, encoder_options = ("vectors-file", {"path": args.vectors})
    context = RunContext(
        device=args.device, seed=0, encoder=encoder, encoder_options=encoder_options
    )
    print(
        f"device {args.device}"
        + (f" ({torch.cuda.get_device_name()})" if args.device.startswith("cuda") else "")
        + f", torch {torch.__version__}, {len(data.labels)} training images of "
        f"{args.classes} classes at {args.side} px, {args.bits} bits, text vectors: {encoder}",
        flush=True,
    )
    header = (
        f"{'method':10} {'batch':>5} {'fit s':>7} {'warm-up s':>9} {'epoch s':>8} "
        f"{'img/s':>7} {'peak MB':>8} {'enc img/s':>9} {'loss':>8} {'mAP':>6}"
    )
    print(header, flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        detector = Path(args.detector_weights) if args.detector_weights else None
        for name in names:
            try:
                cls = plugins.methods.get(name)
                if detector is None and "detector_weights" in cls.load().default_options:
                    detector = random_detector(Path(folder))
                row = one_method(name, cls, args, data, test, context, detector)
            except Exception as error:  # noqa: BLE001 - report and go on to the next method
                print(f"{name:10} FAILED: {type(error).__name__}: {error}", flush=True)
                traceback.print_exc(limit=4)
                rows.append({"method": name, "error": f"{type(error).__name__}: {error}"})
                continue
            rows.append({"method": name, **row})
            print(
                f"{name:10} {row['batch'] or 0:5d} {row['fit_s']:7.1f} {row['warmup_s']:9.1f} "
                f"{row['epoch_s']:8.1f} {row['img_s']:7.1f} {row['peak_mb']:8.0f} "
                f"{row['encode_img_s']:9.1f} {row['loss']:8.4f} {row['map']:6.3f}",
                flush=True,
            )
    if args.csv:
        import pandas as pd

        pd.DataFrame(rows).to_csv(args.csv, index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
