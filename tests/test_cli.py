"""The command line end to end on the embedded digits data set, and its one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_runner import launch_env, run_zshbench
from schema_check import schema_errors

from zshbench.errors import ZshbenchError


def zshbench(*args: str, cwd: Path):
    """The command line of this checkout (its root on PYTHONPATH), wherever zshbench is
    installed, with one thread per process."""
    return run_zshbench(*args, cwd=cwd, env=launch_env())


@pytest.fixture(scope="module")
def digits_results(tmp_path_factory) -> Path:
    """ITQ and LSH on digits, 2 code lengths × 2 seeds: the README's main job, smaller."""
    root = tmp_path_factory.mktemp("cli")
    for method in ("itq", "lsh"):
        done = zshbench(
            "run",
            "--method",
            method,
            "--dataset",
            "digits",
            "--bits",
            "16,32",
            "--seeds",
            "0,1",
            "--results",
            "results",
            cwd=root,
        )
        assert done.returncode == 0, done.stderr
    return root


def test_run_writes_one_record_per_bits_and_seed(digits_results):
    records = sorted((digits_results / "results").rglob("bits*-seed*.json"))
    assert len(records) == 8
    record = json.loads(records[0].read_text())
    for key in ("split", "tie_policy", "environment", "timings", "config", "curves", "seed"):
        assert key in record
    assert record["split"]["num_train"] == 400 and record["split"]["num_query"] == 60
    assert record["split"]["num_database"] == 1337
    assert record["tie_policy"] == "expected"
    manifests = list((digits_results / "results" / "digits" / "splits").glob("*.json"))
    assert [m.stem for m in manifests] == [record["split"]["id"]]


@pytest.mark.slow
def test_rerun_skips_finished_records_and_overwrite_redoes_them(digits_results):
    record = next((digits_results / "results").rglob("itq/bits16-seed0.json"))
    stamp = record.stat().st_mtime_ns
    rerun = (
        "run",
        "--method",
        "itq",
        "--dataset",
        "digits",
        "--bits",
        "16",
        "--results",
        "results",
    )
    again = zshbench(*rerun, cwd=digits_results)
    assert again.returncode == 0 and record.stat().st_mtime_ns == stamp
    redo = zshbench(*rerun, "--overwrite", cwd=digits_results)
    assert redo.returncode == 0 and record.stat().st_mtime_ns != stamp


@pytest.mark.slow
def test_report_and_plot(digits_results):
    for fmt in ("terminal", "markdown", "latex", "csv"):
        done = zshbench("report", "--format", fmt, cwd=digits_results)
        assert done.returncode == 0, done.stderr
        assert "itq" in done.stdout and "lsh" in done.stdout
    plotted = zshbench("plot", cwd=digits_results)
    assert plotted.returncode == 0, plotted.stderr
    pngs = sorted((digits_results / "results" / "plots").glob("*.png"))
    assert len(pngs) == 3  # mAP vs bits + curves at 16 and 32 bits
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_the_printed_schema_holds_every_record_a_run_wrote(digits_results):
    """``zshbench schema record`` is what a tool outside Python reads records with."""
    printed = zshbench("schema", "record", cwd=digits_results)
    assert printed.returncode == 0, printed.stderr
    schema = json.loads(printed.stdout)
    records = sorted((digits_results / "results").rglob("bits*-seed*.json"))
    assert len(records) == 8
    for path in records:
        record = json.loads(path.read_text())
        assert record["schema"] == 2 and schema_errors(record, schema) == [], path
    record["bits"] = "16"  # a schema that held anything would pass this too
    assert schema_errors(record, schema)
    wrong = zshbench("schema", "records", cwd=digits_results)
    assert wrong.returncode == 2 and "'records' is not 'record'" in wrong.stderr


def test_itq_beats_lsh_on_digits(digits_results):
    """ITQ (learned rotation of PCA) is known to beat LSH (random hyperplanes) at short codes."""
    values: dict[str, list[float]] = {"itq": [], "lsh": []}
    for path in (digits_results / "results").rglob("bits16-seed*.json"):
        record = json.loads(path.read_text())
        values[record["method"]].append(record["metrics"]["map@5000"])
    assert np.mean(values["itq"]) > np.mean(values["lsh"])


