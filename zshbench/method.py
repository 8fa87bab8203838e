"""The method API: what a hashing method receives and what it must return.

The harness hands a method the *training* side of a zero-shot split (seen-class images, labels,
seen-class attributes and a seen-class validation task for model selection) plus a
:class:`RunContext` (device, seed, progress, checkpoints, text encoder). The method returns
codes in {-1, +1} for any :class:`ImageView` it is given. It never sees unseen-class labels or
attributes, and it never sees query labels.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .datasets.base import ArrayImageSource, ImageSource
from .options import check_options


class ImageView:
    """A subset of a data set's images, in a fixed order (e.g. the query set).

    ``labels`` is present for training and validation views and None for what a method encodes
    at test time.
    """

    def __init__(
        self,
        source: ImageSource,
        indices: Sequence[int],
        labels: np.ndarray | None = None,
        image_ids: Sequence[str] | None = None,
    ):
        self.source = source
        self.indices = np.asarray(indices, dtype=np.int64)
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        self.image_ids = None if image_ids is None else np.asarray(image_ids).astype(str)
        if self.labels is not None and len(self.labels) != len(self.indices):
            raise ValueError("labels and indices differ in length")

    def __len__(self) -> int:
        return len(self.indices)

    def load(self, positions: Sequence[int]) -> list[np.ndarray]:
        """Images at ``positions`` of this view, each (H, W, C) uint8."""
        return self.source.load_many(self.indices[np.asarray(positions, dtype=np.int64)])

    def load_stack(self, positions: Sequence[int] | None = None) -> np.ndarray:
        """Images at ``positions`` (all when None) as one (N, H, W, C) uint8 array.

        Raises when images differ in size; resize them first (see :mod:`zshbench.transforms`).
        """
        positions = np.arange(len(self)) if positions is None else np.asarray(positions)
        if isinstance(self.source, ArrayImageSource):
            return self.source.load_stack(self.indices[positions])
        images = self.load(positions)
        shapes = {image.shape for image in images}
        if len(shapes) > 1:
            raise ValueError(f"images differ in shape ({len(shapes)} shapes); resize them first")
        return np.stack(images) if images else np.zeros((0, 1, 1, 3), np.uint8)

    def batches(self, batch_size: int) -> Iterator[tuple[np.ndarray, list[np.ndarray]]]:
        """Yield (positions, images) in order, ``batch_size`` at a time."""
        for start in range(0, len(self), batch_size):
            positions = np.arange(start, min(start + batch_size, len(self)))
            yield positions, self.load(positions)

    def subset(self, positions: Sequence[int]) -> ImageView:
        positions = np.asarray(positions, dtype=np.int64)
        return ImageView(
            self.source,
            self.indices[positions],
            None if self.labels is None else self.labels[positions],
            None if self.image_ids is None else self.image_ids[positions],
        )

    def without_labels(self) -> ImageView:
        return ImageView(self.source, self.indices, None, self.image_ids)

    @property
    def fixed_shape(self) -> tuple[int, int, int] | None:
        return self.source.fixed_shape


@dataclass
class ValidationTask:
    """Model selection without peeking at unseen classes.

    A few *seen* classes are held out as pseudo-unseen: ``fit_positions`` are the positions in
    the training view of the other seen classes (train on these while selecting), and
    ``query``/``database`` form a retrieval task built only from seen-class images outside the
    training set. ``evaluate(encode)`` gives mAP@``topk`` of an encoder on that task.
    """

    classes: list[str]
    fit_positions: np.ndarray
    query: ImageView
    database: ImageView
    topk: int

    def evaluate(self, encode: Callable[[ImageView], np.ndarray], ties: str = "expected") -> float:
        from .evaluation.metrics import mean_average_precision

        query_codes = encode(self.query.without_labels())
        db_codes = encode(self.database.without_labels())
        return float(
            mean_average_precision(
                query_codes,
                self.query.labels,
                db_codes,
                self.database.labels,
                topk=self.topk,
                ties=ties,
            )
        )


@dataclass
class TrainData:
    """The training side of a zero-shot split.

    ``labels`` index ``class_names`` (the seen classes only). ``class_attributes`` is
    (num_seen, num_attributes) in the data set's own scale, or None (CIFAR-10: the class names
    are the only attributes). ``attribute_names`` are readable texts for a text encoder.
    """

    images: ImageView
    labels: np.ndarray
    class_names: list[str]
    attribute_names: list[str]
    class_attributes: np.ndarray | None
    binary_class_attributes: np.ndarray | None
    validation: ValidationTask | None
    dataset: str
    # the published data set whose tuned settings this one follows ("" when its file says none)
    paper_family: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


class Progress:
    """Progress reporting a method can use without knowing about rich.

    ``with progress.task("epoch 3", total=n) as advance: advance(k)``. The CLI passes a rich-backed
    implementation; tests and libraries get this silent one.
    """

    @contextlib.contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        yield lambda steps=1: None

    def log(self, message: str) -> None:
        """A line worth a reader's attention (a summary, a warning): printed and kept."""

    def status(self, message: str) -> None:
        """A live figure of long work (e.g. the last epoch's losses and validation mAP): shown on
        the progress bar and kept in the run's log file, but not printed as a line of its own."""

    def track(self, iterable, total: int | None = None, description: str = ""):
        with self.task(description, total) as advance:
            for item in iterable:
                yield item
                advance(1)


