"""Attribute-text encoders: attribute names → vectors, through the encoder plugins.

The default is the packaged MiniLM sentence encoder (offline); a user's own vector file
(e.g. the GloVe vectors the RAZH paper uses) is the ``vectors-file`` encoder.
"""

from __future__ import annotations

from typing import Any

import numpy as np

DEFAULT_ENCODER = "minilm"


def make_encoder(name: str | None = None, **options: Any):
    from .plugin_manager import load_plugins

    return load_plugins().encoders.get(name or DEFAULT_ENCODER).load()(**options)


def encode_texts(texts: list[str], name: str | None = None, **options: Any) -> np.ndarray:
    """(len(texts), D) float32 vectors of ``texts`` by the encoder ``name``."""
    vectors = np.asarray(make_encoder(name, **options).encode(list(texts)), dtype=np.float32)
    if vectors.shape[0] != len(texts):
        raise ValueError(f"encoder returned {vectors.shape[0]} vectors for {len(texts)} texts")
    return vectors
