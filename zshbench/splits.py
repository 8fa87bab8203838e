"""The zero-shot split protocol (SPEC §1, §3b): seen/unseen classes and train/query/database.

A split is fully determined by (data set, split name): its manifest lists the seen and unseen
classes and the image ids of the training set, the queries, the database and a seen-class
validation task, and its ``split_id`` is a hash of that content, so two runs with the same
split id compare on exactly the same images.

Split names:

- ``random-<seed>``: unseen classes drawn at random with ``seed``, images sampled with it too;
- a named split of the data set (``standard``: the one the data set ships, e.g. AWA2's
  trainclasses/testclasses; ``proposed``: Xian et al.'s proposed split), images sampled with
  seed 0, or with ``<name>@<seed>`` for another draw of the same classes;
- ``file:<path>[@<seed>]``: unseen classes listed in a text file, one class name a line.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .datasets.base import ImageSet, Protocol
from .errors import DatasetError, ZshbenchError
from .method import ImageView, TrainData, ValidationTask

STANDARD_MARKER = ["standard"]
XLSA17_MARKER = ["xlsa17"]  # a named split read from the user's xlsa17 files

RETRIEVAL_PROTOCOLS: tuple[str, ...] = ("unseen@all", "unseen@unseen", "seen@seen", "seen@all")
DEFAULT_RETRIEVAL = "unseen@all"
RETRIEVAL_HELP = {
    "unseen@all": "unseen-class queries, database of every image not trained on nor queried "
    "(seen and unseen classes: the RAZH paper's protocol, SPEC section 1)",
    "unseen@unseen": "unseen-class queries, database of the other unseen-class images",
    "seen@seen": "held-out seen-class queries, database of the other held-out seen-class images",
    "seen@all": "held-out seen-class queries, database of every image not trained on nor queried",
}


@dataclass
class ValidationManifest:
    """Pseudo-unseen seen classes and their retrieval task (model selection only)."""

    classes: list[str] = field(default_factory=list)
    query_ids: list[str] = field(default_factory=list)
    database_ids: list[str] = field(default_factory=list)


@dataclass
class Split:
    """A saved zero-shot split; ``split_id`` changes whenever any of its content does."""

    dataset: str
    name: str
    seed: int
    seen_classes: list[str]
    unseen_classes: list[str]
    train_ids: list[str]
    query_ids: list[str]
    database_ids: list[str]
    validation: ValidationManifest
    protocol: dict[str, Any]
    split_id: str = ""
    retrieval: str = DEFAULT_RETRIEVAL

    def __post_init__(self) -> None:
        if isinstance(self.validation, dict):
            self.validation = ValidationManifest(**self.validation)
        content_id = self.content_hash()
        if self.split_id and self.split_id != content_id:
            raise DatasetError(
                f"split manifest {self.name!r} of {self.dataset} says id {self.split_id} but its "
                f"content hashes to {content_id}",
                "The manifest was edited or corrupted; delete it and let zshbench write it again.",
            )
        self.split_id = content_id

    def content_hash(self) -> str:
        content = {
            "dataset": self.dataset,
            "seen": self.seen_classes,
            "unseen": self.unseen_classes,
            "train": self.train_ids,
            "query": self.query_ids,
            "database": self.database_ids,
            "validation": asdict(self.validation),
        }
        name = self.name.replace(":", "-").replace("/", "-")
        if self.retrieval != DEFAULT_RETRIEVAL:  # the default's ids are what they always were
            content["retrieval"] = self.retrieval
            name = f"{name}-{self.retrieval}"
        digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
        return f"{name}-{digest[:10]}"

    def summary(self) -> dict[str, Any]:
        """What every result record carries about its split."""
        return {
            "name": self.name,
            "id": self.split_id,
            "protocol": self.retrieval,
            "seed": self.seed,
            "num_seen": len(self.seen_classes),
            "num_unseen": len(self.unseen_classes),
            "num_train": len(self.train_ids),
            "num_query": len(self.query_ids),
            "num_database": len(self.database_ids),
            "unseen_classes": self.unseen_classes,
            "validation_classes": self.validation.classes,
        }

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> Split:
        return cls(**json.loads(text))

    def check_disjoint(self) -> None:
        """Train, query and database share no image; validation stays within seen classes."""
        train, query, database = map(set, (self.train_ids, self.query_ids, self.database_ids))
        if train & query or train & database or query & database:
            raise ZshbenchError(f"split {self.split_id}: train, query and database overlap")
        val_query, val_db = set(self.validation.query_ids), set(self.validation.database_ids)
        if (val_query | val_db) & (train | query) or val_query & val_db:
            raise ZshbenchError(f"split {self.split_id}: validation images leak")
        if set(self.seen_classes) & set(self.unseen_classes):
            raise ZshbenchError(f"split {self.split_id}: a class is both seen and unseen")


def parse_split_name(name: str) -> tuple[str, int]:
    """``"proposed@3"`` → ("proposed", 3); ``"random-5"`` → ("random-5", 5)."""
    base, _, seed_text = name.rpartition("@") if "@" in name else (name, "", "")
    if base.startswith("random-"):
        seed_part = base[len("random-") :]
        if not seed_part.isdigit() or seed_text:
            raise ZshbenchError(f"bad split name {name!r}", "Write random-<seed>, e.g. random-0.")
        return base, int(seed_part)
    if seed_text and not seed_text.isdigit():
        raise ZshbenchError(f"bad split name {name!r}", "Write <name>@<seed>, e.g. proposed@1.")
    return base, int(seed_text) if seed_text else 0


def _unseen_for(
    imageset: ImageSet, base: str, seed: int, named: dict[str, list[str]], protocol: Protocol
) -> list[int]:
    if base.startswith("random-"):
        rng = np.random.default_rng([seed, 0])
        chosen = rng.choice(imageset.num_classes, size=protocol.num_unseen, replace=False)
        return sorted(int(c) for c in chosen)
    if base.startswith("file:"):
        path = Path(base[len("file:") :]).expanduser()
        names = _split_file_classes(path, protocol)
    elif base in named:
        names = named[base]
        if names == STANDARD_MARKER:
            if not imageset.standard_unseen_classes:
                raise DatasetError(f"{imageset.name} ships no standard seen/unseen split")
            names = imageset.standard_unseen_classes
        elif names == XLSA17_MARKER:
            from .datasets.xlsa17 import proposed_unseen_classes

            names = proposed_unseen_classes(imageset.name)
    else:
        from .suggest import did_you_mean

        known = ", ".join(["random-<seed>", "file:<path>", *sorted(named)])
        guess = did_you_mean(base, [*named, "random-0"])
        raise ZshbenchError(
            f"unknown split {base!r} for {imageset.name}", f"{guess}Known: {known}."
        )
    if len(names) != protocol.num_unseen:
        raise DatasetError(
            f"split {base!r} lists {len(names)} unseen classes, but the protocol of "
            f"{imageset.name} has {protocol.num_unseen}",
            f"List exactly {protocol.num_unseen} unseen classes.",
        )
    missing = [n for n in names if n not in imageset.class_names]
    if missing:
        raise DatasetError(
            f"split {base!r} names classes {imageset.name} does not have: {', '.join(missing[:5])}",
            "Check the class names against the data set's classes.txt.",
        )
    return sorted(imageset.class_index(n) for n in names)


def _split_file_classes(path: Path, protocol: Protocol) -> list[str]:
    """The unseen class names a ``file:`` split lists, one a line; the file's own faults
    (missing, unreadable, a class twice) are blamed on the file, not on the data set."""
    advice = f"Give a UTF-8 text file with {protocol.num_unseen} unseen class names, one a line."
    if not path.is_file():
        raise DatasetError(f"split file {path} not found", advice)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or getattr(error, "reason", None) or error
        raise DatasetError(f"cannot read split file {path} ({reason})", advice) from None
    names = [line.strip() for line in text.splitlines() if line.strip()]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DatasetError(f"split file {path} lists {repeated[0]!r} twice", advice)
    return names


def _take(rng: np.random.Generator, pool: np.ndarray, count: int, what: str) -> np.ndarray:
    if len(pool) < count:
        raise DatasetError(
            f"{what} has {len(pool)} images, the protocol needs {count}",
            "Use a data-set file with smaller per-class counts (see README, 'Your own protocol').",
        )
    return np.sort(rng.permutation(pool)[:count])


def check_retrieval(name: str) -> str:
    """A retrieval protocol's name, or a one-line error with the closest known one."""
    if name in RETRIEVAL_PROTOCOLS:
        return name
    import difflib

    close = difflib.get_close_matches(str(name), RETRIEVAL_PROTOCOLS, n=1, cutoff=0.5)
    hint = f"Did you mean {close[0]!r}? " if close else ""
    raise ZshbenchError(
        f"unknown protocol {name!r}", f"{hint}Choose one of {', '.join(RETRIEVAL_PROTOCOLS)}."
    )


