"""Output piped to grep or a file: nothing wrapped, cut or padded; ``list --json``."""

from __future__ import annotations

import json

from cli_runner import launch_env, run_zshbench

from zshbench import results
from zshbench.plugin_manager import load_plugins
from zshbench.record import Record, SplitInfo, Timings

LONG_RUN = "itq@" + "a-very-long-variant-name-that-no-eighty-column-table-can-hold" * 2


def test_list_piped_is_one_unpadded_line_per_entry(tmp_path):
    done = run_zshbench("list", "methods", cwd=tmp_path, env=launch_env())
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "methods" and lines[1].split("\t") == [
        "name", "family", "summary", "citation", "from"
    ]  # fmt: skip
    names = load_plugins().methods.names()
    assert [line.split("\t")[0] for line in lines[2:]] == names
    assert all(len(line.split("\t")) == 5 for line in lines[1:])
    assert not any(line != line.rstrip() for line in lines)  # no padding


def test_list_json_names_every_registered_entry(tmp_path):
    done = run_zshbench("list", "--json", cwd=tmp_path, env=launch_env())
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    plugins = load_plugins()
    for kind in ("methods", "datasets", "encoders", "extractors"):
        assert [entry["name"] for entry in listed[kind]] == plugins.registry(kind).names()
    itq = next(entry for entry in listed["methods"] if entry["name"] == "itq")
    assert itq["family"] == "linear" and itq["from"]


def test_download_list_keeps_whole_paths(tmp_path):
    root = tmp_path / ("deep-" * 20) / "data"
    done = run_zshbench(
        "download", cwd=tmp_path, env={**launch_env(), "ZSHBENCH_DATA_ROOT": str(root)}
    )
    assert done.returncode == 0, done.stderr
    assert f"{root}/cub" in done.stdout.split()


def test_report_piped_keeps_each_row_on_one_line(tmp_path):
    record = Record(
        method="itq", run_name=LONG_RUN, dataset="digits",
        split=SplitInfo(id="random-0-abc", name="random-0"), bits=16, seed=0,
        tie_policy="expected", topk=5000, options={"x": 1}, config={}, encoder=None,
        encoder_options=None, metrics={"map@5000": 0.4321}, curves={},
        timings=Timings(fit_s=1.0, encode_s=0.5, evaluate_s=0.25), method_source=None,
        method_family=None, environment=None, distributed=None, created=None,
    )  # fmt: skip
    path = results.record_path(tmp_path / "r", "digits", "random-0-abc", LONG_RUN, 16, 0)
    results.write_record(path, record)
    done = run_zshbench("report", "--results", str(tmp_path / "r"), cwd=tmp_path, env=launch_env())
    assert done.returncode == 0, done.stderr
    row = [line for line in done.stdout.splitlines() if "43.21" in line]
    assert len(row) == 1 and LONG_RUN in row[0]  # the name whole, beside its value
