"""The progress a sweep shows: an outer bar that knows every record of the sweep (so its ETA
covers all of it), and the deep engine's validation encodes named as such."""

from __future__ import annotations

import contextlib
from dataclasses import replace

from zshbench.method import Progress
from zshbench.runner import RunRequest, run_methods


class Recorder(Progress):
    """Every task's description, total and the steps it was advanced by."""

    def __init__(self):
        self.tasks: list[dict] = []

    @contextlib.contextmanager
    def task(self, description, total=None):
        entry = {"description": description, "total": total, "done": 0}
        self.tasks.append(entry)

        def advance(steps=1):
            entry["done"] += steps

        yield advance


def _request(tmp_path, methods: str) -> RunRequest:
    return RunRequest(
        method=methods, dataset="digits", bits=[8, 16], seeds=[0, 1], split=None,
        device="cpu", data_root=None, data_options={}, results_dir=tmp_path / "results",
        options={},
    )  # fmt: skip


def _outer(recorder: Recorder) -> list[dict]:
    return [t for t in recorder.tasks if t["description"] == "2 methods: records"]


def test_the_sweep_bar_counts_methods_times_bits_times_seeds(tmp_path):
    recorder = Recorder()
    paths = run_methods(_request(tmp_path, "lsh,itq"), recorder)
    assert len(paths) == 8
    [outer] = _outer(recorder)
    assert outer["total"] == 2 * 2 * 2 and outer["done"] == 8
    per_run = [
        t for t in recorder.tasks if t["description"].endswith(": records") and t is not outer
    ]
    assert [(t["description"], t["total"]) for t in per_run] == [
        ("lsh: records", 4), ("itq: records", 4),
    ]  # fmt: skip
    # run again: every record is there already, and the outer bar still reaches its total
    again = Recorder()
    run_methods(_request(tmp_path, "lsh,itq"), again)
    [outer] = _outer(again)
    assert outer["done"] == 8


def test_the_deep_engine_names_the_validation_set_it_encodes(tmp_path):
    from razh_tiny import TINY

    recorder = Recorder()
    request = replace(_request(tmp_path, "razh"), bits=[8], seeds=[0], options=dict(TINY))
    run_methods(request, recorder)
    names = [t["description"] for t in recorder.tasks if t["description"].startswith("encode")]
    validation = [n for n in names if n.startswith("encode the validation set (")]
    assert validation and all(n.endswith(" images)") for n in validation)
    assert "encode queries (60 images)" in names and "encode database (1337 images)" in names
