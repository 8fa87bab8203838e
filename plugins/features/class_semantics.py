"""Class semantic vectors for the zero-shot linear methods (TSK, AH, OPZH).

Zero-shot hashing transfers from seen to unseen classes through a semantic space shared by
both. The training side of a split offers two, for the *seen* classes only:

* ``"attributes"``: the data set's class-attribute matrix (``TrainData.class_attributes``:
  CUB's 312 part attributes, AWA2's 85 predicates, digits' 17 stroke parts), the attribute
  hashing papers' input. Values below 0 (some AWA2 copies mark "missing" as −1) count as 0.
* ``"word-vectors"``: a text vector of each class name (``"006.Least_Auklet"`` →
  ``"Least Auklet"``) from the core's encoder plugin chosen for the run (``--encoder``; default
  the packaged MiniLM, or GloVe through ``vectors-file``), the word2vec label embedding of
  TSK (Yang et al., 2016).
* ``"auto"``: attributes when the data set has them, else word vectors (CIFAR-10).

Rows are L2-normalised, so classes weigh alike whatever the attribute scale (CUB's 0-100,
digits' 0/1) or the encoder's norm.
"""

from __future__ import annotations

import re

import numpy as np

from zshbench.errors import ZshbenchError
from zshbench.method import RunContext, TrainData

SOURCES = ("auto", "attributes", "word-vectors")


def readable_class_name(name: str) -> str:
    """Text for an encoder: ``"006.Least_Auklet"`` → ``"Least Auklet"``, ``"persian+cat"`` →
    ``"persian cat"``."""
    return re.sub(r"^\d+\.", "", name).replace("_", " ").replace("+", " ").strip()


def class_semantic_vectors(data: TrainData, context: RunContext, source: str) -> np.ndarray:
    """(num_seen, s) float64 unit-norm semantic vectors of the seen classes, in label order."""
    if source not in SOURCES:
        raise ZshbenchError(
            f"semantics must be one of {', '.join(SOURCES)}, not {source!r}",
            "attributes: the data set's class attributes; word-vectors: class-name vectors "
            "from --encoder; auto: attributes when present.",
        )
    if source == "auto":
        source = "attributes" if data.class_attributes is not None else "word-vectors"
    if source == "attributes":
        if data.class_attributes is None:
            raise ZshbenchError(
                f"data set {data.dataset!r} has no class attributes",
                "Use the option semantics=word-vectors (class-name vectors from --encoder).",
            )
        vectors = np.clip(np.asarray(data.class_attributes, dtype=np.float64), 0.0, None)
    else:
        texts = [readable_class_name(name) for name in data.class_names]
        vectors = np.asarray(context.encode_texts(texts), dtype=np.float64)
    if vectors.shape[0] != data.num_classes or not np.isfinite(vectors).all():
        raise ZshbenchError(
            f"class semantic vectors have shape {vectors.shape} or non-finite values",
            f"Expected {data.num_classes} finite rows, one per seen class.",
        )
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if np.any(norms == 0):
        empty = [data.class_names[i] for i in np.flatnonzero(norms[:, 0] == 0)][:3]
        raise ZshbenchError(f"classes with an all-zero semantic vector: {', '.join(empty)}")
    return vectors / norms
