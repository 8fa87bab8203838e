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

SAMPLE_EVERY = 5


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

    def start(self, what: str) -> tuple[str, float] | None:
        """Begin timing the loading ("loader") or compute ("step") of this step; None on a
        step that is not sampled."""
        # CUDA: steps 1, 1 + SAMPLE_EVERY, ... (step 0 pays for lazy initialisation)
        if self.cuda and self._calls % SAMPLE_EVERY != 1:
            return None
        if self.cuda:
            torch.cuda.synchronize(self.device)
        return what, time.perf_counter()

    def stop(
        self, timer: tuple[str, float] | None, images: int, then: str | None = None
    ) -> tuple[str, float] | None:
        """End ``timer``, counting ``images``; with ``then``, start timing that next."""
        if timer is not None:
            if self.cuda:
                torch.cuda.synchronize(self.device)
            what, started = timer
            seconds = time.perf_counter() - started
            if what == "loader":
                self.meter.loader_s += seconds
                self.meter.images += images
                self.meter.batches += 1
            else:
                self.meter.step_s += seconds
        if then is not None:  # the same step: the same sampling decision
            return self.start(then)
        self._calls += 1
        return None

    @contextmanager
    def timed(self, what: str, images: int):
        """``start`` / ``stop`` around the enclosed code (each use counts as one step)."""
        timer = self.start(what)
        yield
        self.stop(timer, images)
