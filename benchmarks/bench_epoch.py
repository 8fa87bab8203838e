"""Real training epochs of every deep method through the engine, per method: images/s, memory.

    python benchmarks/bench_epoch.py --scale paper [--device cuda] [--methods deep]
                                     [--classes 150] [--per-class 20] [--vectors F.npy]
    python benchmarks/bench_epoch.py --scale cpu [--epochs 3]

Each method is looked up in the installed plugins (the entry points a run uses), built with
the chosen scale's defaults and its own, and fitted by the engine exactly as a run fits it, with
``selection=none``: ``--epochs`` epochs on all seen classes (RAZH's warm-up stage runs one
epoch). Then it encodes a query and a database set and evaluates mAP on the same device, as the
runner does. Nothing but the images is invented: the same code trains as in a run.

* ``--scale paper`` (a GPU job): ViT-B/16 at 224, bf16 autocast on CUDA, random weights
  (``pretrained=False``: nothing can be downloaded on a lent GPU), one epoch on a CUB-shaped set:
  ``--classes`` seen classes (CUB's proposed split has 150), 224 px images of random pixels,
  CUB's 312 attributes (a continuous 0–100 class-attribute matrix, as CUB's
  ``class_attribute_labels_continuous.txt``). Attribute text vectors come from a ``.npy`` with
  one row per attribute (e.g. ../shared/data/word-vectors/cub_attributes_glove300.npy) or,
  without one, the core's hashing encoder.
* ``--scale cpu``: the CPU-scale encoder on a digits-shaped set (8 px, 8 seen classes of 50
  images, 17 binary attributes), three epochs: the training throughput of each method on one
  thread, the figure the leaderboard runs' records report, without other runs sharing the cores.

SitNet's class vectors are the attribute rows (``semantics=attributes``). DRMH gets a randomly
initialised torchvision Faster R-CNN saved to a temporary file, unless ``--detector-weights``
names one. Prints per method: fit seconds, warm-up seconds, seconds per epoch, images/s (the
engine's own figure), the bare step's and the loader's images/s on the same batches (the record's
``input_pipeline``, :mod:`plugins.deep.loader`) and the epoch's rate as a share of the step's
(``ep/step``: 100 % when nothing but the steps costs time), peak memory (CUDA
``max_memory_allocated``; CPU: the process's peak resident set, which only grows), encoding
images/s and the mAP on the random set (near chance: a check that encoding and evaluation ran,
not a result). A failing method prints its error and the others go on. Nothing is asserted.
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

# (data set whose defaults apply, seen classes, images per class, side, attributes, epochs)
GEOMETRY = {"paper": ("cub", 150, 20, 224, 312, 1), "cpu": ("digits", 8, 50, 8, 17, 3)}


def synthetic_set(
    dataset: str, classes: int, per_class: int, side: int, attributes: int, seed: int
) -> tuple[TrainData, dict]:
    """A training side shaped like ``dataset``'s and a small query/database set, random pixels."""
    rng = np.random.default_rng(seed)
    n = classes * per_class
    images = rng.integers(0, 256, size=(n, side, side, 3), dtype=np.uint8)
    labels = np.repeat(np.arange(classes), per_class)
    matrix = rng.uniform(0, 100, size=(classes, attributes)) * (
        rng.random((classes, attributes)) < 0.3
    )
    matrix[np.arange(classes), np.arange(classes) % attributes] = 100.0  # none all-zero
    data = TrainData(
        images=ImageView(ArrayImageSource(images), np.arange(n), labels),
        labels=labels,
        class_names=[f"{i + 1:03d}.Synthetic_class_{i}" for i in range(classes)],
        attribute_names=[f"has_part_{i}::colour_{i % 15}" for i in range(attributes)],
        class_attributes=matrix,
        binary_class_attributes=(matrix > 50).astype(np.float64),
        validation=None,
        dataset=dataset,
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
    options = {"scale": args.scale, "pretrained": False, "selection": "none", "epochs": args.epochs}
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
    rates = training.get("input_pipeline") or {}
    step_rate = rates.get("step_img_s") or float("nan")
    return {
        "step_img_s": step_rate,
        "loader_img_s": rates.get("loader_img_s") or float("nan"),
        "epoch_to_step": training.get("images_per_second", float("nan")) / step_rate,
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
    parser.add_argument("--scale", choices=tuple(GEOMETRY), default="paper")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--methods", default="deep", help="names or families (deep: all)")
    parser.add_argument("--bits", type=int, default=64)
    parser.add_argument("--classes", type=int, default=None, help="seen classes")
    parser.add_argument("--per-class", type=int, default=None, help="training images per class")
    parser.add_argument("--side", type=int, default=None, help="synthetic images' side")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--model", default=None, help="timm name (default: the paper's)")
    parser.add_argument("--batch", type=int, default=None, help="override the batch size")
    parser.add_argument("--vectors", default=None, help=".npy of 312 attribute text vectors")
    parser.add_argument("--detector-weights", default=None)
    parser.add_argument("--csv", default=None, help="also write the table here")
    args = parser.parse_args(argv)
    dataset, classes, per_class, side, attributes, epochs = GEOMETRY[args.scale]
    args.classes = args.classes or classes
    args.per_class = args.per_class or per_class
    args.side = args.side or side
    args.epochs = args.epochs or epochs

    plugins = load_plugins()
    names = expand_methods(args.methods, plugins)
    data, test = synthetic_set(dataset, args.classes, args.per_class, args.side, attributes, 0)
    encoder, encoder_options = ("hashing", {})
    if args.vectors:
        encoder, encoder_options = ("vectors-file", {"path": args.vectors})
    context = RunContext(
        device=args.device, seed=0, encoder=encoder, encoder_options=encoder_options
    )
    print(
        f"device {args.device}"
        + (f" ({torch.cuda.get_device_name()})" if args.device.startswith("cuda") else "")
        + f", torch {torch.__version__}, threads {torch.get_num_threads()}, scale {args.scale}, "
        f"{args.epochs} epoch(s) of {len(data.labels)} {dataset}-shaped images of "
        f"{args.classes} classes at {args.side} px, {args.bits} bits, text vectors: {encoder}",
        flush=True,
    )
    header = (
        f"{'method':10} {'batch':>5} {'fit s':>7} {'warm-up s':>9} {'epoch s':>8} "
        f"{'img/s':>7} {'step/s':>7} {'load/s':>7} {'ep/step':>7} {'peak MB':>8} "
        f"{'enc img/s':>9} {'loss':>8} {'mAP':>6}"
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
                f"{row['epoch_s']:8.1f} {row['img_s']:7.1f} {row['step_img_s']:7.1f} "
                f"{row['loader_img_s']:7.1f} {row['epoch_to_step']:7.1%} {row['peak_mb']:8.0f} "
                f"{row['encode_img_s']:9.1f} {row['loss']:8.4f} {row['map']:6.3f}",
                flush=True,
            )
    if args.csv:
        import pandas as pd

        pd.DataFrame(rows).to_csv(args.csv, index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
