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
import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .code_lengths import check_code_lengths
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
from .encoders import DEFAULT_ENCODER, check_encoder_options
from .errors import DatasetError, TrainingError, ZshbenchError
from .method import HashingMethod, ImageView, Progress, RunContext
from .plugin_manager import load_plugins
from .record import Distributed, Environment, Record, SplitInfo, Timings, measured_metrics
from .results import (
    RecordLock,
    atomic_write_bytes,
    atomic_write_text,
    check_run_name,
    check_writable,
    record_is_done,
    record_path,
    remove_stale_temporaries,
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
    protocol: str = "unseen@all"
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
        bits = [int(part) for part in text.split(",")]  # an empty part (24,,48) is refused
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


#: Seeds are 32-bit: what every random generator zshbench and its methods seed accepts.
MAX_SEED = 2**32 - 1


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        seeds = []
    if not seeds or any(s < 0 or s > MAX_SEED for s in seeds) or len(set(seeds)) != len(seeds):
        raise ZshbenchError(
            f"bad seed list {text!r}", f"Give distinct integers from 0 to {MAX_SEED}, e.g. 0,1,2."
        )
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


def environment(device: str) -> Environment:
    """The versions and device a record is made with."""
    import torch

    try:
        import timm

        timm_version: str | None = timm.__version__
    except ImportError:  # pragma: no cover - timm is a dependency
        timm_version = None
    return Environment(
        zshbench=__version__,
        python=platform.python_version(),
        numpy=np.__version__,
        torch=torch.__version__,
        timm=timm_version,
        platform=platform.platform(),
        device=device,
        gpu=torch.cuda.get_device_name(device) if device.startswith("cuda") else None,
    )


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
    split = make_split(imageset, spec.protocol, split_name, spec.named_splits, request.protocol)
    check_protocol_counts(split, spec.protocol)
    manifest = split_manifest_path(request.results_dir, imageset.name, split.split_id)
    if manifest.exists() and not _manifest_matches(manifest, split) and write_manifest:
        atomic_write_text(manifest, split.to_json())
    elif not manifest.exists() and write_manifest:
        atomic_write_text(manifest, split.to_json())
    progress.log(
        f"{imageset.name} split {split.split_id}: {len(split.train_ids)} train, "
        f"{len(split.query_ids)} query, {len(split.database_ids)} database"
    )
    return SplitViews(imageset, split), spec


def _manifest_matches(manifest: Any, split: Split) -> bool:
    """True if the saved manifest is this split; a corrupt one is warned about (and rewritten:
    the data set just gave the same split, so nothing is lost)."""
    if manifest.is_dir():
        raise ZshbenchError(
            f"a folder is where the split manifest {manifest} belongs",
            "Move it away and run the same command again.",
        )
    try:
        saved = Split.from_json(manifest.read_text(encoding="utf-8"))
        if saved.split_id == split.split_id:
            return True
        problem = f"holds split {saved.split_id}"
    except ZshbenchError as error:
        problem = error.message
    except (OSError, ValueError, TypeError, RecursionError) as error:
        problem = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    warnings.warn(
        f"split manifest {manifest} is corrupt ({problem}); writing it again from the data set",
        stacklevel=2,
    )
    return False


def warn_if_collapsed(name: str, bits: int, database_codes: np.ndarray) -> None:
    """One line when every database image got the same code: the mAP is then exactly the
    chance level, a training that collapsed (a diverged loss), not a weak method."""
    if len(database_codes) > 1 and bool((database_codes == database_codes[:1]).all()):
        warnings.warn(
            f"{name} {bits} bits gave all {len(database_codes)} database images the same code, "
            "so its mAP is the chance level: the training collapsed (try a lower -o lr)",
            stacklevel=2,
        )


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


# Names ``--method`` accepts besides method names: every method of a family (or all of them).
FAMILIES = ("deep", "linear", "zero-shot", "all")


def expand_methods(text: str, plugins: Any) -> list[str]:
    """``"razh"``, ``"lsh,itq"`` or a family (``deep``, ``linear``, ``zero-shot``: the methods
    registered as designed for zero-shot hashing, ``all``) → method names, in the given order
    (a family's in name order), each once; an unknown name is one line listing the families."""
    names: list[str] = []
    by_lower = {name.lower(): name for name in plugins.methods.names()}  # ITQ, Itq: itq
    for token in (part.strip() for part in str(text).split(",")):
        if not token:
            continue
        token = by_lower.get(token.lower(), token)
        if token in plugins.methods:
            found = [token]
        elif token in FAMILIES:
            found = [
                name
                for name, spec, _ in plugins.methods.items()
                if token == "all"
                or (token == "zero-shot" and getattr(spec, "zero_shot", False))
                or getattr(spec, "family", None) == token
            ]
        else:
            plugins.methods.get(token)  # the usual one-line "unknown method" error
            found = []
        names += [name for name in found if name not in names]
    if not names:
        raise ZshbenchError(
            f"--method {text!r} names no method",
            f"Give method names (zshbench list methods) or a family: {', '.join(FAMILIES)}.",
        )
    return names


def run_methods(request: RunRequest, progress: Progress | None = None) -> list[Path]:
    """``run`` for every method ``request.method`` names (a name, a comma list or a family).

    Every method's options are checked before the first one trains, so a sweep never stops
    half-way over an option one of its methods does not take, nor over a code length one of
    them cannot give (:mod:`zshbench.code_lengths`). ``--name`` needs one method. A method that
    fails for a reason only its fit finds (e.g. ITQ asked for more bits than a timm extractor's
    dimensions) is reported in one line and the sweep goes on with the others; the command
    then fails naming every method that did. A missing or malformed data set stops at once: it
    would fail every method alike.
    """
    from .preflight import check_declared_options, check_request

    plugins = load_plugins()
    names = expand_methods(request.method, plugins)
    check_request(request)  # data set, device, split: before torch is imported
    check_declared_options(names, request.options, plugins)  # a deep method's, too
    if len(names) == 1:
        return run(replace(request, method=names[0]), progress)
    if request.run_name:
        raise ZshbenchError(
            f"--name {request.run_name!r} given for {len(names)} methods",
            "Name runs one method at a time, or leave --name out (each method gets its own).",
        )
    for name in names:
        plugins.methods.load(name, HashingMethod)(request.bits[0], **request.options)
    check_writable(Path(request.results_dir))  # fails every method alike: stop before the first
    train = prepare_split(request, Progress(), write_manifest=False)[0].train_data(request.topk)
    for name in names:  # a code length one method cannot give: refused before any trains
        cls = plugins.methods.load(name, HashingMethod)
        check_code_lengths(name, cls, request.bits, request.options, train.images)
    paths: list[Path] = []
    failed: list[tuple[str, ZshbenchError]] = []
    progress = progress or Progress()
    cells = len(request.bits) * len(request.seeds)
    # The sweep's bar counts every record of every method, so its ETA covers the whole sweep.
    with progress.task(f"{len(names)} methods: records", total=len(names) * cells) as advance:
        counted = 0

        def one_record() -> None:
            nonlocal counted
            counted += 1
            advance(1)

        for done, name in enumerate(names, start=1):
            try:
                paths += run(replace(request, method=name), progress, on_record=one_record)
            except DatasetError:
                raise
            except ZshbenchError as error:
                failed.append((name, error))
                progress.log(f"error: {name}: {error.one_line()} Going on with the other methods.")
            advance(done * cells - counted)  # records found done already, or a failed method's
            counted = done * cells
    if failed:
        listed = "; ".join(f"{name} ({error.message.rstrip('.')})" for name, error in failed)
        raise ZshbenchError(
            f"{len(failed)} of {len(names)} methods failed: {listed}",
            f"The other methods' {len(paths)} record(s) are written; fix these and run the same "
            "command again (finished records are skipped).",
        )
    return paths


def run(
    request: RunRequest,
    progress: Progress | None = None,
    on_record: Callable[[], None] | None = None,
) -> list[Path]:
    """Run every (bits, seed) of ``request``; returns the record paths (existing ones too).
    ``on_record`` is called after each record this call writes (a sweep's outer bar).

    Under torchrun (WORLD_SIZE > 1) this joins the process group, runs in step with the other
    ranks and returns the same paths on every rank; only rank 0 writes them and logs.
    """
    world = world_from_env()
    if not world.is_main:
        progress = Progress()  # one log and one set of bars, from rank 0
    progress = progress or Progress()
    plugins = load_plugins()
    for line in plugins.warnings():
        progress.log(f"warning: {line}")
    try:
        method_spec = plugins.methods.get(request.method)
    except ZshbenchError as error:
        if plugins.broken:
            names = ", ".join(repr(b.name) for b in plugins.broken)
            error.hint = f"{error.hint} (Plugins that failed to load: {names}.)"
        raise
    method_cls = plugins.methods.load(request.method, HashingMethod)
    # Everything a user typed is checked before any data loads or any training starts.
    check_run_name(request.run_name or default_run_name(request.method, request.options))
    method_cls(request.bits[0], **request.options)
    request = _checked_encoder(request, method_cls, progress)
    if world.is_main:
        check_writable(request.results_dir)
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
            rank_device(device, world), world, on_record,
        )  # fmt: skip
    finally:
        RecordLock.release_all()  # a failed or interrupted record's lock, too
        shutdown(world)