@pytest.mark.slow
def test_eval_json_on_codes_made_elsewhere(tmp_path):
    # 2 queries, 3 database items, 4 bits, codes in {0,1}; no ties, so every policy agrees.
    # query 0 = 1111 (label 0): db 1111 (d0, label 0: rel), 1110 (d1, label 2), 0000 (d4,
    # label 0: rel) -> relevance 1,0,1 -> AP = (1/1 + 2/3) / 2 = 5/6.
    # query 1 = 0000 (label 0): db 0000 (d0, rel), 1110 (d3), 1111 (d4, rel) -> AP = 5/6.
    path = tmp_path / "codes.npz"
    np.savez(
        path,
        query_codes=np.array([[1, 1, 1, 1], [0, 0, 0, 0]]),
        query_labels=np.array([0, 0]),
        db_codes=np.array([[1, 1, 1, 1], [0, 0, 0, 0], [1, 1, 1, 0]]),
        db_labels=np.array([0, 0, 2]),
    )
    done = zshbench("eval", str(path), "--topk", "all", "--ties", "index", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["map@all"] == pytest.approx(5 / 6)
    assert result["ties"] == "index" and result["num_queries"] == 2
    assert result["num_database"] == 3
    # top 2 only: query 0 keeps 1111, 1110 -> AP = 1/1 (R = 1); query 1 keeps 0000, 1110 -> 1
    done = zshbench("eval", str(path), "--topk", "2", "--json", cwd=tmp_path)
    assert json.loads(done.stdout)["map@2"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "--method", "itq", "--dataset", "digits", "--bits", "16,abc"], "bad bit list"),
        (["run", "--method", "itq", "--dataset", "digits", "--bits", "0"], "bad bit list"),
        (["run", "--method", "nope", "--dataset", "digits"], "unknown method 'nope'"),
        (["run", "--method", "itq", "--dataset", "nope"], "unknown data set 'nope'"),
        (
            ["run", "--method", "itq", "--dataset", "cub", "--data-root", "/no/such/dir"],
            "CUB_200_2011",
        ),
        (["run", "--method", "itq", "--dataset", "digits", "-o", "nonsense=1"], "no option"),
        (["eval", "missing.npz"], "missing.npz"),
        (["info", "nope"], "nothing is registered as 'nope'"),
    ],
)
@pytest.mark.slow
def test_bad_input_gets_one_clear_line(tmp_path, args, expected):
    done = (
        zshbench(*args, "--results", "results", cwd=tmp_path)
        if args[0] == "run"
        else zshbench(*args, cwd=tmp_path)
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("zshbench: error: ") and expected in lines[0]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").rglob("bits*"))


@pytest.mark.slow
def test_real_cub_mini64_with_a_users_own_protocol(shared_data, tmp_path):
    """A user's data-set file points the CUB layout at cub-mini64 with its own numbers."""
    own = tmp_path / "my-cub.toml"
    own.write_text(
        'name = "my-cub"\ntitle = "CUB 001-050, my protocol"\nloader = "cub"\n'
        'num_classes = 50\ndefault_split = "random-3"\n\n[protocol]\nnum_seen = 40\n'
        "num_unseen = 10\ntrain_per_seen_class = 20\nquery_per_unseen_class = 10\n"
        "validation_classes = 5\n"
    )
    done = zshbench(
        "run",
        "--method",
        "lsh",
        "--dataset",
        str(own),
        "--bits",
        "16",
        "--data-root",
        str(shared_data / "cub-mini64"),
        "--results",
        "r",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    record = json.loads(next((tmp_path / "r").rglob("bits16-seed0.json")).read_text())
    assert record["dataset"] == "my-cub" and record["split"]["name"] == "random-3"
    assert record["split"]["num_train"] == 40 * 20 and record["split"]["num_query"] == 10 * 10
    assert (
        record["split"]["num_train"]
        + record["split"]["num_query"]
        + record["split"]["num_database"]
        == 2889
    )


def test_info_shows_options_and_data_set_entries(tmp_path):
    method = zshbench("info", "itq", cwd=tmp_path)
    assert method.returncode == 0 and "iterations = 50" in method.stdout
    dataset = zshbench("info", "awa2", cwd=tmp_path)
    assert "'expected_database': 32322" in dataset.stdout
    assert "https://cvml.ista.ac.at/AwA2/" in dataset.stdout
    assert "named splits: proposed, standard" in dataset.stdout


# --- issue 10: one line, exit 2, no traceback, nothing written ------------------------------

ITQ = ["run", "--method", "itq", "--dataset", "digits", "--bits", "16", "--results", "results"]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["-o", "iterations=abc"], 'iterations must be a whole number ≥ 0, not "abc"'),
        (["-o", "iterations={bad"], 'not "{bad"'),
        (["-o", "iterations=1e400"], "not inf"),
        (["-o", "iterations=2.7"], "not 2.7"),  # was run as 2 and recorded as 2.7
        (["-o", "extractor_options=[1,2]"], "extractor_options must be a JSON object"),
        (["-o", 'extractor_options={"size": -3}'], "extractor pixels option size must be"),
        (["--seeds", "99999999999999999999"], "bad seed list"),
        (["--name", "../../../escaped_run"], "bad run name"),
        (["--name", "/tmp/abs_run"], "bad run name"),
        (["--results", "/dev/null"], "a part of the path is a file, not a folder"),
    ],
)
def test_bad_run_input_is_one_line_and_writes_nothing(tmp_path, extra, expected):
    done = zshbench(*ITQ, *extra, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()], done.stderr
    assert done.stderr.startswith("zshbench: error: ") and expected in done.stderr
    assert not list(tmp_path.rglob("*.json"))


