"""Attribute-text encoders: attribute names → vectors, through the encoder plugins.

The default is the packaged MiniLM sentence encoder (offline); a user's own vector file
(e.g. the GloVe vectors the RAZH paper uses) is the ``vectors-file`` encoder.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .options import merge_options

DEFAULT_ENCODER = "minilm"


class TextEncoder:
    """Base of attribute-text encoders: keyword options in, ``encode(texts)`` out."""

    default_options: ClassVar[dict[str, Any]] = {}

    def __init__(self, **options: Any):
        self.options = merge_options(type(self).__name__, self.default_options, options)

    def encode(self, texts: list[str]) -> np.ndarray:  # pragma: no cover - interface
        """(len(texts), D) float32 vectors, one row per text, in order."""
        raise NotImplementedError


def make_encoder(name: str | None = None, **options: Any):
    from .plugin_manager import load_plugins

    return load_plugins().encoders.get(name or DEFAULT_ENCODER).load()(**options)


def encode_texts(texts: list[str], name: str | None = None, **options: Any) -> np.ndarray:
    """(len(texts), D) float32 vectors of ``texts`` by the encoder ``name``."""
    vectors = np.asarray(make_encoder(name, **options).encode(list(texts)), dtype=np.float32)
    if vectors.shape[0] != len(texts):
        raise ValueError(f"encoder returned {vectors.shape[0]} vectors for {len(texts)} texts")
    return vectors