def _checked_encoder(
    request: RunRequest, method_cls: type[HashingMethod], progress: Progress
) -> RunRequest:
    """``request`` with its encoder options checked against the encoder's declarations.

    Encoder flags given to a method that does not declare ``uses_text_encoder`` are never
    silently ignored: a warning says so (they still reach the method's context).
    """
    if not (method_cls.uses_text_encoder or request.encoder or request.encoder_options):
        return request
    if not method_cls.uses_text_encoder:
        progress.log(
            f"warning: {request.method} does not read the attribute-text encoder (it does not "
            "set uses_text_encoder), so --encoder and --encoder-option have no effect on it"
        )
    return replace(
        request,
        encoder_options=check_encoder_options(request.encoder, request.encoder_options),
    )


def _claimed_jobs(
    jobs: list[tuple[int, int, Path]],
    request: RunRequest,
    progress: Progress,
    world: WorldInfo,
    run_name: str,
    written: list[Path],
) -> Iterator[tuple[int, int, Path]]:
    """The (bits, seed, path) jobs this process must run, each while holding its record's lock.

    Rank 0 alone looks at the disk and takes the lock, and tells the other ranks what to do, so
    a record written meanwhile never splits the ranks. A usable record is skipped (and counted
    in ``written``); an unusable one is redone with a warning; a record another process is
    running now is skipped. Stale temporary files of a claimed record are removed first.
    """
    for bits, seed, path in jobs:
        lock = RecordLock(path)
        decision = "run"
        if world.is_main:
            if not lock.acquire():
                decision = "locked"
            elif not request.overwrite and record_is_done(path):
                decision = "done"
                lock.release()
        decision = broadcast_object(decision, world)
        label = f"{run_name} {bits} bits seed {seed}"
        if decision == "done":
            progress.log(f"{label}: done already, skipped (--overwrite redoes it)")
            written.append(path)
            continue
        if decision == "locked":
            progress.log(f"{label}: another process is running it now ({lock.path}), skipped")
            continue
        if world.is_main:
            remove_stale_temporaries(path)  # left by a process killed while writing it
        try:
            yield bits, seed, path
        finally:
            lock.release()


