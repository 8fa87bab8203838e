"""Exact, fast hash-code evaluation: mAP@K under a named tie policy, PR, P@N and R@N.

See :mod:`.metrics` for the conventions (SPEC section 2) and the public functions,
:mod:`.codes` for the code formats accepted and stored. The CPU path is numpy only:
:mod:`.hamming` (packed words, XOR + popcount), :mod:`.ranking` (the radius of the K-th item),
:mod:`.ties` (``index``/``random`` on the candidates), :mod:`.expected` (the exact expectation),
:mod:`.relevance`, :mod:`.curves`, and :mod:`.scan`, which runs them over blocks of queries;
:mod:`.torch_path` is imported only for ``device='cuda'``.
"""

from .codes import pack_codes, to_signs, unpack_codes
from .io import load_codes_file
from .metrics import (
    DEFAULT_TIES,
    TIE_POLICIES,
    average_precision_per_query,
    chance_map,
    default_n_grid,
    evaluate,
    hamming_distances,
    mean_average_precision,
    relevance,
)

__all__ = [
    "DEFAULT_TIES",
    "TIE_POLICIES",
    "average_precision_per_query",
    "chance_map",
    "default_n_grid",
    "evaluate",
    "hamming_distances",
    "load_codes_file",
    "mean_average_precision",
    "pack_codes",
    "relevance",
    "to_signs",
    "unpack_codes",
]
