"""``cnn``: a small CNN trained with class supervision on the seen training images, as features.

The paper's linear baselines hash CNN features, not pixels; on real birds raw pixels are barely
above chance (cub-mini64: ITQ 3.5 % against 2.56 %). At paper scale the frozen, pretrained timm
extractor (``extractor=timm``) is the way; at CPU scale, without pretrained weights, this
extractor learns its features the only legitimate way a zero-shot benchmark allows: a classifier
trained on the split's *seen* training images (those the method is given in ``fit``) and
nothing else — no unseen class, no query, no database image is ever seen.

Network (hand-assembled from torch layers; nothing in timm is this small): stages of
conv3×3 → BatchNorm → ReLU → max-pool 2×2 with width, 2·width, ... (at most 256) channels, one
stage per halving of the input down to 4 px (digits' 8 px: one stage, cub-mini64's 64 px: four);
average pooling to a ``grid`` × ``grid`` map; a ``dim``-wide embedding (linear → BatchNorm →
ReLU); a linear classifier on top for the cross-entropy. The feature (``layer``) is the
embedding (default, ``dim``-d) or the pooled map, flattened (2 × 2 × 256 = 1,024-d on
cub-mini64). Why these defaults, measured on the unseen classes at 32 bits, seed 0: a 1 × 1
(global) pooling throws away where things are, which is all digits' 8-px strokes have (LSH on
the embedding 33 % with 1 × 1, 51 % with 2 × 2); on cub-mini64 the embedding beats the raw
pooled map (ITQ 6.7 % against 5.1 %; pixels: 3.4 %), on digits the pooled map is a little
better (ITQ 63 % against 60 %; pixels: 73 %: 8-px digits are their own best features).
Training: AdamW (lr 3e-3, weight decay 5e-4), cosine schedule, ``epochs`` passes in batches of
64, label smoothing 0.1; random crops (padding of an eighth of the side) and, for colour images,
horizontal flips. Inputs are scaled to [0, 1] and standardised per channel with the training
images' mean and std. A fixed schedule — no validation-based early stopping — so the cost is
known and the result depends only on the seed and the settings.

Cache: training takes minutes on two CPU cores, and a sweep of eleven linear methods × four
code lengths would repeat it 44 times per seed. The trained weights are saved under
``context.cache_dir`` (``<results>/<dataset>/<split id>/.cache/``, one folder per split) as
``cnn-<key>.pt``, the key a hash of the training images' ids and labels, the seed and every
setting but ``layer`` (which reads the same weights); a later run with the same key loads them
(``torch.load(weights_only=True)``) instead of training. Without a cache folder (a method used
outside the runner) it trains every time.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from zshbench.errors import ZshbenchError
from zshbench.features import FeatureExtractor
from zshbench.hookspecs import hookimpl
from zshbench.method import ImageView, RunContext
from zshbench.options import Option
from zshbench.registry import ExtractorSpec

CACHE_VERSION = 2  # 2: the file carries its key and a sha256 of its tensors
_REBUILT: set[Path] = set()  # cache files this process rebuilt under --overwrite


@hookimpl
def zshbench_register_extractors() -> list[ExtractorSpec]:
    return [
        ExtractorSpec(
            "cnn",
            "plugins.features.cnn_extractor:SeenClassCNNExtractor",
            summary="Small CNN trained on the seen training images' classes (cached per split)",
        )
    ]


def stage_count(size: int) -> int:
    """Conv stages for a ``size``-px input: one per halving down to 4 px (at least one)."""
    return max(1, int(math.floor(math.log2(max(size, 4) / 4))))


def build_network(channels: int, size: int, width: int, dim: int, classes: int, grid: int):
    """(body, head, classifier) torch modules.

    ``body(x)``: the conv stages average-pooled to a ``grid`` × ``grid`` map, flattened;
    ``head``: the ``dim``-wide embedding on top; ``classifier``: the logits for training.
    """
    import torch.nn as nn

    layers: list[nn.Module] = []
    previous = channels
    for stage in range(stage_count(size)):
        out = min(width * 2**stage, 256)
        layers += [
            nn.Conv2d(previous, out, 3, padding=1, bias=False),
            nn.BatchNorm2d(out),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        ]
        previous = out
    layers += [nn.AdaptiveAvgPool2d(grid), nn.Flatten()]
    pooled = previous * grid * grid
    head = nn.Sequential(nn.Linear(pooled, dim, bias=False), nn.BatchNorm1d(dim), nn.ReLU())
    return nn.Sequential(*layers), head, nn.Linear(dim, classes)


class SeenClassCNNExtractor(FeatureExtractor):
    """Features of a small CNN trained with class labels on the seen training images.

    Options:
        size: input side in pixels (images are resized to size × size); None: the images' own
            side when they all share one, capped at 64, else 64.
        width: channels of the first stage (doubling per stage, at most 256).
        dim: embedding dimension.
        grid: the conv map is average-pooled to grid × grid.
        layer: "pooled" (the flattened pooled map) or "embedding" is the feature.
        epochs: training passes over the training images.
        batch_size: training batch size.
        lr / weight_decay: AdamW settings.
        flip: random horizontal flips; None: for colour images only.
        cache: reuse weights trained earlier on the same split, seed and settings.
    """

    # Ranged, so a width of 0 or a dim of -1 is one line before any network is built.
    default_options: ClassVar[dict[str, Any]] = {
        "size": Option(None, kind="integer", minimum=4, maximum=512, help="input side"),
        "width": Option(32, minimum=1, maximum=256, help="first stage's channels"),
        "dim": Option(256, minimum=1, maximum=65536, help="embedding dimension"),
        "grid": Option(2, minimum=1, maximum=64, help="pooled map side"),
        "layer": Option("embedding", choices=("embedding", "pooled")),
        "epochs": Option(30, minimum=0, maximum=100000),
        "batch_size": Option(64, minimum=1, maximum=1 << 20),
        "lr": Option(0.003, exclusive_minimum=0.0),
        "weight_decay": Option(0.0005, minimum=0.0),
        "flip": Option(None, kind="boolean"),
        "cache": Option(True),
    }

    # -- images

    def _side(self, images: ImageView) -> int:
        size = self.options["size"]
        if size is not None:
            if isinstance(size, bool) or not isinstance(size, int) or not 4 <= size <= 512:
                raise ZshbenchError(f"cnn: size must be an integer in 4..512, not {size!r}")
            return size
        shape = images.fixed_shape
        if shape is None and len(images):
            shape = np.asarray(images.load([0])[0]).shape
        side = min(shape[0], shape[1]) if shape else 64
        return int(min(side, 64))

    def _pixels(self, images: ImageView, side: int, channels: int | None = None) -> np.ndarray:
        """(N, C, side, side) float32 in [0, 1] (gray kept 1-channel unless ``channels`` = 3)."""
        from PIL import Image

        out = []
        for _positions, batch in images.batches(256):
            for image in batch:
                array = np.asarray(image)
                if array.ndim == 2:
                    array = array[:, :, None]
                if array.shape[2] in (2, 4):
                    array = array[:, :, : array.shape[2] - 1]
                if array.shape[:2] != (side, side):
                    pil = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
                    array = np.asarray(pil.resize((side, side), Image.Resampling.BILINEAR))
                    array = array[:, :, None] if array.ndim == 2 else array
                if channels == 3 and array.shape[2] == 1:
                    array = np.repeat(array, 3, axis=2)
                out.append(array)
        if not out:
            return np.zeros((0, channels or 3, side, side), np.float32)
        if channels is None and len({a.shape[2] for a in out}) > 1:
            out = [np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a for a in out]
        return (np.stack(out).astype(np.float32) / 255.0).transpose(0, 3, 1, 2)

    # -- cache

    def _key(self, images: ImageView, seed: int, side: int) -> str:
        ids = images.image_ids if images.image_ids is not None else images.indices
        digest = hashlib.sha256()
        digest.update(json.dumps([str(i) for i in ids]).encode())
        digest.update(np.asarray(images.labels, dtype=np.int64).tobytes())
        settings = {**self.options, "size": side, "seed": int(seed), "version": CACHE_VERSION}
        for unused in ("cache", "layer"):  # they do not change the trained weights
            settings.pop(unused)
        digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
        return digest.hexdigest()[:20]

    def _cache_path(self, images: ImageView, context: RunContext, side: int) -> Path | None:
        if not self.options["cache"] or context.cache_dir is None:
            return None
        return Path(context.cache_dir) / f"cnn-{self._key(images, context.seed, side)}.pt"

    # -- training

    def fit(self, images: ImageView, context: RunContext) -> None:
        import torch

        if images.labels is None:
            raise ZshbenchError("cnn: the extractor trains on labelled images; none were given")
        side = self._side(images)
        pixels = self._pixels(images, side)
        labels = np.asarray(images.labels, dtype=np.int64)
        classes = int(labels.max()) + 1 if len(labels) else 0
        if classes < 2:
            raise ZshbenchError("cnn: training needs images of at least two classes")
        self.side_, self.channels_ = side, pixels.shape[1]
        layer = self.options["layer"]
        if layer not in ("pooled", "embedding"):
            raise ZshbenchError(f"cnn: layer must be 'pooled' or 'embedding', not {layer!r}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(context.seed))  # the initial weights depend on the seed only
            body, head, classifier = build_network(
                self.channels_,
                side,
                int(self.options["width"]),
                int(self.options["dim"]),
                classes,
                int(self.options["grid"]),
            )
        self.network_ = body if layer == "pooled" else torch.nn.Sequential(body, head)
        path = self._cache_path(images, context, side)
        self.cache_ = None
        if path is not None and getattr(context, "overwrite", False) and path not in _REBUILT:
            _REBUILT.add(path)  # once per process: a sweep's later records reuse the new file
            context.progress.log(f"cnn extractor: --overwrite: rebuilding {path.name}")
        elif path is not None and path.is_file() and self._load_cache(path, body, head, context):
            self.loaded_from_cache_ = True
            self.cache_ = {"file": path.name, "loaded": True, "sha256": self._cache_digest}
            return
        self.loaded_from_cache_ = False
        self.mean_ = pixels.mean(axis=(0, 2, 3))
        self.std_ = pixels.std(axis=(0, 2, 3)) + 1e-6
        self._train(torch.nn.Sequential(body, head, classifier), pixels, labels, context)
        if path is not None and context.rank == 0:
            self._save_cache(path, body, head)
            self.cache_ = {"file": path.name, "loaded": False, "sha256": self._cache_digest}

    def cache_note(self) -> dict[str, Any] | None:
        """The cache file the weights came from or went to, for the record's config."""
        return getattr(self, "cache_", None)

    @staticmethod
    def _tensor_digest(state: dict[str, Any]) -> str:
        """sha256 over every tensor of a cache state, in a fixed order (names, then bytes)."""
        import torch

        digest = hashlib.sha256()
        for part in ("body", "head"):
            for name, tensor in sorted(state[part].items()):
                digest.update(f"{part}.{name}".encode())
                digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        for name in ("mean", "std"):
            digest.update(name.encode())
            digest.update(torch.as_tensor(state[name]).numpy().tobytes())
        return digest.hexdigest()

    def _save_cache(self, path: Path, body, head) -> None:
        import torch

        from zshbench.results import atomic_write_bytes

        state = {
            "body": body.state_dict(),
            "head": head.state_dict(),
            "mean": torch.from_numpy(self.mean_),
            "std": torch.from_numpy(self.std_),
        }
        self._cache_digest = self._tensor_digest(state)
        state.update(key=path.stem, sha256=self._cache_digest)
        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write_bytes(path, buffer.getvalue())

    def _load_cache(self, path: Path, body, head, context: RunContext) -> bool:
        """Load ``path`` if it is the file its name says (its key) and its tensors hash to the
        sha256 it carries; else say why and return False (the weights are then retrained)."""
        import torch

        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            digest = self._tensor_digest(state)
            if state.get("key") != path.stem or state.get("sha256") != digest:
                raise ValueError("its content does not match its key and checksum")
            body.load_state_dict(state["body"])
            head.load_state_dict(state["head"])
            mean, std = state["mean"].numpy(), state["std"].numpy()
            if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
                raise ValueError("its normalisation is not finite and positive")
        except Exception as error:  # noqa: BLE001 - a bad cache file is retrained
            line = str(error).splitlines()[0] if str(error) else type(error).__name__
            context.progress.log(f"cnn extractor: ignoring unreadable cache {path}: {line}")
            return False
        self.mean_, self.std_, self._cache_digest = mean, std, digest
        context.progress.log(f"cnn extractor: loaded {path.name} from the split's cache")
        return True

    def _train(self, network, pixels, labels, context: RunContext) -> None:
        import torch
        import torch.nn.functional as F

        o = self.options
        epochs = int(o["epochs"])
        batch = int(o["batch_size"])
        if epochs < 0 or batch < 1:
            raise ZshbenchError("cnn: epochs must be >= 0 and batch_size >= 1")
        flip = self.channels_ == 3 if o["flip"] is None else bool(o["flip"])
        device = torch.device(context.device)
        generator = torch.Generator().manual_seed(int(context.seed))
        model = network.to(device)
        optimiser = torch.optim.AdamW(
            model.parameters(), lr=float(o["lr"]), weight_decay=float(o["weight_decay"])
        )
        steps = max(1, epochs * math.ceil(len(pixels) / batch))
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps)
        inputs = self._standardise(torch.from_numpy(pixels))
        targets = torch.from_numpy(labels)
        model.train()
        with context.progress.task("train cnn extractor", total=epochs) as advance:
            for _epoch in range(epochs):
                order = torch.randperm(len(inputs), generator=generator)
                for start in range(0, len(order), batch):
                    chosen = order[start : start + batch]
                    if len(chosen) < 2:
                        continue  # BatchNorm needs two samples
                    x = _augment(inputs[chosen], flip, generator).to(device)
                    loss = F.cross_entropy(
                        model(x), targets[chosen].to(device), label_smoothing=0.1
                    )
                    optimiser.zero_grad(set_to_none=True)
                    loss.backward()
                    optimiser.step()
                    schedule.step()
                advance(1)
        model.eval()

    def _standardise(self, pixels):
        import torch

        mean = torch.as_tensor(self.mean_, dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.as_tensor(self.std_, dtype=torch.float32).view(1, -1, 1, 1)
        return (pixels - mean) / std

    # -- features

    def transform(self, images: ImageView, context: RunContext) -> np.ndarray:
        import torch

        if getattr(self, "network_", None) is None:
            raise ZshbenchError("cnn: transform was called before fit")
        pixels = self._pixels(images, self.side_, 3 if self.channels_ == 3 else None)
        if len(pixels) and pixels.shape[1] != self.channels_:
            raise ZshbenchError(
                f"cnn: trained on {self.channels_}-channel images, given {pixels.shape[1]}"
            )
        device = torch.device(context.device)
        network = self.network_.to(device).eval()
        chunks = []
        with torch.no_grad():
            for start in range(0, len(pixels), 256):
                x = self._standardise(torch.from_numpy(pixels[start : start + 256])).to(device)
                chunks.append(network(x).float().cpu().numpy())
        if not chunks:
            return np.zeros((0, int(self.options["dim"])), np.float32)
        return np.concatenate(chunks).astype(np.float32, copy=False)


def _augment(x, flip: bool, generator):
    """Random crops of the batch padded by an eighth of its side (and flips), (N, C, H, W)."""
    import torch
    import torch.nn.functional as F

    n, _, h, w = x.shape
    pad = max(1, min(h, w) // 8)
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    rows = (dy.view(n, 1) + torch.arange(h).view(1, h)).view(n, 1, h, 1)
    cols = (dx.view(n, 1) + torch.arange(w).view(1, w)).view(n, 1, 1, w)
    index_rows = rows.expand(n, x.shape[1], h, padded.shape[3])
    cropped = torch.gather(padded, 2, index_rows)
    cropped = torch.gather(cropped, 3, cols.expand(n, x.shape[1], h, w))
    if flip:
        mirror = torch.rand(n, generator=generator) < 0.5
        cropped[mirror] = cropped[mirror].flip(-1)
    return cropped
