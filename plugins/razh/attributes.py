"""T^(i) and the attribute text vectors: what the attribute embedding module is fed.

* **T^(i)**, the attributes that describe a class: the data set's binary class-attribute matrix
  where it ships one (AWA2, digits); otherwise the continuous matrix above a cut. The default
  cut is the matrix's global mean, the rule Lampert et al. used to binarise the AWA matrix. A
  class left with no attribute keeps its strongest one, so every image can be matched.
* **RAZH-T** (``attributes="class-names"``): each class's own name is its only attribute, what the
  paper does on CIFAR-10, which has no attributes.
* **Text vectors** come from the core's encoder plugins (``--encoder``; the default is the
  packaged MiniLM, ``--encoder vectors-file --encoder-option path=...`` reads GloVe "w2v").
"""

from __future__ import annotations

import re

import numpy as np

from zshbench.errors import ZshbenchError
from zshbench.method import RunContext, TrainData


def readable_class_name(name: str) -> str:
    """ "006.Least_Auklet" → "Least Auklet", "persian+cat" → "persian cat" (text for an encoder)."""
    return re.sub(r"^\d+\.", "", name).replace("_", " ").replace("+", " ").strip()


def class_attribute_sets(data: TrainData, cut: float | None = None) -> np.ndarray:
    """T^(i) for every seen class as a (C, E) bool matrix (attribute order of the data set)."""
    if data.binary_class_attributes is not None and cut is None:
        sets = np.asarray(data.binary_class_attributes) > 0
        values = np.asarray(
            data.class_attributes if data.class_attributes is not None else sets, dtype=float
        )
    elif data.class_attributes is not None:
        values = np.asarray(data.class_attributes, dtype=float)
        observed = np.where(values < 0, np.nan, values)  # some AWA2 copies mark missing as -1
        threshold = float(np.nanmean(observed)) if cut is None else float(cut)
        sets = np.nan_to_num(observed, nan=-np.inf) > threshold
    else:
        raise ZshbenchError(
            f"data set {data.dataset!r} has no class attributes for RAZH's AEM",
            "Use razh-t (class names as the attributes) or razh-a (no attribute module).",
        )
    empty = ~sets.any(axis=1)
    if empty.any():
        sets[np.flatnonzero(empty), np.argmax(values[empty], axis=1)] = True
    return sets


def attribute_inputs(
    data: TrainData, context: RunContext, source: str, cut: float | None = None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(word vectors (E, D), T^(i) sets (C, E), attribute texts) for the AEM.

    ``source`` is ``"attributes"`` (the data set's attributes) or ``"class-names"`` (RAZH-T).
    """
    if source == "class-names":
        texts = [readable_class_name(name) for name in data.class_names]
        sets = np.eye(len(texts), dtype=bool)
    elif source == "attributes":
        texts = list(data.attribute_names)
        sets = class_attribute_sets(data, cut)
    else:
        raise ZshbenchError(f"attributes must be 'attributes' or 'class-names', not {source!r}")
    vectors = np.asarray(context.encode_texts(texts), dtype=np.float32)
    if not np.isfinite(vectors).all():
        raise ZshbenchError("the attribute text vectors contain NaN or inf", "Check the encoder.")
    return vectors, sets, texts