@pytest.mark.slow
def test_a_data_file_cannot_run_code_through_the_cli(tmp_path):
    """Issue 10, item 1: this file deleted victim/ and only then complained."""
    (tmp_path / "victim").mkdir()
    (tmp_path / "victim" / "precious.txt").write_text("keep me")
    for loader in ("shutil:rmtree", "builtins:len"):
        (tmp_path / "evil.toml").write_text(
            f'name = "evil"\ntitle = "t"\nloader = "{loader}"\nnum_classes = 10\n'
            'default_root = "victim"\n\n[protocol]\nnum_seen = 8\nnum_unseen = 2\n'
            "train_per_seen_class = 50\nquery_per_unseen_class = 30\n"
        )
        done = zshbench(*ITQ[:4], "evil.toml", "--bits", "16", cwd=tmp_path)
        assert done.returncode == 2 and "never a Python function" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    assert (tmp_path / "victim" / "precious.txt").read_text() == "keep me"


@pytest.mark.parametrize("name", ["../../x", "/abs/data"])
@pytest.mark.slow
def test_a_data_set_name_cannot_place_records_outside_results(tmp_path, name):
    (tmp_path / "mine.toml").write_text(
        f'name = "{name}"\ntitle = "t"\nloader = "digits"\nnum_classes = 10\nembedded = true\n'
        "\n[protocol]\nnum_seen = 8\nnum_unseen = 2\ntrain_per_seen_class = 50\n"
        "query_per_unseen_class = 30\n"
    )
    done = zshbench(*ITQ[:4], "mine.toml", "--bits", "16", "--results", "results", cwd=tmp_path)
    assert done.returncode == 2 and "key 'name'" in done.stderr
    assert not list(tmp_path.rglob("*.json"))


