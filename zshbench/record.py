"""The result record: one typed, versioned object per (run, data set, split, bits, seed).

mteb's ``TaskResult`` is the model: the run engine builds a :class:`Record`, ``report`` and
``plot`` read its fields, and ``zshbench schema record`` prints the JSON schema generated from
those same fields, so tools outside Python read records too. On disk a record is a JSON object
whose keys are the field names below, plus ``"schema"``.

Schema versions:

- 1 (zshbench 0.1.0 at first): an untyped object; ``run_name``, ``tie_policy``, ``topk`` and
  the provenance fields could be absent, and ``metrics`` repeated the run's own settings (ties,
  topk, seed, bits and the query and database counts).
- 2: every field is present (null where unknown) and ``metrics`` holds measured numbers only.

A schema-1 file is migrated when it is read (:func:`migrate_schema1`); nothing on disk is
rewritten. Validation checks the types and ranges declared here, so a hand-edited or foreign
file is skipped with a one-line reason instead of breaking a reader.
"""

from __future__ import annotations

import functools
import json
import math
import os
import stat
import types
import typing
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import orjson

SCHEMA_VERSION = 2
#: The versions :func:`record_from_json` reads (the older ones migrated).
READABLE_SCHEMAS = (1, 2)
DEFAULT_TIES = "expected"
DEFAULT_TOPK = 5000
#: No record comes near this size (curves included, a record is some kilobytes).
MAX_RECORD_BYTES = 64 * 2**20
#: What the evaluation repeats of the run's settings; a record holds them as its own fields.
EVALUATION_ECHOES = ("ties", "topk", "seed", "bits", "num_queries", "num_database")


class RecordProblem(ValueError):
    """Why a parsed JSON object is not a usable record (one line)."""


class OtherSchema(RecordProblem):
    """A record of a schema version this zshbench does not read."""


def _about(doc: str, **limits: Any) -> dict[str, Any]:
    """Field metadata: its description and limits (``minimum``, ``min_length``)."""
    return {"doc": doc, **limits}


@dataclass(frozen=True)
class SplitInfo:
    """The split a record was measured on (``Split.summary()``)."""

    id: str = field(
        metadata=_about("split id; manifest at <dataset>/splits/<id>.json", min_length=1)
    )
    name: str | None = field(default=None, metadata=_about("split name, e.g. random-0"))
    seed: int | None = field(default=None, metadata=_about("seed that drew the split"))
    protocol: str | None = field(
        default=None,
        metadata=_about("queries@database: unseen@all (the paper's, schema 1's only), ..."),
    )
    num_seen: int | None = field(default=None, metadata=_about("seen (training) classes"))
    num_unseen: int | None = field(default=None, metadata=_about("unseen (query) classes"))
    num_train: int | None = field(default=None, metadata=_about("training images"))
    num_query: int | None = field(default=None, metadata=_about("query images"))
    num_database: int | None = field(default=None, metadata=_about("database images"))
    unseen_classes: list[str] | None = field(default=None, metadata=_about("unseen class names"))
    validation_classes: list[str] | None = field(
        default=None, metadata=_about("seen classes held out for model selection")
    )


@dataclass(frozen=True)
class Timings:
    """Seconds the run spent (null where a schema-1 record did not say)."""

    fit_s: float | None = field(metadata=_about("training", minimum=0))
    encode_s: float | None = field(metadata=_about("encoding queries and database", minimum=0))
    evaluate_s: float | None = field(metadata=_about("evaluation", minimum=0))
    fit_phases: dict[str, float] = field(
        default_factory=dict, metadata=_about("training by phase; {} when not broken down")
    )


@dataclass(frozen=True)
class Environment:
    """The software and hardware that produced a record (null where unknown)."""

    zshbench: str | None = field(metadata=_about("zshbench version"))
    python: str | None = field(metadata=_about("Python version"))
    numpy: str | None = field(metadata=_about("numpy version"))
    torch: str | None = field(metadata=_about("torch version"))
    timm: str | None = field(metadata=_about("timm version"))
    platform: str | None = field(metadata=_about("operating system and machine"))
    device: str | None = field(metadata=_about("torch device: cpu, cuda, cuda:1, ..."))
    gpu: str | None = field(default=None, metadata=_about("GPU name on a CUDA device"))


@dataclass(frozen=True)
class Distributed:
    """How many processes ran the record (backend null when not distributed)."""

    world_size: int = field(metadata=_about("processes (torchrun's WORLD_SIZE)", minimum=1))
    backend: str | None = field(metadata=_about("torch.distributed backend, e.g. nccl"))


