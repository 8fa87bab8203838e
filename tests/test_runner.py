"""The run engine with in-process test methods: what a method sees, bad codes, interruptions."""

from __future__ import annotations

import errno
import json
import os

import numpy as np
import pytest

from zshbench import runner
from zshbench.errors import TrainingError, ZshbenchError
from zshbench.method import HashingMethod
from zshbench.registry import MethodSpec

SEEN: dict = {}


class Spy(HashingMethod):
    """Records what the harness hands it; codes = sign of PCA-free random projections."""

    default_options = {"fail_at_bits": None, "interrupt": False}

    def fit(self, data, context):
        SEEN["class_names"] = list(data.class_names)
        SEEN["labels"] = np.unique(data.labels).tolist()
        SEEN["attributes_shape"] = data.class_attributes.shape
        SEEN["validation_map"] = data.validation.evaluate(lambda view: self.encode(view, context))
        if self.options["interrupt"]:
            raise KeyboardInterrupt
        x = data.images.load_stack().reshape(len(data.images), -1).astype(float)
        self.mean = x.mean(0)
        self.w = np.random.default_rng(context.seed).standard_normal((x.shape[1], self.bits))
        self.trained = True

    def encode(self, images, context):
        SEEN.setdefault("encode_labels", []).append(images.labels)
        x = images.load_stack().reshape(len(images), -1).astype(float)
        if not hasattr(self, "w"):  # validation before training: a fixed projection
            self.mean = 0
            self.w = np.random.default_rng(0).standard_normal((x.shape[1], self.bits))
        codes = np.sign((x - self.mean) @ self.w + 1e-9)
        if self.options["fail_at_bits"] == self.bits and getattr(self, "trained", False):
            codes[0, 0] = np.nan  # what a diverged network produces
        return codes


class WrongShape(Spy):
    def encode(self, images, context):
        return np.ones((len(images), self.bits + 1))


@pytest.fixture
def plugins(use_test_methods):
    combined = use_test_methods(MethodSpec("spy", Spy), MethodSpec("wrong-shape", WrongShape))
    SEEN.clear()
    return combined


def _request(tmp_path, method="spy", bits=(8,), **options):
    return runner.RunRequest(
        method=method,
        dataset="digits",
        bits=list(bits),
        seeds=[0],
        results_dir=tmp_path,
        options=options,
    )


def test_method_sees_only_seen_classes_and_no_query_labels(plugins, tmp_path):
    paths = runner.run(_request(tmp_path))
    record = json.loads(paths[0].read_text())
    assert len(SEEN["class_names"]) == 8 and SEEN["labels"] == list(range(8))
    assert not set(SEEN["class_names"]) & set(record["split"]["unseen_classes"])
    assert SEEN["attributes_shape"] == (8, 17)
    assert 0.0 <= SEEN["validation_map"] <= 1.0
    # validation encodes are label-free too; the last two encodes are query and database
    assert all(labels is None for labels in SEEN["encode_labels"])
    assert record["run_name"] == "spy" and record["config"]["bits"] == 8


def test_nan_codes_stop_the_run_and_keep_finished_records(plugins, tmp_path):
    with pytest.raises(TrainingError, match="invalid codes") as caught:
        runner.run(_request(tmp_path, bits=(8, 16), fail_at_bits=16))
    assert "lower the lr" in str(caught.value)
    records = sorted(p.name for p in tmp_path.rglob("bits*.json"))
    assert records == ["bits8-seed0.json"]
    assert not list(tmp_path.rglob("*.tmp"))