@dataclass(frozen=True)
class _Run:
    """What every (bits, seed) of one run shares, on one rank."""

    request: RunRequest
    progress: Progress
    method_cls: type[HashingMethod]
    method_source: str
    method_family: str
    device: str
    world: WorldInfo
    views: SplitViews
    run_name: str
    encoder: str | None  # the attribute-text encoder the method reads, if it reads one


def _run_all(
    request: RunRequest,
    progress: Progress,
    plugins: Any,
    method_spec: Any,
    method_cls: type[HashingMethod],
    device: str,
    world: WorldInfo,
    on_record: Callable[[], None] | None = None,
) -> list[Path]:
    """The (bits, seed) loop of :func:`run`, on one rank."""
    uses_encoder = method_cls.uses_text_encoder
    setup = _Run(
        request=request,
        progress=progress,
        method_cls=method_cls,
        method_source=plugins.methods.source(request.method),
        method_family=method_spec.family,
        device=device,
        world=world,
        views=_agreed_split(request, progress, world),
        run_name=request.run_name or default_run_name(request.method, request.options),
        encoder=(request.encoder or DEFAULT_ENCODER) if uses_encoder else request.encoder,
    )
    train = setup.views.train_data(request.topk).images
    check_code_lengths(request.method, method_cls, request.bits, request.options, train)
    written: list[Path] = []
    jobs = _jobs(setup)
    # The outer bar counts every record of the sweep, so its ETA covers the whole of it.
    with progress.task(f"{setup.run_name}: records", total=len(jobs)) as advance:
        for bits, seed, path in _claimed_jobs(
            jobs, request, progress, world, setup.run_name, written
        ):
            _run_one(setup, bits, seed, path)
            written.append(path)
            advance(1)
            if on_record is not None:
                on_record()
    return written


