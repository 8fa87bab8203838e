"""Per-epoch checkpoints of a training phase, so a killed, preempted or timed-out fit resumes.

After every epoch the engine writes, atomically, one file per phase and rank under the run's
``checkpoint_dir`` (beside the record): the objective's state (network and any learned code
matrix), the optimiser, the learning-rate schedule, the epoch's seeded generator, the model
selector, the history so far and the global RNG states (Python, NumPy, torch). A re-run cell
loads it and goes on from the next epoch, so it ends with the same record as an uninterrupted
fit (CPU). A phase that has finished keeps its file (marked ``finished``) until the record is
written, so a fit killed in a later phase does not train the earlier one again. The runner
removes the folder once the record is written.

The file holds tensors and plain values only and is read with ``torch.load(weights_only=True)``:
a checkpoint is data, never code. One that does not fit the phase (other settings, another
network, a damaged file) is warned about and training starts from epoch 1.
"""

from __future__ import annotations

import dataclasses
import io
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zshbench.results import atomic_write_bytes

FORMAT = 1


def checkpoint_file(folder: Path, label: str, rank: int) -> Path:
    """``<folder>/<phase label as a slug>.rank<R>.pt``."""
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-") or "train"
    return Path(folder) / f"{slug}.rank{rank}.pt"


class EpochCheckpoint:
    """Saves and restores one :class:`~plugins.deep.engine.TrainingLoop` (one phase, one rank).

    ``fingerprint`` is what must match for a checkpoint to be this phase's: the label, the
    epoch plan and the settings.
    """

    def __init__(self, path: Path, fingerprint: str):
        self.path, self.fingerprint = path, fingerprint

    @classmethod
    def of(cls, loop: Any) -> EpochCheckpoint | None:
        folder = loop.context.checkpoint_dir
        if folder is None:
            return None
        fingerprint = repr((loop.label, dataclasses.astuple(loop.plan), repr(loop.settings)))
        return cls(checkpoint_file(folder, loop.label, loop.context.rank), fingerprint)

    def save(self, loop: Any, epoch: int, finished: bool) -> None:
        state = {
            "format": FORMAT,
            "fingerprint": self.fingerprint,
            "epoch": epoch,
            "finished": finished,
            "objective": loop.objective.state_dict(),
            "loose": loose_tensors(loop.objective),
            "optimizer": loop.optimizer.state_dict(),
            "scheduler": loop.scheduler.state_dict(),
            "generator": loop.generator.get_state(),
            "selector": dict(vars(loop.selector)),
            "result": _result_state(loop.result),
            "rng": _rng_state(),
        }
        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write_bytes(self.path, buffer.getvalue())

    def resume(self, loop: Any) -> tuple[int, bool]:
        """Restore ``loop`` from the file if there is a usable one: (the next epoch to run,
        whether the phase had already finished); (1, False) without one."""
        if not self.path.is_file():
            return 1, False
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
            if state.get("format") != FORMAT or state.get("fingerprint") != self.fingerprint:
                raise ValueError("it was written for other settings")
            loop.objective.load_state_dict(state["objective"])
            loop.optimizer.load_state_dict(state["optimizer"])
            loop.scheduler.load_state_dict(state["scheduler"])
            restore_loose_tensors(loop.objective, state["loose"])
        except Exception as error:  # noqa: BLE001 - any unusable file means: start afresh
            first = str(error).splitlines()[0] if str(error) else type(error).__name__
            loop.context.progress.log(
                f"warning: checkpoint {self.path} is not usable ({first[:200]}); "
                "training from epoch 1"
            )
            return 1, False
        loop.generator.set_state(state["generator"])
        vars(loop.selector).update(state["selector"])
        _restore_result(loop.result, state["result"], loop.stats_type)
        _restore_rng(state["rng"])
        epoch = int(state["epoch"])
        loop.context.progress.log(f"{loop.label}: resumed from the checkpoint of epoch {epoch}")
        return epoch + 1, bool(state["finished"])


def loose_tensors(objective: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Tensors an objective keeps outside its state dict (DPSH's code memory, ADSH's database
    codes, a label copy made at the first epoch): plain tensor attributes of every module, and
    of plain objects they hold, keyed ``module.attribute[.attribute]``."""
    found: dict[str, torch.Tensor] = {}
    for prefix, module in objective.named_modules():
        for name, value in vars(module).items():
            key = f"{prefix}:{name}"
            if isinstance(value, torch.Tensor):
                found[key] = value
            elif hasattr(value, "__dict__") and not isinstance(value, (torch.nn.Module, type)):
                for inner, item in vars(value).items():
                    if isinstance(item, torch.Tensor):
                        found[f"{key}.{inner}"] = item
    return found


def restore_loose_tensors(objective: torch.nn.Module, values: dict[str, torch.Tensor]) -> None:
    modules = dict(objective.named_modules())
    for key, value in values.items():
        prefix, path = key.split(":", 1)
        owner: Any = modules[prefix]
        *parents, name = path.split(".")
        for parent in parents:
            owner = getattr(owner, parent)
        current = getattr(owner, name, None)
        device = current.device if isinstance(current, torch.Tensor) else value.device
        setattr(owner, name, value.to(device))


def _result_state(result: Any) -> dict[str, Any]:
    values = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
    values["history"] = [dataclasses.asdict(stats) for stats in result.history]
    return values


def _restore_result(result: Any, values: dict[str, Any], stats_type: type) -> None:
    """``stats_type``: the engine's per-epoch figures (passed in: the engine imports this)."""
    for key, value in values.items():
        setattr(result, key, value)
    result.history = [stats_type(**stats) for stats in values["history"]]


def _rng_state() -> dict[str, Any]:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    state = {
        "python": [version, list(internal), gauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_rng(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