def _per_class(
    rng: np.random.Generator,
    imageset: ImageSet,
    classes: list[int],
    pool: np.ndarray,
    count: int,
    kind: str,
) -> np.ndarray:
    """``count`` images of every class in ``classes``, drawn from the indices ``pool``."""
    labels = imageset.labels
    taken = [
        _take(rng, pool[labels[pool] == c], count, f"{kind} class {imageset.class_names[c]!r}")
        for c in classes
    ]
    return np.concatenate(taken) if taken else np.zeros(0, np.int64)


def _seen_queries(
    imageset: ImageSet, protocol: Protocol, seen: list[int], outside: np.ndarray, seed: int
) -> np.ndarray:
    """Held-out seen-class queries (seen@* protocols): ``query_per_unseen_class`` images of
    every seen class that training does not use, drawn with their own stream of the seed."""
    try:
        return _per_class(
            np.random.default_rng([seed, 3]), imageset, seen, outside,
            protocol.query_per_unseen_class, "seen",
        )  # fmt: skip
    except DatasetError as error:
        raise DatasetError(
            f"{imageset.name} cannot give seen-class queries: {error.message}",
            "Seen-class protocols need held-out images of every seen class: use unseen@all or "
            "unseen@unseen, or a data-set file with a smaller train_per_seen_class.",
        ) from None