@pytest.mark.slow
def test_a_full_disk_is_one_line(tmp_path):
    """ENOSPC while the record is written: one line, the run resumes after space is freed."""
    script = (
        "import errno, os, sys\n"
        "real = os.open\n"
        "def full(path, flags, *a, **k):\n"
        "    if '.bits16-seed0.json.' in str(path) and str(path).endswith('.tmp'):\n"
        "        raise OSError(errno.ENOSPC, 'No space left on device')\n"
        "    return real(path, flags, *a, **k)\n"
        "os.open = full\n"
        "from zshbench.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *ITQ, "--bits", "8,16"],
        cwd=tmp_path,
        env=launch_env(),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("zshbench: error: no space left on the device") and "16" in last
    assert [p.name for p in tmp_path.rglob("bits*.json")] == ["bits8-seed0.json"]


def test_report_csv_of_an_empty_selection_is_an_error(digits_results):
    done = zshbench("report", "--format", "csv", "--dataset", "cub", cwd=digits_results)
    assert done.returncode == 2 and "no result records" in done.stderr and not done.stdout


@pytest.mark.slow
def test_garbage_codes_file_never_suggests_allow_pickle(tmp_path):
    (tmp_path / "garbage.npz").write_bytes(b"garbage" * 20)
    done = zshbench("eval", "garbage.npz", cwd=tmp_path)
    assert done.returncode == 2 and "allow_pickle" not in done.stderr
    assert "pickled data is never loaded" in done.stderr


@pytest.mark.slow
def test_info_prints_option_types_and_ranges(tmp_path):
    done = zshbench("info", "itq", cwd=tmp_path)
    assert "iterations = 50  (a whole number ≥ 0)" in done.stdout
    assert "extractor_options = {}  (a JSON object" in done.stdout
    done = zshbench("info", "pixels", cwd=tmp_path)
    assert "size = null  (a whole number ≥ 1 or null)" in done.stdout
    done = zshbench("info", "cub", cwd=tmp_path)
    assert "loader: cub" in done.stdout and "loader cub from zshbench" in done.stdout
    assert "verify_images = true" in done.stdout


@pytest.mark.slow
def test_two_identical_sweeps_share_the_work(tmp_path):
    """Issue 10: two identical sweeps into one folder both did all the work."""
    args = [sys.executable, "-m", "zshbench", "run", "--method", "sh", "--dataset", "digits"]
    args += ["--bits", "8,16", "--seeds", "0,1,2,3", "--results", "results"]
    env = launch_env()
    sweeps = [
        subprocess.Popen(args, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    logs = [sweep.communicate(timeout=600)[1] for sweep in sweeps]
    assert all(sweep.returncode == 0 for sweep in sweeps), logs
    trained = [log.count("map@5000 =") for log in logs]
    assert sum(trained) == 8, trained  # every record computed exactly once
    assert len(list((tmp_path / "results").rglob("bits*.json"))) == 8
    assert not list((tmp_path / "results").rglob(".*.lock"))


@pytest.mark.slow
def test_a_results_path_with_spaces_and_non_ascii(tmp_path):
    results = tmp_path / "mes résultats" / "Ünïcødé ✓ 1"
    done = zshbench(*ITQ[:-1], str(results), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"under {results}" in done.stdout
    report = zshbench("report", "--results", str(results), "--format", "markdown", cwd=tmp_path)
    assert report.returncode == 0 and "| itq " in report.stdout
    plot = zshbench("plot", "--results", str(results), cwd=tmp_path)
    assert plot.returncode == 0 and len(list((results / "plots").glob("*.png"))) == 2


@pytest.mark.slow
def test_an_interrupted_plot_never_leaves_a_half_written_png(digits_results, tmp_path):
    """The PNG writer dies half-way: every PNG on disk is still the whole old one."""
    out = tmp_path / "plots"
    assert zshbench("plot", "--out", str(out), cwd=digits_results).returncode == 0
    before = {p.name: p.read_bytes() for p in out.glob("*.png")}
    script = (
        "import io, sys\n"
        "from matplotlib.figure import Figure\n"
        "real = Figure.savefig\n"
        "def half(self, target, *args, **kwargs):\n"
        "    buffer = io.BytesIO()\n"
        "    real(self, buffer, *args, **{**kwargs, 'format': 'png'})\n"
        "    data = buffer.getvalue()[: len(buffer.getvalue()) // 2]\n"
        "    if hasattr(target, 'write'):\n"
        "        target.write(data)\n"
        "    else:\n"
        "        open(target, 'wb').write(data)\n"
        "    raise KeyboardInterrupt\n"
        "Figure.savefig = half\n"
        "from zshbench.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "plot", "--out", str(out)],
        cwd=digits_results,
        env=launch_env(),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 130 and "interrupted" in done.stderr
    assert {p.name: p.read_bytes() for p in out.glob("*.png")} == before
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_method_families_and_comma_lists_expand_to_registered_methods():
    from zshbench.plugin_manager import load_plugins
    from zshbench.runner import expand_methods

    plugins = load_plugins()
    deep = expand_methods("deep", plugins)
    assert {"razh", "razh-c", "razh-f"} <= set(deep)
    assert all(plugins.methods.get(name).family == "deep" for name in deep)
    linear = expand_methods("linear", plugins)
    assert {"lsh", "sh", "itq"} <= set(linear) and not set(linear) & set(deep)
    zero_shot = expand_methods("zero-shot", plugins)
    assert "razh" in zero_shot and "lsh" not in zero_shot
    assert set(expand_methods("all", plugins)) == set(plugins.methods.names())
    # a comma list keeps its order, each method once, and may mix names and families
    assert expand_methods("itq,lsh,itq", plugins) == ["itq", "lsh"]
    assert expand_methods("lsh,linear", plugins)[0] == "lsh"
    with pytest.raises(ZshbenchError, match="unknown method 'nope'"):
        expand_methods("lsh,nope", plugins)


@pytest.mark.slow
def test_a_comma_list_runs_each_method_and_checks_all_options_first(tmp_path):
    ok = zshbench("run", "--method", "lsh,itq", "--dataset", "digits", "--bits", "16", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "2 record(s)" in ok.stdout
    assert {p.parent.name for p in tmp_path.rglob("bits16-seed0.json")} == {"lsh", "itq"}
    # itq has an option lsh lacks: refused before anything runs, in one line
    bad = zshbench(
        "run", "--method", "itq,lsh", "--dataset", "digits", "--bits", "16",
        "--results", "other", "-o", "iterations=3", cwd=tmp_path,
    )  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "no option iterations" in bad.stderr and not (tmp_path / "other" / "digits").exists()
    named = zshbench(
        "run", "-m", "lsh,itq", "-d", "digits", "-b", "16", "--name", "x", cwd=tmp_path
    )
    assert named.returncode == 2 and "--name 'x' given for 2 methods" in named.stderr


def test_a_method_that_fails_in_a_sweep_does_not_stop_the_others(tmp_path, monkeypatch):
    """A failure only fit can find (here ITQ's fit made to fail as a diverging run would; a code
    length a method cannot give is refused before anything trains, tests/test_code_lengths.py)
    is one line, and the sweep goes on with the other methods."""
    from plugins.linear.itq import ITQ
    from zshbench.runner import RunRequest, run_methods

    def failing_fit(self, data, context):
        raise ZshbenchError("ITQ diverged (made to fail by the test)")

    monkeypatch.setattr(ITQ, "fit", failing_fit)
    request = RunRequest(
        method="itq,lsh", dataset="digits", bits=[16], device="cpu", results_dir=tmp_path
    )
    with pytest.raises(ZshbenchError, match=r"1 of 2 methods failed: itq \(ITQ diverged"):
        run_methods(request)
    assert {p.parent.name for p in tmp_path.rglob("bits16-seed0.json")} == {"lsh"}
    # run again: lsh is skipped as finished, itq fails the same way, nothing is lost
    with pytest.raises(ZshbenchError, match="1 of 2 methods failed: itq"):
        run_methods(request)
    assert {p.parent.name for p in tmp_path.rglob("bits16-seed0.json")} == {"lsh"}


@pytest.mark.slow
def test_a_sweep_on_a_missing_data_set_stops_at_the_first_method(tmp_path):
    missing = zshbench(
        "run", "--method", "lsh,itq", "--dataset", "cub", "--data-root", str(tmp_path / "none"),
        "--bits", "16", cwd=tmp_path,
    )  # fmt: skip
    assert missing.returncode == 2 and "methods failed" not in missing.stderr
    assert missing.stderr.count("zshbench: error:") == 1


def test_list_methods_shows_family_and_citation(tmp_path):
    listed = zshbench("list", "methods", cwd=tmp_path)
    assert listed.returncode == 0
    assert "family" in listed.stdout and "citation" in listed.stdout
    assert "zero-shot" in listed.stdout and "Jiang" in listed.stdout