@dataclass
class RunContext:
    """Everything about *how* to run that is not data: device, seed, progress, storage.

    ``rank`` / ``world_size`` say where this process stands under ``torchrun`` (0 / 1 in a
    plain run); the harness has already initialised the process group when ``distributed``.
    ``artifact_dir`` is a folder beside the run's record (``bits<B>-seed<S>-files/``) where a
    method may write its own files (plots, logs, learned weights). The harness does not create
    it; create it when you write there (``mkdir(parents=True, exist_ok=True)``), and under
    torchrun write from rank 0 only or name files per rank. Files found there after training
    and encoding are listed in the record under ``"artifacts"``.

    ``cache_dir`` is a folder shared by every run on the same split
    (``<results>/<dataset>/<split id>/.cache/``), for things worth computing once per split
    rather than once per run, such as a feature extractor trained on the seen classes: key the
    file names by everything that determines their content (seed, settings). The harness names
    it but does not create it; None outside the runner (then compute without caching).
    """

    device: str = "cpu"
    seed: int = 0
    progress: Progress = field(default_factory=Progress)
    checkpoint_dir: Path | None = None
    encoder: str | None = None
    encoder_options: dict[str, Any] = field(default_factory=dict)
    rank: int = 0
    world_size: int = 1
    artifact_dir: Path | None = None
    cache_dir: Path | None = None
    overwrite: bool = False  # --overwrite: rebuild cached files rather than reuse them

    @property
    def distributed(self) -> bool:
        """True under torchrun with more than one process."""
        return self.world_size > 1

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """Text vectors for ``texts`` (attribute names) through the chosen encoder plugin."""
        from .encoders import encode_texts

        return encode_texts(texts, self.encoder, **self.encoder_options)


class HashingMethod(abc.ABC):
    """Base class of every hashing method.

    Subclasses set ``default_options`` (documented per method) and implement ``fit`` and
    ``encode``. ``default_options`` maps each option to its default or to a
    :class:`zshbench.options.Option` (type, range, choices, help); ``options`` holds the defaults
    updated with the user's ``--option key=value``, each checked and coerced to its declared
    type before any data loads, and is what the record stores.

    A method that reads the attribute-text encoder (``context.encode_texts``) sets
    ``uses_text_encoder = True``; for any other, ``--encoder``/``--encoder-option`` are refused
    rather than silently ignored.

    Under ``torchrun`` every process builds the method and calls ``fit`` with the same seed;
    only rank 0 then encodes, evaluates and writes the record. A method that sets
    ``supports_distributed = True`` shards its own training across the processes when
    ``context.distributed`` (e.g. DistributedDataParallel over ``context.world_size`` ranks;
    the harness has initialised the process group). One that leaves it False is trained whole
    by every process (no data parallelism; the harness warns).
    """

    default_options: ClassVar[dict[str, Any]] = {}
    supports_distributed: ClassVar[bool] = False
    uses_text_encoder: ClassVar[bool] = False

    def __init__(self, bits: int, **options: Any):
        self.bits = int(bits)
        self.options = check_options(type(self).__name__, self.default_options, options)

    @abc.abstractmethod
    def fit(self, data: TrainData, context: RunContext) -> None:
        """Learn the hash function from the seen-class training data."""

    @abc.abstractmethod
    def encode(self, images: ImageView, context: RunContext) -> np.ndarray:
        """Return (len(images), bits) codes in {-1, +1} (any integer or float dtype)."""

    def max_bits(self, images: ImageView) -> int | None:
        """The longest code this method can learn from the training ``images``, told from
        their count and shape without loading or computing anything, so the runner refuses a
        longer code length before the first fit of a sweep (not after the shorter ones have
        trained); None (the default): no limit known up front."""
        return None

    def max_bits_hint(self) -> str:
        """What a user can do instead of a code length over :meth:`max_bits` (one phrase)."""
        return "other options (zshbench info METHOD)"

    def config(self) -> dict[str, Any]:
        """What goes into the results record to describe this run's method."""
        return {"bits": self.bits, **self.options}

    def phase_seconds(self) -> dict[str, float]:
        """Seconds spent in each phase of ``fit`` (e.g. warm-up, training, validation), for the
        record's ``timings``; {} when a method does not break its fit down."""
        return {}