def test_interrupt_leaves_no_partial_record(plugins, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        runner.run(_request(tmp_path, interrupt=True))
    assert not list(tmp_path.rglob("bits*"))


def test_wrong_code_shape_is_refused(plugins, tmp_path):
    with pytest.raises(TrainingError, match="shape"):
        runner.run(_request(tmp_path, method="wrong-shape"))


def test_options_name_the_run(plugins, tmp_path):
    paths = runner.run(_request(tmp_path, fail_at_bits=99))
    assert paths[0].parent.name.startswith("spy@")


@pytest.mark.parametrize("text", ["", "8,8", "-1", "x", "5000"])
def test_bad_bit_lists(text):
    with pytest.raises(ZshbenchError, match="bad bit list"):
        runner.parse_bits(text)


def test_cli_tie_policies_match_the_evaluator():
    from zshbench.cli import TIE_POLICIES
    from zshbench.evaluation.metrics import TIE_POLICIES as EVALUATOR_POLICIES

    assert tuple(TIE_POLICIES) == tuple(EVALUATOR_POLICIES)


def test_other_tie_policies_get_their_own_records(plugins, tmp_path):
    default = runner.run(_request(tmp_path))[0]
    request = _request(tmp_path)
    request.ties, request.topk = "index", None
    other = runner.run(request)[0]
    assert default.name == "bits8-seed0.json"
    assert other.name == "bits8-seed0-ties-index-topall.json"
    assert json.loads(other.read_text())["tie_policy"] == "index"
    assert json.loads(default.read_text())["tie_policy"] == "expected"
    assert "map@all" in json.loads(other.read_text())["metrics"]


def test_a_run_writes_a_typed_schema2_record_the_printed_schema_holds(plugins, tmp_path):
    from schema_check import schema_errors

    from zshbench.record import Record, json_schema, read_record

    request = _request(tmp_path)
    request.save_codes = True
    path = runner.run(request)[0]
    raw = json.loads(path.read_text())
    assert raw["schema"] == 2 and schema_errors(raw, json_schema()) == []
    record, problem = read_record(path)
    assert problem is None and isinstance(record, Record)
    assert (record.method, record.run_name, record.dataset, record.bits, record.seed) == (
        "spy", "spy", "digits", 8, 0,
    )  # fmt: skip
    assert (record.tie_policy, record.topk, record.map_key) == ("expected", 5000, "map@5000")
    assert set(record.metrics) == {"map@5000", "chance_map"}
    assert record.split.num_query == 60 and record.split.num_database == 1337
    assert record.distributed.world_size == 1
    assert record.environment.device == runner.resolve_device("auto")
    assert record.codes_file == "bits8-seed0.codes.npz"
    assert record.log_file is None  # the spy logs nothing while it trains, so no log file
    assert record.timings.fit_s >= 0 and record.timings.fit_phases == {}


def test_save_codes_writes_packed_codes_beside_a_fresh_record(plugins, tmp_path):
    from zshbench.evaluation.codes import unpack_codes

    request = _request(tmp_path)
    request.save_codes = True
    path = runner.run(request)[0]
    record = json.loads(path.read_text())
    saved = np.load(path.parent / record["codes_file"])
    query = unpack_codes(saved["query_codes"], int(saved["bits"]))
    assert query.shape == (len(saved["query_labels"]), 8)
    assert set(np.unique(query)) <= {-1, 1}


# --- issue 10: every bad input before any work, no record lost or done twice ---------------


class Counting(Spy):
    """Counts its trainings (in this process)."""

    trainings = 0

    def fit(self, data, context):
        Counting.trainings += 1
        super().fit(data, context)


class ReadsTexts(Spy):
    uses_text_encoder = True

    def fit(self, data, context):
        SEEN["vectors"] = context.encode_texts(list(data.attribute_names)).shape
        super().fit(data, context)


@pytest.fixture
def more_plugins(use_test_methods):
    SEEN.clear()
    Counting.trainings = 0
    return use_test_methods(
        MethodSpec("spy", Spy),
        MethodSpec("counting", Counting),
        MethodSpec("texts", ReadsTexts),
        MethodSpec("lsh", "plugins.linear.lsh:LSH"),
    )


@pytest.fixture
def no_data(monkeypatch):
    """Loading the data set fails the test: what is checked here must be checked before."""

    def refuse(*args, **kwargs):
        raise AssertionError("the data set was loaded before the bad input was noticed")

    monkeypatch.setattr(runner, "load_dataset", refuse)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"run_name": "../../../escaped_run"}, "bad run name"),
        ({"run_name": "/tmp/abs_run"}, "bad run name"),
        ({"options": {"fail_at_bits": None, "interrupt": "sometimes"}}, "interrupt must be"),
        ({"options": {"nope": 1}}, "has no option nope"),
        ({"encoder": "texts-nope", "method": "texts"}, "unknown encoder 'texts-nope'"),
        (
            {"encoder": "hashing", "encoder_options": {"n_features": "abc"}, "method": "texts"},
            "n_features must be",
        ),
        ({"encoder_options": {"zz": 1}, "method": "texts"}, "has no option zz"),
        ({"method": "lsh", "options": {"extractor": "nope"}}, "unknown extractor 'nope'"),
        ({"method": "lsh", "options": {"extractor_options": {"size": 0}}}, "size must be"),
        ({"method": "lsh", "options": {"pca_dims": True}}, "pca_dims must be"),
    ],
)
def test_bad_input_fails_before_any_data_loads(more_plugins, no_data, tmp_path, changes, words):
    request = _request(tmp_path)
    for key, value in changes.items():
        setattr(request, key, value)
    with pytest.raises(ZshbenchError, match=words):
        runner.run(request)
    assert not list(tmp_path.parent.rglob("escaped_run")) and not list(tmp_path.rglob("*.json"))


