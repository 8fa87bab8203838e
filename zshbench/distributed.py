"""Running under ``torchrun`` (PyTorch DDP) without the run engine knowing any method's model.

``torchrun --nproc_per_node N -m zshbench run ...`` starts N copies of the same command, each
with RANK / WORLD_SIZE / LOCAL_RANK in its environment. The harness initialises the process
group here once, so a method that shards its own training (``supports_distributed``) finds it
ready, and every copy agrees on what to do: rank 0 decides, writes and logs; the others follow.
Without those variables (a plain ``zshbench run``) everything here is a no-op.
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

# Rank 0 encodes and evaluates alone while the other ranks wait in a barrier; on a large
# database that takes far longer than torch's default 10-minute collective timeout.
DEFAULT_TIMEOUT = _dt.timedelta(hours=2)


@dataclass(frozen=True)
class WorldInfo:
    """Where this process stands among the ones torchrun started (one process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    # True when init_distributed created the process group, so shutdown() only destroys a
    # group it owns (a caller that set one up itself keeps it).
    owns_group: bool = field(default=False, compare=False, repr=False)

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that logs, writes records and decides for the others."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def summary(self) -> dict[str, Any]:
        """What a result record says about how it was run (backend None when not distributed)."""
        return {"world_size": self.world_size, "backend": self.backend}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def world_from_env() -> WorldInfo:
    """RANK / WORLD_SIZE / LOCAL_RANK as torchrun sets them; 0 / 1 / 0 when they are unset."""
    return WorldInfo(
        rank=_env_int("RANK", 0),
        world_size=_env_int("WORLD_SIZE", 1),
        local_rank=_env_int("LOCAL_RANK", 0),
    )


def rank_device(device: str, info: WorldInfo) -> str:
    """This rank's device: ``cuda:<local rank>`` for CUDA under torchrun, else ``device``.

    Each process on a node must own one GPU; a bare ``cuda`` would put them all on GPU 0.
    """
    if info.distributed and device.startswith("cuda"):
        return f"cuda:{info.local_rank}"
    return device


def init_distributed(device: str) -> WorldInfo:
    """Join the process group torchrun describes in the environment; returns this rank's info.

    NCCL for CUDA, gloo for CPU. A group that already exists is used as it is (and left alone
    by :func:`shutdown`). With WORLD_SIZE 1 or unset nothing is initialised.
    """
    import torch
    import torch.distributed as dist

    info = world_from_env()
    if not dist.is_available():
        if info.distributed:  # pragma: no cover - every torch build we support has it
            raise RuntimeError("torch.distributed is not available in this torch build")
        return info
    if dist.is_initialized():
        return WorldInfo(
            rank=dist.get_rank(),
            world_size=dist.get_world_size(),
            local_rank=info.local_rank,
            backend=str(dist.get_backend()),
        )
    if not info.distributed:
        return info
    cuda = device.startswith("cuda")
    backend = "nccl" if cuda else "gloo"
    if cuda:
        torch.cuda.set_device(info.local_rank)  # NCCL collectives use the current device
    dist.init_process_group(
        backend=backend,
        init_method="env://",
        rank=info.rank,
        world_size=info.world_size,
        timeout=DEFAULT_TIMEOUT,
    )
    return WorldInfo(info.rank, info.world_size, info.local_rank, backend, owns_group=True)


def broadcast_object(obj: T, info: WorldInfo) -> T:
    """Rank 0's ``obj`` on every rank (any picklable object), so all ranks act on one decision."""
    if not info.distributed:
        return obj
    import torch.distributed as dist

    box = [obj if info.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(info: WorldInfo) -> None:
    """Wait until every rank gets here (keeps ranks in step between (bits, seed) runs)."""
    if not info.distributed:
        return
    import torch.distributed as dist

    if info.backend == "nccl":
        dist.barrier(device_ids=[info.local_rank])
    else:
        dist.barrier()


def shutdown(info: WorldInfo) -> None:
    """Destroy the process group if :func:`init_distributed` created it."""
    if not info.owns_group:
        return
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
