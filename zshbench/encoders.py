"""Attribute-text encoders: attribute names → vectors, through the encoder plugins.

The default is the packaged MiniLM sentence encoder (offline); a user's own vector file
(e.g. the GloVe vectors the RAZH paper uses) is the ``vectors-file`` encoder.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .options import check_options
from .plugin_manager import load_plugins

DEFAULT_ENCODER = "minilm"


class TextEncoder:
    """Base of attribute-text encoders: keyword options in, ``encode(texts)`` out."""

    default_options: ClassVar[dict[str, Any]] = {}

    def __init__(self, **options: Any):
        self.options = check_options(type(self).__name__, self.default_options, options)

    def encode(self, texts: list[str]) -> np.ndarray:  # pragma: no cover - interface
        """(len(texts), D) float32 vectors, one row per text, in order."""
        raise NotImplementedError


def encoder_class(name: str | None = None) -> type[TextEncoder]:
    """The :class:`TextEncoder` subclass registered as ``name`` (default: minilm)."""
    return load_plugins().encoders.load(name or DEFAULT_ENCODER, TextEncoder)


def check_encoder_options(name: str | None, options: dict[str, Any]) -> dict[str, Any]:
    """The encoder's options checked against its declarations (the runner checks them before
    any data loads; the encoder checks them again when it is built)."""
    owner = f"encoder {name or DEFAULT_ENCODER}"
    return check_options(owner, encoder_class(name).default_options, options)


def make_encoder(name: str | None = None, **options: Any) -> TextEncoder:
    return encoder_class(name)(**options)


def encode_texts(texts: list[str], name: str | None = None, **options: Any) -> np.ndarray:
    """(len(texts), D) float32 vectors of ``texts`` by the encoder ``name``."""
    vectors = np.asarray(make_encoder(name, **options).encode(list(texts)), dtype=np.float32)
    if vectors.shape[0] != len(texts):
        raise ValueError(f"encoder returned {vectors.shape[0]} vectors for {len(texts)} texts")
    return vectors