def test_an_unwritable_results_folder_fails_before_training(more_plugins, no_data, tmp_path):
    (tmp_path / "file").write_text("x")
    request = _request(tmp_path / "file" / "results")
    with pytest.raises(ZshbenchError, match="a part of the path is a file, not a folder"):
        runner.run(request)


def test_a_read_only_results_folder_fails_before_training(more_plugins, tmp_path, monkeypatch):
    """Root ignores permission bits, so the read-only folder is simulated where files open."""
    real_open = os.open

    def read_only(path, flags, *args, **kwargs):
        if str(path).startswith(str(tmp_path)) and flags & (os.O_WRONLY | os.O_RDWR):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(ZshbenchError, match="cannot write records.*permission denied"):
        runner.run(_request(tmp_path, method="counting"))
    assert Counting.trainings == 0


def test_a_full_disk_at_the_record_keeps_finished_records(more_plugins, tmp_path, monkeypatch):
    real_open = os.open

    def full_for_16_bits(path, flags, *args, **kwargs):
        if ".bits16-seed0.json." in str(path):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", full_for_16_bits)
    with pytest.raises(OSError) as caught:
        runner.run(_request(tmp_path, bits=(8, 16)))
    assert caught.value.errno == errno.ENOSPC
    assert [p.name for p in tmp_path.rglob("bits*.json")] == ["bits8-seed0.json"]
    assert not list(tmp_path.rglob("*.tmp")) and not list(tmp_path.rglob("*.lock"))


def test_a_truncated_record_is_redone_with_a_warning(more_plugins, tmp_path):
    """Issue 10: a truncated record was 'done already, skipped' forever."""
    [path] = runner.run(_request(tmp_path, method="counting"))
    good = path.read_text()
    path.write_text(good[:100])
    with pytest.warns(UserWarning, match="unreadable.*running it again"):
        runner.run(_request(tmp_path, method="counting"))
    assert Counting.trainings == 2 and json.loads(path.read_text())["bits"] == 8
    runner.run(_request(tmp_path, method="counting"))  # usable now: skipped
    assert Counting.trainings == 2


def test_a_folder_in_the_way_of_a_record_fails_before_training(more_plugins, tmp_path):
    [path] = runner.run(_request(tmp_path, method="counting"))
    path.unlink()
    path.mkdir()
    with pytest.raises(ZshbenchError, match="a folder is where the record"):
        runner.run(_request(tmp_path, method="counting"))
    assert Counting.trainings == 1


