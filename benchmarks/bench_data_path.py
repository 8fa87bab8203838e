"""Images per second delivered to the model at 224 px: today's PIL path against the new one.

    python benchmarks/bench_data_path.py [--images DIR] [--count 256] [--batch 64]
                                         [--source-side 0] [--device cpu|cuda] [--threads 1]

Every row delivers the same thing, a normalised float batch of ``--batch`` images at ``--size``
px on ``--device`` with a random resized crop and flip per image (``augment=rrc+flip``), from
the same real JPEG files, in the same run:

* **today, PIL from JPEG**: Pillow decodes and resizes every image (bicubic), torchvision's v2
  transforms crop and flip each uint8 image on the CPU, then the batch is normalised on the
  device with the engine's former formula ((x / 255 − mean) / std, three temporaries): what a
  run pays for images it has not decoded yet;
* **today, uint8 in memory**: the same augmentation on the CPU from a uint8 tensor decoded once
  per run (today's epochs after the first load; the load itself not counted);
* **new, from JPEG (cold cache)**: the decoded cache is built (Pillow, once per data set and
  size, written to disk) and then read once by the new path: the first run's cost;
* **new, from the cache**: rows read from the memory-mapped cache, the crop parameters drawn on
  the CPU, the batch pinned and copied (CUDA), cropped, resized, flipped and normalised on the
  device per image, normalised in place (x · scale + shift): every later epoch and run.

The ratio column is each row's img/s over today's PIL path. The images are the files under
``--images`` (default: Tiny-ImageNet's training images, 64 px JPEGs, else cub-mini64's) taken in
sorted order; ``--source-side S`` first re-saves them upsampled to S px (JPEG quality 90) in a
temporary folder, for the decoding cost of full-size photos (CUB's are about 500×375). The cache
goes to a temporary folder, removed at the end. Nothing is asserted; numbers vary with the
machine and its load (run it with ``nice`` and ``OMP_NUM_THREADS=1`` on a shared host).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from plugins.deep.augment import Augmentation  # noqa: E402
from plugins.deep.images import Normalizer, images_to_uint8  # noqa: E402
from plugins.deep.loader import InputPipeline  # noqa: E402
from zshbench.datasets import image_cache  # noqa: E402
from zshbench.datasets.base import FileImageSource  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DIRS = (
    Path("/work/data/tiny-imagenet-200/train"),
    REPO.parent / "shared" / "data" / "cub-mini64" / "CUB_200_2011" / "images",
)


def find_images(folder: Path | None, count: int) -> list[Path]:
    """The first ``count`` JPEGs under ``folder`` (or the first default folder that has any)."""
    for candidate in [folder] if folder else DEFAULT_DIRS:
        if candidate is not None and candidate.is_dir():
            found = sorted(p for p in candidate.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg"})
            if found:
                return found[:count]
    raise SystemExit("no JPEG images found; give --images DIR")


def upsampled(paths: list[Path], side: int, folder: Path) -> list[Path]:
    """The images re-saved at ``side`` px as JPEG (quality 90): full-size decoding cost."""
    from PIL import Image

    out = []
    for i, path in enumerate(paths):
        with Image.open(path) as image:
            big = image.convert("RGB").resize((side, side), Image.Resampling.BICUBIC)
        target = folder / f"{i:05d}.jpg"
        big.save(target, quality=90)
        out.append(target)
    return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rate(deliver, count: int, device: torch.device, repeats: int) -> float:
    """Median img/s of ``repeats`` passes of ``deliver()`` (each delivering ``count`` images)."""
    rates = []
    for _ in range(repeats):
        sync(device)
        started = time.perf_counter()
        deliver()
        sync(device)
        rates.append(count / (time.perf_counter() - started))
    return statistics.median(rates)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=None)
    parser.add_argument("--count", type=int, default=256)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--source-side", type=int, default=0, help="re-save JPEGs at this side")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch threads on a CPU")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device, size, batch = torch.device(args.device), args.size, args.batch
    from torchvision.transforms import v2

    with tempfile.TemporaryDirectory() as scratch:
        paths = find_images(args.images, args.count)
        if args.source_side:
            paths = upsampled(paths, args.source_side, Path(scratch))
        source, count = FileImageSource(paths), len(paths)
        normalizer = Normalizer((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
        mean = std = torch.full((1, 3, 1, 1), 0.5, device=device)

        def today_normalise(images: torch.Tensor) -> torch.Tensor:  # the engine's until now
            x = images.to(device, non_blocking=True).float().div_(255.0)
            return (x - mean) / std

        crop = v2.RandomResizedCrop(size, scale=(0.2, 1.0), antialias=True)
        today = v2.Compose([crop, v2.RandomHorizontalFlip()])
        batches = [list(range(s, min(s + batch, count))) for s in range(0, count, batch)]

        def today_from_jpeg() -> None:
            for positions in batches:
                raw = images_to_uint8(source.load_many(positions), size)
                today_normalise(torch.stack([today(image) for image in raw]))

        decoded = images_to_uint8(source.load_many(range(count)), size)  # today: once per run

        def today_in_memory() -> None:
            for positions in batches:
                today_normalise(torch.stack([today(image) for image in decoded[positions]]))

        os.environ[image_cache.CACHE_ENV] = str(Path(scratch) / "cache")
        holder: dict = {}

        def open_pipeline() -> InputPipeline:
            cache = image_cache.open_cache(
                source.paths, size, lambda images: images_to_uint8(images, size).numpy(),
                source.load_many,
            )  # fmt: skip
            images = torch.from_numpy(cache.array)
            return InputPipeline(images, normalizer, Augmentation("rrc+flip", size), device)

        def new_pass(pipeline: InputPipeline) -> None:
            for positions in batches:
                pipeline.batch(torch.tensor(positions))

        def new_cold() -> None:
            for stale in Path(os.environ[image_cache.CACHE_ENV]).glob("*"):
                stale.unlink()
            holder["pipeline"] = open_pipeline()
            new_pass(holder["pipeline"])

        torch.manual_seed(0)
        new_pass(open_pipeline())  # warm-up (kernels, allocator), then the timed rows
        rows = [
            ("today, PIL from JPEG", rate(today_from_jpeg, count, device, args.repeats)),
            ("today, uint8 in memory", rate(today_in_memory, count, device, args.repeats)),
            ("new, from JPEG (cold cache)", rate(new_cold, count, device, args.repeats)),
            ("new, from the cache", rate(lambda: new_pass(holder["pipeline"]), count, device,
                                         args.repeats)),
        ]  # fmt: skip
        side = args.source_side or "as stored"
        print(
            f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
            f"{count} JPEGs from {paths[0].parent.parent if not args.source_side else 're-saved'}"
            f" (side {side}), {size} px, batch {batch}, rrc+flip, median of {args.repeats}"
        )
        print(f"{'path':30} {'img/s':>9} {'× today (PIL)':>14}")
        for name, value in rows:
            print(f"{name:30} {value:9.1f} {value / rows[0][1]:14.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