@dataclass(frozen=True)
class Record:
    """One measurement: a method's codes on one split at one code length and seed.

    Grouped as they are on disk: what was measured (its identity), what the run was given,
    what it measured, where it came from (provenance: versions, device, processes; a backbone's
    pretrained weights are in ``config``) and the files beside it.
    """

    # what was measured: two records with the same identity are one measurement
    method: str = field(metadata=_about("registered method name", min_length=1))
    run_name: str = field(metadata=_about("method, or method@<hash of options>", min_length=1))
    dataset: str = field(metadata=_about("data set name", min_length=1))
    split: SplitInfo = field(metadata=_about("the split"))
    bits: int = field(metadata=_about("code length", minimum=1))
    seed: int = field(metadata=_about("seed of training and evaluation", minimum=0))
    tie_policy: str = field(metadata=_about("order of tied distances: expected, random, index"))
    topk: int | None = field(metadata=_about("K of mAP@K; null: the whole database", minimum=1))
    # what the run was given
    options: dict[str, Any] = field(metadata=_about("options the user set (the run name hashes)"))
    config: dict[str, Any] = field(metadata=_about("the method's whole resolved configuration"))
    encoder: str | None = field(metadata=_about("attribute-text encoder, if the method reads one"))
    encoder_options: dict[str, Any] | None = field(metadata=_about("the encoder's options"))
    # what it measured
    metrics: dict[str, float] = field(metadata=_about("map@K (NaN allowed), chance_map, ..."))
    curves: dict[str, Any] = field(metadata=_about("pr_curve, p_at_n, r_at_n"))
    timings: Timings = field(metadata=_about("seconds spent"))
    # where it came from
    method_source: str | None = field(metadata=_about("package and entry point of the method"))
    method_family: str | None = field(metadata=_about("linear, deep, ..."))
    environment: Environment | None = field(metadata=_about("versions and device"))
    distributed: Distributed | None = field(metadata=_about("processes that ran it"))
    created: str | None = field(metadata=_about("UTC time written, ISO 8601"))
    # the files beside it, relative to its folder
    artifacts: list[str] = field(
        default_factory=list, metadata=_about("files under bits<B>-seed<S>-files/")
    )
    log_file: str | None = field(default=None, metadata=_about("the run's log"))
    codes_file: str | None = field(default=None, metadata=_about("packed codes (--save-codes)"))

    def __post_init__(self) -> None:
        key = self.map_key
        if key is None:
            raise RecordProblem("'metrics' has no map@K value")
        value = self.metrics[key]
        if not math.isnan(value) and not 0.0 <= value <= 1.0:
            raise RecordProblem(f"'{key}' is {value}, outside [0, 1]")

    @property
    def map_key(self) -> str | None:
        """The ``map@K`` key of the metrics (``map@5000``, ``map@all``)."""
        return next((k for k in self.metrics if k.startswith("map@")), None)

    @property
    def map_value(self) -> float:
        """mAP@K, NaN when training diverged."""
        return float(self.metrics[self.map_key])

    @property
    def chance_map(self) -> float | None:
        """mAP@K of codes that tie everything, where the record has a finite one."""
        value = self.metrics.get("chance_map")
        return float(value) if value is not None and math.isfinite(value) else None

    @property
    def identity(self) -> tuple[Any, ...]:
        """What a record measures: two records with the same identity are one measurement."""
        return (
            self.run_name,
            self.method,
            self.dataset,
            self.split.id,
            self.bits,
            self.seed,
            self.tie_policy,
            self.topk,
        )

    def to_json(self) -> str:
        """The record as written to disk (schema :data:`SCHEMA_VERSION`)."""
        return json.dumps({"schema": SCHEMA_VERSION, **asdict(self)}, indent=1)


def measured_metrics(scores: dict[str, Any]) -> dict[str, float]:
    """An evaluation's numbers for ``Record.metrics``: its echoes of the run's settings and
    its curves left out (the record holds those as its own fields)."""
    return {
        key: value
        for key, value in scores.items()
        if key not in EVALUATION_ECHOES and _is_number(value)
    }


# --------------------------------------------------------------------------------------------
# Reading: JSON → Record, older schemas migrated, every field checked


def record_from_json(data: Any) -> Record:
    """The record a parsed JSON object holds; :class:`RecordProblem` (one line) if none."""
    if not isinstance(data, dict):
        raise RecordProblem(f"it holds a JSON {type(data).__name__}, not an object")
    schema = data.get("schema")
    if schema == 1:
        data = migrate_schema1(data)
    elif schema != SCHEMA_VERSION:
        raise OtherSchema(f"schema {schema!r}")
    return _build(Record, {key: value for key, value in data.items() if key != "schema"}, "")


