"""The training input path and its measured rate against the step's.

A step's batch is gathered from the uint8 training set (in memory, or rows of the decoded
image cache), carried to the device (on CUDA from pinned memory with a non-blocking copy),
augmented there per image (:mod:`plugins.deep.augment`) and normalised. The loader's seconds and
the step's seconds are timed apart on the same batches, so every record says how many images per
second each side can take and their ratio: a ratio under 1 means the input bounds the run, not
the model. On CUDA the two are timed with synchronisation on every ``SAMPLE_EVERY``-th step only
(synchronising every step would stall the overlap being measured) from the second on; on a CPU
every step is timed.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from .augment import Augmentation
from .images import Normalizer

SAMPLE_EVERY = 8


@dataclass
class RateMeter:
    """Seconds and images of the timed steps' loading and compute."""

    loader_s: float = 0.0
    step_s: float = 0.0
    images: int = 0
    batches: int = 0

    def to_record(self) -> dict:
        """loader img/s, step img/s and loader/step (None until a step was timed)."""
        if not self.batches or self.loader_s <= 0 or self.step_s <= 0:
            return {"loader_img_s": None, "step_img_s": None, "loader_to_step": None}
        loader, step = self.images / self.loader_s, self.images / self.step_s
        return {
            "loader_img_s": round(loader, 1),
            "step_img_s": round(step, 1),
            "loader_to_step": round(loader / step, 3),
            "timed_batches": self.batches,
        }


class InputPipeline:
    """Batches of a uint8 training set, augmented and normalised on ``device``."""

    def __init__(
        self,
        images: torch.Tensor,
        normalizer: Normalizer,
        augmentation: Augmentation | None,
        device: torch.device,
    ):
        self.images, self.normalizer, self.augmentation = images, normalizer, augmentation
        self.device = device
        self.cuda = device.type == "cuda"
        self.meter = RateMeter()
        self._calls = 0

    def batch(self, index: torch.Tensor) -> torch.Tensor:
        """The normalised (augmented) images at ``index`` on the device; parameters are drawn
        on the CPU before any device work."""
        raw = self.images[index]
        draws = None
        if self.augmentation is not None:
            draws = self.augmentation.draw(len(raw), raw.shape[-2], raw.shape[-1])
        if self.cuda:
            raw = raw.pin_memory().to(self.device, non_blocking=True)
        if draws is not None:
            raw = self.augmentation.apply(raw, draws)
        x = self.normalizer(raw, self.device)
        return x.contiguous(memory_format=torch.channels_last) if self.cuda else x

    @contextmanager
    def timed(self, what: str, images: int):
        """Time the enclosed loading ("loader") or compute ("step") on sampled steps."""
        # CUDA: steps 1, 1 + SAMPLE_EVERY, ... (step 0 pays for lazy initialisation)
        sampled = not self.cuda or self._calls % SAMPLE_EVERY == 1
        if sampled and self.cuda:
            torch.cuda.synchronize(self.device)
        started = time.perf_counter()
        yield
        if not sampled:
            if what == "step":
                self._calls += 1
            return
        if self.cuda:
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - started
        if what == "loader":
            self.meter.loader_s += seconds
            self.meter.images += images
            self.meter.batches += 1
        else:
            self.meter.step_s += seconds
            self._calls += 1