def _agreed_split(request: RunRequest, progress: Progress, world: WorldInfo) -> SplitViews:
    """The split of the data set, the same on every rank (or a one-line error)."""
    views, _ = prepare_split(request, progress, write_manifest=world.is_main)
    split = views.split
    main_split_id = broadcast_object(split.split_id, world)
    if main_split_id != split.split_id:
        raise ZshbenchError(
            f"rank {world.rank} made split {split.split_id}, rank 0 made {main_split_id}",
            "Every process must see the same data set; check --data-root on each node.",
        )
    return views


def _jobs(setup: _Run) -> list[tuple[int, int, Path]]:
    """(bits, seed, record path) of every record the run asks for, in order."""
    request, split = setup.request, setup.views.split
    return [
        (bits, seed, record_path(
            request.results_dir, split.dataset, split.split_id, setup.run_name, bits, seed,
            request.ties, request.topk,
        ))
        for bits in request.bits
        for seed in request.seeds
    ]  # fmt: skip


@dataclass(frozen=True)
class _Cell:
    """One (bits, seed) of a run and where its record goes."""

    bits: int
    seed: int
    path: Path
    log: Any = None  # rank 0's LoggedProgress: committed with the record, never before

    @property
    def label(self) -> str:
        return f"{self.bits} bits seed {self.seed}"


def _run_one(setup: _Run, bits: int, seed: int, path: Path) -> None:
    """Train, then (rank 0) encode, evaluate and write the record of one (bits, seed).

    Rank 0's log is staged and renamed into place just before the record is: an attempt that
    fails or is interrupted leaves an existing record and its log as they were."""
    from .progress import LoggedProgress

    log = (
        LoggedProgress(setup.progress, path.with_suffix(".log"), held=True)
        if setup.world.is_main
        else None
    )
    try:
        _run_cell(setup, _Cell(bits, seed, path, log))
    finally:
        if log is not None and (kept := log.settle(kept_record=path.is_file())) is not None:
            if kept != log.path:
                setup.progress.log(f"the unfinished attempt's log is kept in {kept}")


def _run_cell(setup: _Run, cell: _Cell) -> None:
    seed, path = cell.seed, cell.path
    seed_everything(seed)
    started = time.perf_counter()
    method, context = _train(setup, cell)
    fitted = time.perf_counter()
    barrier(setup.world)  # every rank has trained, so every rank's artifacts are written
    if not setup.world.is_main:
        barrier(setup.world)  # while rank 0 encodes, evaluates and writes the record
        return
    record = _measure(setup, cell, method, context, (started, fitted))
    write_record(path, record, before_replace=cell.log.commit if cell.log else None)
    if context.checkpoint_dir is not None:  # a resumable fit's checkpoints are done with
        shutil.rmtree(context.checkpoint_dir, ignore_errors=True)
    setup.progress.log(
        f"{setup.run_name} {cell.label}: {record.map_key} = {100 * record.map_value:.2f} %"
        f"  ({record.timings.fit_s:.1f} s training)"
    )
    barrier(setup.world)