def read_record(path: Path) -> tuple[Record | None, str | None]:
    """(record, None) for a usable record file, else (None, why not).

    A record of a schema this version does not read comes back as (None, "schema N"). Only
    regular files are read (a FIFO or device named like a record would block or never end),
    and none larger than :data:`MAX_RECORD_BYTES`.
    """
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            return None, "not a regular file"
        if info.st_size > MAX_RECORD_BYTES:
            return None, f"{info.st_size} bytes, larger than any record"
        data = parsed_json(Path(path).read_bytes())
    except (OSError, ValueError, RecursionError) as error:
        text = (getattr(error, "strerror", None) or str(error)).splitlines()[0][:120]
        return None, f"unreadable ({text})"
    try:
        return record_from_json(data), None
    except RecordProblem as problem:
        return None, str(problem)


def parsed_json(raw: bytes) -> Any:
    """The JSON value of a file's bytes, as :func:`json.loads` reads its UTF-8 text.

    orjson parses first: 7× faster, and most of what ``report`` spends on 20,000 records.
    What orjson refuses and json reads (``NaN``, which a record may hold, ``1e400``, a lone
    surrogate escape) falls back to json; an integer beyond 64 bits reads as a float.
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw.decode("utf-8"))


def _schema1_split(split: Any) -> Any:
    """Schema 1 knew one protocol, the paper's unseen@all, so its splits are that one."""
    filled = _filled(SplitInfo, split)
    if isinstance(filled, dict) and filled.get("protocol") is None:
        filled = {**filled, "protocol": "unseen@all"}
    return filled


def migrate_schema1(data: dict[str, Any]) -> dict[str, Any]:
    """A schema-1 object in schema 2's layout, absent fields filled as schema 1's readers
    assumed (run name: the method; tie policy: the one the metrics repeat, else expected;
    K: 5000; provenance: null). What does not fit is left for validation to name."""
    metrics = data.get("metrics")
    if isinstance(metrics, dict):  # echoes and non-numbers go; a map@K stays, to be checked
        metrics = {
            key: value
            for key, value in metrics.items()
            if key not in EVALUATION_ECHOES and (_is_number(value) or str(key).startswith("map@"))
        }
    ties = data.get("metrics", {}).get("ties") if isinstance(data.get("metrics"), dict) else None
    timings = data.get("timings") if isinstance(data.get("timings"), dict) else {}
    options = data.get("options")
    return {
        **{key: data.get(key) for key in ("method", "dataset", "bits", "seed")},
        "run_name": data.get("run_name", data.get("method")),
        "split": _schema1_split(data.get("split")),
        "tie_policy": data.get("tie_policy", ties if isinstance(ties, str) else DEFAULT_TIES),
        "topk": data.get("topk", DEFAULT_TOPK),
        "options": options if isinstance(options, dict) else {},
        "config": data.get("config", {}),
        "encoder": data.get("encoder"),
        "encoder_options": data.get("encoder_options"),
        "metrics": metrics,
        "curves": data.get("curves", {}),
        "timings": {**_filled(Timings, timings), "fit_phases": timings.get("fit_phases", {})},
        "method_source": data.get("method_source"),
        "method_family": data.get("method_family"),
        "environment": _filled(Environment, data.get("environment")),
        "distributed": data.get("distributed"),
        "created": data.get("created"),
        "artifacts": data.get("artifacts", []),
        "log_file": data.get("log_file"),
        "codes_file": data.get("codes_file"),
    }


def _filled(cls: type, value: Any) -> Any:
    """A schema-1 object with ``cls``'s fields, the absent ones null (non-objects as given)."""
    if not isinstance(value, dict):
        return value
    return {f.name: value.get(f.name) for f in fields(cls)}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


Check = typing.Callable[[Any, str], Any]


def _build(cls: type, data: Any, where: str) -> Any:
    """``cls`` from a JSON object: every field present, of its declared type and range."""
    if not isinstance(data, dict):
        raise RecordProblem(f"'{where.rstrip('.') or 'record'}' is not an object")
    checks = _field_checks(cls)
    if not data.keys() <= checks.keys():
        unknown = sorted(str(key) for key in data if key not in checks)
        raise RecordProblem(f"'{where}{unknown[0]}' is not a field of schema {SCHEMA_VERSION}")
    values = {}
    for name, check in checks.items():
        if name not in data:
            raise RecordProblem(f"'{where}{name}' is missing")
        values[name] = check(data[name], f"{where}{name}")
    try:
        return cls(**values)
    except RecordProblem:
        raise
    except (TypeError, ValueError) as error:  # pragma: no cover - every field checked above
        raise RecordProblem(f"'{where or 'record'}': {error}") from None