def _database(
    imageset: ImageSet, retrieval: str, unseen: list[int], train: np.ndarray, query: np.ndarray
) -> np.ndarray:
    """Every image neither trained on nor queried, restricted to the protocol's classes."""
    used = np.zeros(len(imageset), bool)
    used[train] = True
    used[query] = True
    rest = np.flatnonzero(~used)
    in_unseen = np.isin(imageset.labels[rest], unseen)
    if retrieval == "unseen@unseen":
        return rest[in_unseen]
    if retrieval == "seen@seen":
        return rest[~in_unseen]
    return rest


def _validation(
    imageset: ImageSet, protocol: Protocol, seen: list[int], pool: np.ndarray, seed: int
) -> ValidationManifest:
    """Pseudo-unseen seen classes held out for model selection, drawn from ``pool`` (seen
    images that neither train nor are queries)."""
    if not protocol.validation_classes:
        return ValidationManifest()
    if protocol.validation_classes >= len(seen):
        raise DatasetError("validation_classes must be fewer than the seen classes")
    labels = imageset.labels
    val_rng = np.random.default_rng([seed, 2])
    held = sorted(int(c) for c in val_rng.choice(seen, protocol.validation_classes, False))
    val_query = []
    for c in held:
        class_pool = pool[labels[pool] == c]
        count = min(protocol.query_per_unseen_class, len(class_pool) // 2)
        val_query.append(np.sort(val_rng.permutation(class_pool)[:count]))
    val_query_idx = np.concatenate(val_query)
    val_db_idx = np.setdiff1d(pool, val_query_idx)
    cap = protocol.validation_database_per_class
    if cap is not None:
        val_db_idx = np.concatenate(
            [np.sort(val_rng.permutation(val_db_idx[labels[val_db_idx] == c])[:cap]) for c in seen]
        )
        val_db_idx = np.sort(val_db_idx)
    return ValidationManifest(
        classes=[imageset.class_names[c] for c in held],
        query_ids=imageset.image_ids[val_query_idx].tolist(),
        database_ids=imageset.image_ids[val_db_idx].tolist(),
    )


def make_split(
    imageset: ImageSet,
    protocol: Protocol,
    name: str,
    named_splits: dict[str, list[str]] | None = None,
    retrieval: str = DEFAULT_RETRIEVAL,
) -> Split:
    """Build the split ``name`` of ``imageset`` under ``protocol`` (deterministic), with the
    queries and database of the ``retrieval`` protocol (see ``RETRIEVAL_HELP``).

    The classes, the training set and the unseen queries are the same under every protocol;
    the seen-class queries come from their own random stream, so the default protocol's
    split (and its id) is what it always was.
    """
    retrieval = check_retrieval(retrieval)
    base, seed = parse_split_name(name)
    unseen = _unseen_for(imageset, base, seed, named_splits or {}, protocol)
    seen = [c for c in range(imageset.num_classes) if c not in set(unseen)]
    everything = np.arange(len(imageset))
    rng = np.random.default_rng([seed, 1])
    train_idx = _per_class(rng, imageset, seen, everything, protocol.train_per_seen_class, "seen")
    query_idx = _per_class(
        rng, imageset, unseen, everything, protocol.query_per_unseen_class, "unseen"
    )
    outside = np.setdiff1d(everything[np.isin(imageset.labels, seen)], train_idx)
    if retrieval.startswith("seen@"):
        query_idx = _seen_queries(imageset, protocol, seen, outside, seed)
        outside = np.setdiff1d(outside, query_idx)
    database_idx = _database(imageset, retrieval, unseen, train_idx, query_idx)
    split = Split(
        dataset=imageset.name,
        name=name,
        seed=seed,
        seen_classes=[imageset.class_names[c] for c in seen],
        unseen_classes=[imageset.class_names[c] for c in unseen],
        train_ids=imageset.image_ids[train_idx].tolist(),
        query_ids=imageset.image_ids[query_idx].tolist(),
        database_ids=imageset.image_ids[database_idx].tolist(),
        validation=_validation(imageset, protocol, seen, outside, seed),
        protocol=asdict(protocol),
        retrieval=retrieval,
    )
    split.check_disjoint()
    return split


def check_protocol_counts(split: Split, protocol: Protocol) -> None:
    """The counts a data set's entry promises (SPEC §1) must be the counts the split has
    (they describe the paper's protocol, so other retrieval protocols are not held to them)."""
    if split.retrieval != DEFAULT_RETRIEVAL:
        return
    for key, actual in (
        ("expected_train", len(split.train_ids)),
        ("expected_query", len(split.query_ids)),
        ("expected_database", len(split.database_ids)),
    ):
        expected = getattr(protocol, key)
        if expected is not None and expected != actual:
            raise DatasetError(
                f"{split.dataset} split {split.name}: {key[9:]} has {actual} images, "
                f"the protocol says {expected}",
                "The data set on disk is incomplete or not the published one.",
            )


class SplitViews:
    """A split resolved against a loaded data set: index arrays and the method-facing views."""

    def __init__(self, imageset: ImageSet, split: Split):
        if imageset.name != split.dataset:
            raise ZshbenchError(f"split is for {split.dataset}, data set is {imageset.name}")
        position = {image_id: i for i, image_id in enumerate(imageset.image_ids.tolist())}
        try:

            def idx(ids: list[str]) -> np.ndarray:
                return np.array([position[i] for i in ids], dtype=np.int64)

            self.train = idx(split.train_ids)
            self.query = idx(split.query_ids)
            self.database = idx(split.database_ids)
            self.val_query = idx(split.validation.query_ids)
            self.val_database = idx(split.validation.database_ids)
        except KeyError as missing:
            raise DatasetError(
                f"split {split.split_id} names image {missing} that {imageset.name} lacks",
                "The data on disk differs from the one the split was made on.",
            ) from None
        self.imageset = imageset
        self.split = split
        self.seen_index = [imageset.class_index(c) for c in split.seen_classes]

    def train_data(self, topk: int) -> TrainData:
        """Seen-class training data: labels re-indexed to 0..num_seen-1, seen attributes only."""
        imageset = self.imageset
        local = {c: i for i, c in enumerate(self.seen_index)}
        train_labels = np.array([local[c] for c in imageset.labels[self.train]], dtype=np.int64)
        images = ImageView(
            imageset.images, self.train, train_labels, imageset.image_ids[self.train]
        )
        validation = None
        if self.split.validation.classes:
            held = {local[imageset.class_index(c)] for c in self.split.validation.classes}
            fit_positions = np.flatnonzero(~np.isin(train_labels, list(held)))

            def view(indices: np.ndarray) -> ImageView:
                labels = np.array([local[c] for c in imageset.labels[indices]], dtype=np.int64)
                return ImageView(imageset.images, indices, labels, imageset.image_ids[indices])

            validation = ValidationTask(
                classes=list(self.split.validation.classes),
                fit_positions=fit_positions,
                query=view(self.val_query),
                database=view(self.val_database),
                topk=topk,
            )

        def seen_rows(matrix: np.ndarray | None) -> np.ndarray | None:
            return None if matrix is None else np.asarray(matrix)[self.seen_index]

        return TrainData(
            images=images,
            labels=train_labels,
            class_names=list(self.split.seen_classes),
            attribute_names=list(imageset.attribute_names),
            class_attributes=seen_rows(imageset.class_attributes),
            binary_class_attributes=seen_rows(imageset.binary_class_attributes),
            validation=validation,
            dataset=imageset.name,
            paper_family=imageset.paper_family,
        )

    def query_view(self) -> ImageView:
        ids = self.imageset.image_ids[self.query]
        return ImageView(self.imageset.images, self.query, None, ids)

    def database_view(self) -> ImageView:
        ids = self.imageset.image_ids[self.database]
        return ImageView(self.imageset.images, self.database, None, ids)

    @property
    def query_labels(self) -> np.ndarray:
        return self.imageset.labels[self.query]

    @property
    def database_labels(self) -> np.ndarray:
        return self.imageset.labels[self.database]
