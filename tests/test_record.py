"""The typed record: schema-1 files written by zshbench 0.1.0 read (migrated), schema 2 is
checked field by field, and the printed JSON schema holds real records.

The schema-1 files under tests/data/records/schema1 were written by ``zshbench run`` before the
record was typed (their README says how); the values expected of them here are read from the
raw JSON by schema 1's own key names, not from the code under test.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import shutil
import warnings
from pathlib import Path

import pytest
from schema_check import schema_errors, violations

from zshbench import record as rec
from zshbench import results
from zshbench.errors import ZshbenchError
from zshbench.report import records_frame, summarise

SCHEMA1 = Path(__file__).parent / "data" / "records" / "schema1"
RUN = SCHEMA1 / "digits" / "random-0-76e4e863b1"
LSH = RUN / "lsh" / "bits24-seed0.json"
HASHNET = [RUN / "hashnet@54ec80f9" / f"bits16-seed{s}.json" for s in (0, 1)]
TSK = RUN / "tsk" / "bits16-seed0-ties-index-topall.json"
ALL = [LSH, *HASHNET, TSK]


def _raw(path: Path) -> dict:
    return json.loads(path.read_text())


def _read(path: Path) -> rec.Record:
    record, problem = rec.read_record(path)
    assert problem is None, problem
    return record


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.parent.name)
def test_a_real_schema1_record_reads_with_every_value_it_holds(path):
    raw = _raw(path)
    assert raw["schema"] == 1
    record = _read(path)
    for name in ("method", "run_name", "dataset", "bits", "seed", "tie_policy", "topk"):
        assert getattr(record, name) == raw[name], name
    for name in ("options", "config", "encoder", "encoder_options", "curves", "created"):
        assert getattr(record, name) == raw[name], name
    assert record.method_source == raw["method_source"]
    assert record.method_family == raw["method_family"]
    assert dataclasses.asdict(record.split) == {**raw["split"], "protocol": "unseen@all"}
    assert dataclasses.asdict(record.distributed) == raw["distributed"]
    environment = dataclasses.asdict(record.environment)
    assert environment == {"gpu": None, **raw["environment"]}  # a CPU run names no GPU
    key = next(k for k in raw["metrics"] if k.startswith("map@"))
    assert record.map_key == key and record.map_value == raw["metrics"][key]
    # the metrics keep what was measured; the echoes of the run's settings are its fields
    assert record.metrics == {key: raw["metrics"][key], "chance_map": raw["metrics"]["chance_map"]}
    assert record.chance_map == raw["metrics"]["chance_map"]
    assert record.timings.fit_s == raw["timings"]["fit_s"]
    assert record.timings.encode_s == raw["timings"]["encode_s"]
    assert record.timings.evaluate_s == raw["timings"]["evaluate_s"]
    assert record.timings.fit_phases == raw["timings"].get("fit_phases", {})
    assert record.log_file == raw.get("log_file") and record.codes_file == raw.get("codes_file")
    assert record.artifacts == raw.get("artifacts", [])


def test_the_schema1_fixtures_are_what_they_are_said_to_be():
    """A deep record with its fit phases and log, and one under other evaluation settings."""
    deep = _read(HASHNET[0])
    assert deep.method_family == "deep" and deep.log_file == "bits16-seed0.log"
    assert set(deep.timings.fit_phases) == {"warmup_s", "training_s", "validation_s"}
    assert deep.config["training"]["epochs_run"] == 2
    other = _read(TSK)
    assert (other.tie_policy, other.topk, other.map_key) == ("index", None, "map@all")
    assert other.encoder == "hashing" and other.encoder_options["n_features"] == 32
    assert other.codes_file == "bits16-seed0-ties-index-topall.codes.npz"
    assert (TSK.parent / other.codes_file).is_file()


def test_report_reads_a_schema1_folder_without_a_warning(tmp_path):
    folder = shutil.copytree(SCHEMA1, tmp_path / "results")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame = records_frame(folder)
    assert len(frame) == 4
    summary = summarise(frame).set_index(["method", "bits"])
    seeds = [_raw(p)["metrics"]["map@5000"] for p in HASHNET]
    mean = (seeds[0] + seeds[1]) / 2
    std = math.sqrt(((seeds[0] - mean) ** 2 + (seeds[1] - mean) ** 2) / 1)  # ddof = 1
    assert summary.loc[("hashnet@54ec80f9", 16), "mean"] == pytest.approx(mean)
    assert summary.loc[("hashnet@54ec80f9", 16), "std"] == pytest.approx(std)
    assert set(summary.reset_index()["ties"]) == {"expected", "index"}


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.parent.name)
def test_a_migrated_record_written_again_is_schema2_and_reads_back_equal(tmp_path, path):
    record = _read(path)
    target = tmp_path / "bits.json"
    results.write_record(target, record)
    written = _raw(target)
    assert written["schema"] == 2
    assert set(written) == {"schema", *(f.name for f in dataclasses.fields(rec.Record))}
    assert not set(rec.EVALUATION_ECHOES) & set(written["metrics"])
    assert _read(target) == record


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.parent.name)
def test_real_records_hold_the_printed_json_schema(tmp_path, path):
    schema = rec.json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert violations(_raw(path), schema, schema)  # schema 1 is not schema 2 ...
    target = tmp_path / "bits.json"
    results.write_record(target, _read(path))
    assert schema_errors(_raw(target), schema) == []  # ... its migration is


def test_the_json_schema_names_every_field_of_the_dataclasses():
    schema = rec.json_schema()
    names = [f.name for f in dataclasses.fields(rec.Record)]
    assert list(schema["properties"]) == ["schema", *names]
    assert schema["required"] == ["schema", *names]
    assert schema["properties"]["schema"] == {"const": 2}
    for cls in (rec.SplitInfo, rec.Timings, rec.Environment, rec.Distributed):
        definition = schema["$defs"][cls.__name__]
        assert definition["required"] == [f.name for f in dataclasses.fields(cls)]
        assert definition["additionalProperties"] is False
    assert schema["properties"]["bits"]["minimum"] == 1
    assert schema["properties"]["split"]["$ref"] == "#/$defs/SplitInfo"
    assert schema["properties"]["metrics"]["additionalProperties"] == {"type": "number"}


def _schema2() -> dict:
    """A real record as schema 2 writes it (the lsh fixture, migrated)."""
    return json.loads(_read(LSH).to_json())


BREAKAGES = {
    "no bits": (lambda r: r.pop("bits"), "'bits' is missing"),
    "bits text": (lambda r: r.update(bits="24"), "'bits' is \"24\", not a whole number ≥ 1"),
    "bits 0": (lambda r: r.update(bits=0), "'bits' is 0, less than 1"),
    "bits true": (lambda r: r.update(bits=True), "not a whole number"),
    "seed -1": (lambda r: r.update(seed=-1), "'seed' is -1, less than 0"),
    "empty method": (lambda r: r.update(method=""), "'method' is empty"),
    "unknown field": (lambda r: r.update(note="x"), "'note' is not a field of schema 2"),
    "no split id": (lambda r: r["split"].pop("id"), "'split.id' is missing"),
    "split list": (lambda r: r.update(split=[]), "'split' is not an object"),
    "env extra": (lambda r: r["environment"].update(cuda="12"), "'environment.cuda' is not a"),
    "no timings": (lambda r: r.pop("timings"), "'timings' is missing"),
    "fit_s text": (lambda r: r["timings"].update(fit_s="1"), "'timings.fit_s' is \"1\""),
    "metric text": (lambda r: r["metrics"].update(p="x"), "'metrics.p' is \"x\", not a number"),
    "no map": (lambda r: r["metrics"].pop("map@5000"), "'metrics' has no map@K value"),
    "map 1.5": (lambda r: r["metrics"].update({"map@5000": 1.5}), "outside [0, 1]"),
    "topk 0": (lambda r: r.update(topk=0), "'topk' is 0, less than 1"),
    "artifacts text": (lambda r: r.update(artifacts="a.png"), "'artifacts' is \"a.png\""),
    "artifact number": (lambda r: r.update(artifacts=[1]), "'artifacts[0]' is 1, not text"),
    "world 0": (lambda r: r["distributed"].update(world_size=0), "'distributed.world_size'"),
}


@pytest.mark.parametrize("kind", sorted(BREAKAGES))
def test_a_broken_schema2_record_is_refused_in_one_line_by_both_checks(kind):
    data = _schema2()
    assert rec.record_from_json(copy.deepcopy(data)) is not None
    breaking, words = BREAKAGES[kind]
    breaking(data)
    with pytest.raises(rec.RecordProblem) as caught:
        rec.record_from_json(data)
    assert words in str(caught.value) and "\n" not in str(caught.value)
    if kind not in ("no map", "map 1.5"):  # the map@K rule is the reader's, not the schema's
        assert schema_errors(data, rec.json_schema())


def test_nan_map_is_a_record_and_nulls_are_allowed_where_unknown():
    data = _schema2()
    data["metrics"]["map@5000"] = float("nan")
    data["environment"] = data["distributed"] = data["created"] = None
    data["split"]["num_train"] = None
    record = rec.record_from_json(data)
    assert math.isnan(record.map_value) and record.environment is None
    assert schema_errors(data, rec.json_schema()) == []


def test_schema1_migration_fills_what_schema1_readers_assumed():
    minimal = {
        "schema": 1,
        "method": "itq",
        "dataset": "digits",
        "split": {"id": "s"},
        "bits": 16,
        "seed": 0,
        "metrics": {"map@5000": 0.5, "ties": "random", "topk": 5000, "chance_map": "hand-edited"},
    }
    record = rec.record_from_json(minimal)
    assert record.run_name == "itq" and record.tie_policy == "random" and record.topk == 5000
    assert record.metrics == {"map@5000": 0.5}  # the echo and the text value are gone
    assert record.split == rec.SplitInfo(id="s", protocol="unseen@all")
    assert record.environment is None
    assert record.timings == rec.Timings(fit_s=None, encode_s=None, evaluate_s=None)
    del minimal["metrics"]["ties"]
    assert rec.record_from_json(minimal).tie_policy == "expected"  # the path's default
    minimal["tie_policy"], minimal["options"] = "index", ["not", "a", "mapping"]
    assert rec.record_from_json(minimal).tie_policy == "index"
    assert rec.record_from_json(minimal).options == {}


@pytest.mark.parametrize("schema", [0, 3, "2", None])
def test_other_schemas_are_named(schema):
    data = {**_schema2(), "schema": schema}
    with pytest.raises(rec.OtherSchema, match=f"^schema {schema!r}$"):
        rec.record_from_json(data)


def test_a_record_that_would_not_read_back_is_never_written(tmp_path):
    record = dataclasses.replace(_read(LSH), bits=0)
    target = tmp_path / "bits0-seed0.json"
    with pytest.raises(ZshbenchError, match="'bits' is 0, less than 1"):
        results.write_record(target, record)
    assert not target.exists()


def test_identity_is_what_a_record_measures():
    record = _read(LSH)
    assert record.identity == (
        "lsh",
        "lsh",
        "digits",
        "random-0-76e4e863b1",
        24,
        0,
        "expected",
        5000,
    )
    assert dataclasses.replace(record, created="later").identity == record.identity
    assert dataclasses.replace(record, topk=None).identity != record.identity


@pytest.mark.parametrize(
    "text",
    [
        '{"map@5000": NaN, "chance": Infinity}',  # json writes these; orjson refuses them
        "[1e400, -1e400]",
        '"\\ud800"',  # a lone surrogate escape
        '{"a": 1, "a": 2}',  # the last of duplicate keys wins in both
        '{"bits": 24, "x": [1.0, 0.1, 5e-324], "s": "caf\\u00e9 \\u001b[31m"}',
    ],
)
def test_record_files_parse_exactly_as_json_reads_them(text, tmp_path):
    parsed = rec.parsed_json(text.encode())
    expected = json.loads(text)
    assert json.dumps(parsed) == json.dumps(expected)
    assert [type(v) for v in (parsed.values() if isinstance(parsed, dict) else [parsed])] == [
        type(v) for v in (expected.values() if isinstance(expected, dict) else [expected])
    ]


@pytest.mark.parametrize("raw", [b"\xff\xfe{}", b"\xef\xbb\xbf{}", b'{"a": 1'])
def test_bytes_json_does_not_read_are_refused(raw, tmp_path):
    with pytest.raises(ValueError):
        json.loads(raw.decode("utf-8"))  # the reference: json on the file's UTF-8 text
    with pytest.raises(ValueError):
        rec.parsed_json(raw)
    path = tmp_path / "bits24-seed0.json"
    path.write_bytes(raw)
    record, problem = rec.read_record(path)
    assert record is None and problem.startswith("unreadable")


def test_a_nan_map_record_file_reads_back_from_disk(tmp_path):
    data = _schema2()
    data["metrics"]["map@5000"] = float("nan")
    path = tmp_path / "bits24-seed0.json"
    path.write_text(json.dumps({"schema": 2, **data}))
    assert "NaN" in path.read_text()
    record, problem = rec.read_record(path)
    assert problem is None and math.isnan(record.map_value)
