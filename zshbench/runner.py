"""The run engine: train once per (bits, seed), encode, evaluate, write one record each.

Everything about a run that could change a number goes into its record: method config, split
id, tie policy, seeds, versions, device, timings. Finished records are skipped on a re-run
unless ``overwrite`` (a long sweep resumes by running it again).

Under ``torchrun`` every process runs this same loop: rank 0 decides which records are done
and broadcasts it, every rank trains (a ``supports_distributed`` method shards its training,
any other is trained whole by each rank), and rank 0 alone encodes, evaluates, writes and logs.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import platform
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .datasets import load_dataset, resolve_dataset
from .distributed import (
    WorldInfo,
    barrier,
    broadcast_object,
    init_distributed,
    rank_device,
    shutdown,
    world_from_env,
)
from .errors import TrainingError, ZshbenchError
from .method import HashingMethod, ImageView, Progress, RunContext
from .plugin_manager import load_plugins
from .results import (
    atomic_write_bytes,
    atomic_write_text,
    record_path,
    split_manifest_path,
    write_record,
)
from .splits import Split, SplitViews, check_protocol_counts, make_split


@dataclass
class RunRequest:
    """What ``zshbench run`` was asked to do."""

    method: str
    dataset: str
    bits: list[int]
    seeds: list[int] = field(default_factory=lambda: [0])
    split: str | None = None
    device: str = "auto"
    data_root: str | None = None
    data_options: dict[str, Any] = field(default_factory=dict)
    results_dir: Path = Path("results")
    overwrite: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    run_name: str | None = None
    encoder: str | None = None
    encoder_options: dict[str, Any] = field(default_factory=dict)
    topk: int = 5000
    ties: str = "expected"
    save_codes: bool = False


def parse_bits(text: str) -> list[int]:
    """``"24,48,64,128"`` → [24, 48, 64, 128], with a clear error for anything else."""
    try:
        bits = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ZshbenchError(
            f"bad bit list {text!r}", "Give code lengths as positive integers, e.g. 24,48,64,128."
        ) from None
    if not bits or any(b <= 0 or b > 4096 for b in bits) or len(set(bits)) != len(bits):
        raise ZshbenchError(
            f"bad bit list {text!r}",
            "Give distinct code lengths between 1 and 4096, e.g. 24,48,64,128.",
        )
    return bits


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        seeds = []
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ZshbenchError(f"bad seed list {text!r}", "Give distinct integers ≥ 0, e.g. 0,1,2.")
    return seeds


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ZshbenchError(
            "--device cuda was asked for but no CUDA GPU is visible",
            "Use --device auto or --device cpu.",
        )
    if device != "cpu" and not device.startswith("cuda"):
        raise ZshbenchError(f"unknown device {device!r}", "Use auto, cpu or cuda.")
    return device


def default_run_name(method: str, options: dict[str, Any]) -> str:
    """The method name, plus a short hash of non-default options so variants never collide."""
    if not options:
        return method
    digest = hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode())
    return f"{method}@{digest.hexdigest()[:8]}"


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def environment(device: str) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "zshbench": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "platform": platform.platform(),
        "device": device,
    }
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(device)
    try:
        import timm

        info["timm"] = timm.__version__
    except ImportError:  # pragma: no cover - timm is a dependency
        pass
    return info


def prepare_split(
    request: RunRequest, progress: Progress, write_manifest: bool = True
) -> tuple[SplitViews, Any]:
    """Load the data set, make (or reuse) the split manifest and check it.

    ``write_manifest`` False (ranks other than 0) only checks a manifest that is there, so
    concurrent ranks never write the same file.
    """
    spec = resolve_dataset(request.dataset)
    imageset = load_dataset(spec, request.data_root, **request.data_options)
    split_name = request.split or spec.default_split
    split = make_split(imageset, spec.protocol, split_name, spec.named_splits)
    check_protocol_counts(split, spec.protocol)
    manifest = split_manifest_path(request.results_dir, imageset.name, split.split_id)
    if manifest.exists():
        saved = Split.from_json(manifest.read_text())
        if saved.split_id != split.split_id:  # pragma: no cover - id is the content hash
            raise ZshbenchError(f"saved split {manifest} differs from the one made now")
    elif write_manifest:
        atomic_write_text(manifest, split.to_json())
    progress.log(
        f"{imageset.name} split {split.split_id}: {len(split.train_ids)} train, "
        f"{len(split.query_ids)} query, {len(split.database_ids)} database"
    )
    return SplitViews(imageset, split), spec


def _encode(
    method: HashingMethod, images: ImageView, context: RunContext, bits: int, name: str, what: str
) -> np.ndarray:
    """The method's codes for ``images``, checked: {-1,+1} (or {0,1}), finite, (N, bits)."""
    from .evaluation.codes import to_signs

    with context.progress.task(f"encode {what} ({len(images)} images)"):
        codes = method.encode(images, context)
    try:
        signs = to_signs(codes)
    except ZshbenchError as error:
        raise TrainingError(
            f"{name} returned invalid codes: {error.message}",
            "A NaN here usually means training diverged; lower the lr.",
        ) from None
    if signs.shape != (len(images), bits):
        raise TrainingError(
            f"{name} returned codes of shape {signs.shape}, expected {(len(images), bits)}"
        )
    return signs


