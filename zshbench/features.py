"""Image feature extractors: the input of linear hashing methods (LSH, SH, ITQ, ...).

Extractors are plugins (hook ``zshbench_register_extractors``) so a method can hash raw pixels
of small images or the features of a frozen timm backbone, chosen by name.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import numpy as np

from .errors import ZshbenchError
from .method import ImageView, RunContext


class FeatureExtractor(abc.ABC):
    """Maps images to (N, D) float32 features; ``fit`` sees only training images."""

    default_options: ClassVar[dict[str, Any]] = {}

    def __init__(self, **options: Any):
        unknown = set(options) - set(self.default_options)
        if unknown:
            raise ZshbenchError(
                f"{type(self).__name__} has no option {', '.join(sorted(unknown))}",
                f"Its options are: {', '.join(sorted(self.default_options)) or 'none'}.",
            )
        self.options = {**self.default_options, **options}

    def fit(self, images: ImageView, context: RunContext) -> None:
        """Learn anything data-dependent (most extractors need nothing)."""

    @abc.abstractmethod
    def transform(self, images: ImageView, context: RunContext) -> np.ndarray:
        """(len(images), D) float32 features."""


def make_extractor(name: str, **options: Any) -> FeatureExtractor:
    """Build the extractor registered as ``name``."""
    from .plugin_manager import load_plugins

    return load_plugins().extractors.get(name).load()(**options)
