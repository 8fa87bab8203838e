"""The run engine with in-process test methods: what a method sees, bad codes, interruptions."""

from __future__ import annotations

import json

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