def _train(setup: _Run, cell: _Cell) -> tuple[HashingMethod, RunContext]:
    """The method trained on the split's training side, and the context it was trained in.

    Everything logged while rank 0 trains, live figures included, also goes to the record's
    log file (``bits<B>-seed<S>.log``).
    """
    request, world, split = setup.request, setup.world, setup.views.split
    bits, seed, path = cell.bits, cell.seed, cell.path
    record_progress = cell.log or setup.progress
    context = RunContext(
        device=setup.device,
        seed=seed,
        progress=record_progress,
        checkpoint_dir=path.parent / f".checkpoints-bits{bits}-seed{seed}",
        encoder=request.encoder,
        encoder_options=request.encoder_options,
        rank=world.rank,
        world_size=world.world_size,
        artifact_dir=path.with_name(path.stem + "-files"),
        cache_dir=Path(request.results_dir) / split.dataset / split.split_id / ".cache",
        overwrite=request.overwrite,
    )
    method = setup.method_cls(bits, **request.options)
    try:
        with setup.progress.task(f"train {setup.run_name} {cell.label}"):
            method.fit(setup.views.train_data(request.topk), context)
    finally:
        if cell.log is not None:
            cell.log.close()  # held: committed with the record
    return method, context


def _measure(
    setup: _Run,
    cell: _Cell,
    method: HashingMethod,
    context: RunContext,
    clock: tuple[float, float],
) -> Record:
    """Encode queries and database, evaluate them, and the record of it (the codes saved
    beside it if asked); ``clock`` is the time before and after training."""
    from .evaluation.metrics import chance_map, evaluate

    request, views, name = setup.request, setup.views, setup.request.method
    bits, (started, fitted) = cell.bits, clock
    query_codes = _encode(method, views.query_view(), context, bits, name, "queries")
    db_codes = _encode(method, views.database_view(), context, bits, name, "database")
    warn_if_collapsed(name, bits, db_codes)
    encoded = time.perf_counter()
    scores = evaluate(
        query_codes,
        views.query_labels,
        db_codes,
        views.database_labels,
        topk=request.topk,
        ties=request.ties,
        seed=cell.seed,
        device=setup.device,
    )
    evaluated = time.perf_counter()
    scores["chance_map"] = chance_map(
        views.query_labels, views.database_labels, request.topk, setup.device
    )
    timings = Timings(
        fit_s=round(fitted - started, 4),
        encode_s=round(encoded - fitted, 4),
        evaluate_s=round(evaluated - encoded, 4),
        fit_phases=method.phase_seconds(),
    )
    codes_file = (
        _save_codes(cell.path, query_codes, db_codes, views, bits) if request.save_codes else None
    )
    artifacts = artifact_files(context.artifact_dir)
    return _record(setup, cell, method.config(), scores, timings, artifacts, codes_file)


def _record(
    setup: _Run,
    cell: _Cell,
    config: dict[str, Any],
    scores: dict[str, Any],
    timings: Timings,
    artifacts: list[str],
    codes_file: str | None,
) -> Record:
    """The record of one (bits, seed): everything about it that could change a number."""
    request, split = setup.request, setup.views.split
    log = cell.path.with_suffix(".log")
    written = cell.log is not None and cell.log.written  # this attempt's log, not an old one
    return Record(
        method=request.method,
        run_name=setup.run_name,
        dataset=split.dataset,
        split=SplitInfo(**split.summary()),
        bits=cell.bits,
        seed=cell.seed,
        tie_policy=request.ties,
        topk=request.topk,
        options=request.options,  # what the user set (the run name's hash is of these)
        config=config,
        encoder=setup.encoder,
        encoder_options=request.encoder_options if setup.encoder else None,
        metrics=measured_metrics(scores),
        curves={key: scores[key] for key in ("pr_curve", "p_at_n", "r_at_n")},
        timings=timings,
        method_source=setup.method_source,
        method_family=setup.method_family,
        environment=environment(setup.device),
        distributed=Distributed(**setup.world.summary()),
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        artifacts=artifacts,
        log_file=log.name if written else None,
        codes_file=codes_file,
    )


def _save_codes(
    path: Path, query_codes: np.ndarray, db_codes: np.ndarray, views: SplitViews, bits: int
) -> str:
    """Write the packed codes and labels beside the record (``--save-codes``); the file name."""
    from .evaluation.codes import pack_codes

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
    return codes_path.name
