"""Code lengths a method cannot give, refused before the first fit of a sweep.

ITQ and pca-rot need one feature dimension per bit. Learnt at fit time, the limit used to stop
a sweep after its shorter code lengths had trained (ITQ at 128 bits on digits' 64 pixels failed
after 24, 48 and 64). A method tells its limit up front (:meth:`HashingMethod.max_bits`, from
the training images' count and shape, no feature computed); the runner asks it for every
method of a sweep before anything trains.
"""

from __future__ import annotations

from typing import Any

from .errors import ZshbenchError
from .method import HashingMethod, ImageView


def check_code_lengths(
    name: str,
    method_cls: type[HashingMethod],
    bits: list[int],
    options: dict[str, Any],
    train: ImageView,
) -> None:
    """One line naming the longest code ``name`` can give on ``train``, if ``bits`` asks more."""
    method = method_cls(min(bits), **options)
    limit = method.max_bits(train)
    if limit is None:
        return
    too_long = [b for b in bits if b > limit]
    if not too_long:
        return
    feasible = [b for b in bits if b <= limit]
    shown = ",".join(map(str, feasible)) if feasible else str(limit)
    raise ZshbenchError(
        f"{name} can give at most {limit} bits here ({len(train)} training images of shape "
        f"{train.fixed_shape or 'varying'}), not {', '.join(map(str, too_long))}; nothing trained",
        f"Use --bits {shown} or {method.max_bits_hint()}.",
    )
