"""What ``zshbench run`` checks before torch is imported and before any data loads.

A mistyped data set, device or split used to cost the 6-13 s of importing torch (and, for
some, loading the data) before the one-line error came. These checks need only the plugin
registry and the data set's entry, so the error comes within a second, with "did you mean".
"""

from __future__ import annotations

import re
from typing import Any

from .errors import ZshbenchError
from .suggest import did_you_mean

DEVICES = ("auto", "cpu", "cuda")
_CUDA_INDEX = re.compile(r"^cuda:\d+$")


def check_device_name(device: str) -> str:
    """``device`` if it names a torch device zshbench runs on (auto, cpu, cuda, cuda:N)."""
    if device in DEVICES or _CUDA_INDEX.match(device):
        return device
    raise ZshbenchError(
        f"unknown device {device!r}", f"{did_you_mean(device, DEVICES)}Use auto, cpu or cuda."
    )


def check_split_name(name: str | None, spec: Any) -> None:
    """A split the data set can make: random-<seed>, file:<path> or one it names."""
    if name is None:
        return
    from .splits import parse_split_name

    base, _ = parse_split_name(name)
    if base.startswith(("random-", "file:")) or base in spec.named_splits:
        return
    known = ", ".join(["random-<seed>", "file:<path>", *sorted(spec.named_splits)])
    raise ZshbenchError(
        f"unknown split {base!r} for {spec.name}",
        f"{did_you_mean(base, [*spec.named_splits, 'random-0'])}Known: {known}.",
    )


def check_request(request: Any) -> None:
    """The data set, device and split of ``request``, checked without torch or data."""
    from .datasets import resolve_dataset

    check_device_name(request.device)
    spec = resolve_dataset(request.dataset)
    check_split_name(request.split, spec)


def check_declared_options(names: list[str], options: dict[str, Any], plugins: Any) -> None:
    """``options`` against each method's declarations that its spec names in a light module
    (``MethodSpec.options``): a deep method's bad ``-o`` value fails before torch loads."""
    from .options import check_options
    from .registry import resolve_target

    for name in names:
        spec = plugins.methods.get(name)
        where = getattr(spec, "options", None)
        if where:  # named as the class's own check names it: "RAZH option epochs ..."
            owner = spec.target.rpartition(":")[2] if isinstance(spec.target, str) else name
            check_options(owner, resolve_target(where), options)