@functools.cache
def _field_checks(cls: type) -> dict[str, Check]:
    """Each field's check, built once per class from its annotation and limits: reading the
    annotations anew for each of 20,000 records was most of the time ``report`` spent."""
    hints = typing.get_type_hints(cls)
    return {spec.name: _check_of(hints[spec.name], dict(spec.metadata)) for spec in fields(cls)}


def _check_of(hint: Any, limits: dict[str, Any] | None = None) -> Check:
    """``check(value, name)``: ``value`` if it is a ``hint`` within ``limits``, else
    :class:`RecordProblem` naming the field."""
    limits = limits or {}
    optional = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        optional = type(None) in args
        (hint,) = [arg for arg in args if arg is not type(None)]
    check = _plain_check_of(hint, limits)
    if not optional:
        return check
    return lambda value, name: None if value is None else check(value, name)


def _plain_check_of(hint: Any, limits: dict[str, Any]) -> Check:
    def refuse(value: Any, name: str) -> typing.NoReturn:
        raise RecordProblem(f"'{name}' is {_shown(value)}, not {_described(hint, limits)}")

    if hint is Any:
        return lambda value, name: value
    if is_dataclass(hint):
        return lambda value, name: _build(hint, value, f"{name}.")
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (list, dict):
        item = _check_of(args[-1])

        def check_container(value: Any, name: str) -> Any:
            if not isinstance(value, origin):
                refuse(value, name)
            if origin is list:
                return [item(entry, f"{name}[{i}]") for i, entry in enumerate(value)]
            for key, entry in value.items():
                item(entry, f"{name}.{key}")
            return value

        return check_container

    def check_scalar(value: Any, name: str) -> Any:
        if origin is not None or not _fits(value, hint):
            refuse(value, name)
        _check_limits(value, name, limits)
        return value

    return check_scalar


def _fits(value: Any, hint: type) -> bool:
    if hint is float:
        return _is_number(value)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _check_limits(value: Any, name: str, limits: dict[str, Any]) -> None:
    if "minimum" in limits and value < limits["minimum"]:
        raise RecordProblem(f"'{name}' is {_shown(value)}, less than {limits['minimum']}")
    if "min_length" in limits and len(value) < limits["min_length"]:
        raise RecordProblem(f"'{name}' is empty")


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


_WORDS = {str: "text", int: "a whole number", float: "a number", bool: "true or false"}


def _described(hint: Any, limits: dict[str, Any]) -> str:
    origin = typing.get_origin(hint)
    words = {list: "a list", dict: "an object"}.get(origin) or _WORDS.get(hint, str(hint))
    if "minimum" in limits:
        words += f" ≥ {limits['minimum']}"
    return words


# --------------------------------------------------------------------------------------------
# The JSON schema (draft 2020-12), generated from the fields above

_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}


def json_schema() -> dict[str, Any]:
    """The JSON schema of a record file, for tools outside Python (``zshbench schema record``)."""
    definitions: dict[str, Any] = {}
    body = _object_schema(Record, definitions)
    body["properties"] = {"schema": {"const": SCHEMA_VERSION}, **body["properties"]}
    body["required"] = ["schema", *body["required"]]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"zshbench result record, schema {SCHEMA_VERSION}",
        **body,
        "$defs": definitions,
    }


def _object_schema(cls: type, definitions: dict[str, Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    properties = {}
    for spec in fields(cls):
        properties[spec.name] = {
            "description": spec.metadata.get("doc", ""),
            **_type_schema(hints[spec.name], spec.metadata, definitions),
        }
    return {
        "description": (cls.__doc__ or "").strip().splitlines()[0],
        "type": "object",
        "properties": properties,
        "required": [spec.name for spec in fields(cls)],
        "additionalProperties": False,
    }


def _type_schema(hint: Any, limits: Any, definitions: dict[str, Any]) -> dict[str, Any]:
    limits = limits or {}
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        (inner,) = [arg for arg in args if arg is not type(None)]
        return {"anyOf": [_type_schema(inner, limits, definitions), {"type": "null"}]}
    if hint is Any:
        return {}
    if is_dataclass(hint):
        if hint.__name__ not in definitions:
            definitions[hint.__name__] = {}  # placeholder: a field may refer back to it
            definitions[hint.__name__] = _object_schema(hint, definitions)
        return {"$ref": f"#/$defs/{hint.__name__}"}
    origin = typing.get_origin(hint)
    if origin is list:
        return {"type": "array", "items": _type_schema(args[0], {}, definitions)}
    if origin is dict:
        values = _type_schema(args[1], {}, definitions)
        return {"type": "object", **({"additionalProperties": values} if values else {})}
    schema: dict[str, Any] = {"type": _JSON_TYPES[hint]}
    if "minimum" in limits:
        schema["minimum"] = limits["minimum"]
    if "min_length" in limits:
        schema["minLength"] = limits["min_length"]
    return schema