def artifact_files(folder: Path | None) -> list[str]:
    """Files a method wrote under its artifact folder, relative and sorted ([] if none)."""
    if folder is None or not folder.is_dir():
        return []
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def run(request: RunRequest, progress: Progress | None = None) -> list[Path]:
    """Run every (bits, seed) of ``request``; returns the record paths (existing ones too).

    Under torchrun (WORLD_SIZE > 1) this joins the process group, runs in step with the other
    ranks and returns the same paths on every rank; only rank 0 writes them and logs.
    """
    world = world_from_env()
    if not world.is_main:
        progress = Progress()  # one log and one set of bars, from rank 0
    progress = progress or Progress()
    plugins = load_plugins()
    for broken in plugins.broken:
        progress.log(
            f"warning: plugin {broken.name!r} from {broken.source} failed to load and "
            f"was skipped: {broken.error}"
        )
    try:
        method_spec = plugins.methods.get(request.method)
    except ZshbenchError as error:
        if plugins.broken:
            names = ", ".join(repr(b.name) for b in plugins.broken)
            error.hint = f"{error.hint} (Plugins that failed to load: {names}.)"
        raise
    method_cls = method_spec.load()
    method_cls(request.bits[0], **request.options)  # bad options fail before data loads
    device = resolve_device(request.device)
    world = init_distributed(device)
    try:
        if world.distributed and not getattr(method_cls, "supports_distributed", False):
            progress.log(
                f"warning: {request.method} does not support distributed training; each of "
                f"the {world.world_size} processes trains the whole method itself "
                "(no data parallelism)"
            )
        return _run_all(
            request, progress, plugins, method_spec, method_cls,
            rank_device(device, world), world,
        )  # fmt: skip
    finally:
        shutdown(world)