@pytest.mark.parametrize("damage", ["{ corrupt", '{"dataset": "digits"}', "edit-id", "[]"])
@pytest.mark.slow
def test_a_corrupt_split_manifest_is_rebuilt_with_a_warning(more_plugins, tmp_path, damage):
    """Issue 10: a corrupt splits/<id>.json gave a JSONDecodeError traceback in run."""
    [path] = runner.run(_request(tmp_path))
    [manifest] = (tmp_path / "digits" / "splits").glob("*.json")
    good = manifest.read_text()
    if damage == "edit-id":
        content = json.loads(good)
        content["train_ids"] = content["train_ids"][1:]
        damage = json.dumps(content)
    manifest.write_text(damage)
    with pytest.warns(UserWarning, match="split manifest .* is corrupt"):
        runner.run(_request(tmp_path, bits=(16,)))
    assert manifest.read_text() == good


def test_a_folder_where_the_split_manifest_belongs_fails_before_training(more_plugins, tmp_path):
    runner.run(_request(tmp_path, method="counting"))
    [manifest] = (tmp_path / "digits" / "splits").glob("*.json")
    manifest.unlink()
    manifest.mkdir()
    with pytest.raises(ZshbenchError, match="a folder is where the split manifest"):
        runner.run(_request(tmp_path, method="counting", bits=(16,)))
    assert Counting.trainings == 1


@pytest.mark.slow
def test_a_record_another_process_is_running_is_skipped(more_plugins, tmp_path):
    from zshbench.results import RecordLock

    [first] = runner.run(_request(tmp_path, method="counting"))
    busy = first.with_name("bits16-seed0.json")
    lock = RecordLock(busy)
    assert lock.acquire()  # "another process" (another open file) runs 16 bits now
    try:
        paths = runner.run(_request(tmp_path, method="counting", bits=(8, 16, 32)))
    finally:
        lock.release()
    assert [p.name for p in paths] == ["bits8-seed0.json", "bits32-seed0.json"]
    assert Counting.trainings == 2 and not busy.exists()


def test_stale_temporary_files_are_cleaned_on_the_next_run_of_the_record(more_plugins, tmp_path):
    [path] = runner.run(_request(tmp_path))
    stale = path.with_name(f".{path.name}.deadbeef.tmp")
    stale.write_text('{"half')
    path.unlink()
    runner.run(_request(tmp_path))
    assert path.is_file() and not stale.exists()


def test_an_interrupted_record_releases_its_lock(more_plugins, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        runner.run(_request(tmp_path, interrupt=True))
    assert not list(tmp_path.rglob("*.lock"))
    SEEN.clear()
    runner.run(_request(tmp_path))  # the same record runs again, in this same process
    assert SEEN["class_names"]


@pytest.mark.slow
def test_the_encoder_a_method_reads_is_checked_and_recorded(more_plugins, tmp_path):
    request = _request(tmp_path, method="texts")
    request.encoder, request.encoder_options = "hashing", {"n_features": 32.0}
    record = json.loads(runner.run(request)[0].read_text())
    assert SEEN["vectors"] == (17, 32)
    assert record["encoder"] == "hashing" and record["encoder_options"]["n_features"] == 32
    default = json.loads(runner.run(_request(tmp_path / "b", method="texts"))[0].read_text())
    assert default["encoder"] == "minilm"
    plain = json.loads(runner.run(_request(tmp_path / "c"))[0].read_text())
    assert plain["encoder"] is None


def test_encoder_flags_for_a_method_that_reads_no_texts_are_not_silent(more_plugins, tmp_path):
    from zshbench.method import Progress

    class Logged(Progress):
        lines: list = []

        def log(self, message):
            self.lines.append(message)

    request = _request(tmp_path)
    request.encoder = "hashing"
    runner.run(request, Logged())
    assert any("spy does not read the attribute-text encoder" in m for m in Logged.lines)


@pytest.mark.parametrize("text", ["99999999999999999999", "4294967296", "-1"])
def test_seeds_beyond_32_bits_are_refused(text):
    with pytest.raises(ZshbenchError, match="bad seed list"):
        runner.parse_seeds(text)
    assert runner.parse_seeds("4294967295") == [4294967295]