def _run_all(
    request: RunRequest,
    progress: Progress,
    plugins: Any,
    method_spec: Any,
    method_cls: type[HashingMethod],
    device: str,
    world: WorldInfo,
) -> list[Path]:
    """The (bits, seed) loop of :func:`run`, on one rank."""
    from .evaluation.codes import pack_codes
    from .evaluation.metrics import evaluate

    views, _ = prepare_split(request, progress, write_manifest=world.is_main)
    split = views.split
    main_split_id = broadcast_object(split.split_id, world)
    if main_split_id != split.split_id:
        raise ZshbenchError(
            f"rank {world.rank} made split {split.split_id}, rank 0 made {main_split_id}",
            "Every process must see the same data set; check --data-root on each node.",
        )
    run_name = request.run_name or default_run_name(request.method, request.options)
    jobs = [
        (bits, seed, record_path(
            request.results_dir, split.dataset, split.split_id, run_name, bits, seed,
            request.ties, request.topk,
        ))
        for bits in request.bits
        for seed in request.seeds
    ]  # fmt: skip
    # Rank 0 alone looks at the disk, so a record it writes meanwhile never splits the ranks.
    done = broadcast_object(
        [path.exists() and not request.overwrite for _, _, path in jobs] if world.is_main else [],
        world,
    )
    written = []
    for (bits, seed, path), skip in zip(jobs, done, strict=True):
        if skip:
            progress.log(
                f"{run_name} {bits} bits seed {seed}: done already, skipped (--overwrite redoes it)"
            )
            written.append(path)
            continue
        seed_everything(seed)
        context = RunContext(
            device=device,
            seed=seed,
            progress=progress,
            checkpoint_dir=path.parent / f".checkpoints-bits{bits}-seed{seed}",
            encoder=request.encoder,
            encoder_options=request.encoder_options,
            rank=world.rank,
            world_size=world.world_size,
            artifact_dir=path.with_name(path.stem + "-files"),
            cache_dir=Path(request.results_dir) / split.dataset / split.split_id / ".cache",
        )
        method = method_cls(bits, **request.options)
        label = f"{run_name} {bits} bits seed {seed}"
        started = time.perf_counter()
        with progress.task(f"train {label}"):
            method.fit(views.train_data(request.topk), context)
        fitted = time.perf_counter()
        barrier(world)  # every rank has trained, so every rank's artifacts are written
        if not world.is_main:
            barrier(world)  # while rank 0 encodes, evaluates and writes the record
            written.append(path)
            continue
        query_codes = _encode(method, views.query_view(), context, bits, request.method, "queries")
        db_codes = _encode(method, views.database_view(), context, bits, request.method, "database")
        encoded = time.perf_counter()
        artifacts = artifact_files(context.artifact_dir)
        metrics = evaluate(
            query_codes,
            views.query_labels,
            db_codes,
            views.database_labels,
            topk=request.topk,
            ties=request.ties,
            seed=seed,
            device=device,
        )
        evaluated = time.perf_counter()
        curves = {key: metrics.pop(key) for key in ("pr_curve", "p_at_n", "r_at_n")}
        record = {
            "method": request.method,
            "run_name": run_name,
            "method_source": plugins.methods.source(request.method),
            "method_family": method_spec.family,
            "dataset": split.dataset,
            "split": split.summary(),
            "bits": bits,
            "seed": seed,
            "config": method.config(),
            "encoder": request.encoder,
            "tie_policy": request.ties,
            "topk": request.topk,
            "metrics": metrics,
            "curves": curves,
            "timings": {
                "fit_s": round(fitted - started, 4),
                "encode_s": round(encoded - fitted, 4),
                "evaluate_s": round(evaluated - encoded, 4),
            },
            "environment": environment(device),
            "distributed": world.summary(),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        if artifacts:
            record["artifacts"] = artifacts
        if request.save_codes:
            codes_path = path.with_suffix(".codes.npz")
            packed = io.BytesIO()
            np.savez_compressed(
                packed,
                query_codes=pack_codes(query_codes),
                db_codes=pack_codes(db_codes),
                bits=np.array(bits),
                query_labels=views.query_labels,
                db_labels=views.database_labels,
            )
            atomic_write_bytes(codes_path, packed.getvalue())
            record["codes_file"] = codes_path.name
        write_record(path, record)
        key = next(k for k in metrics if k.startswith("map@"))
        progress.log(
            f"{label}: {key} = {metrics[key]:.4f}  ({record['timings']['fit_s']:.1f} s training)"
        )
        barrier(world)
        written.append(path)
    return written
