"""Result records are written atomically; report aggregates them correctly."""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import signal
import stat
import subprocess
import sys
import warnings
from dataclasses import replace

import pytest

from zshbench import results
from zshbench.errors import ZshbenchError
from zshbench.record import SCHEMA_VERSION, Record, SplitInfo, Timings
from zshbench.report import leaderboards, records_frame, render, summarise


def _record(dataset="digits", method="itq", bits=16, seed=0, value=0.5, ties="expected", **more):
    return Record(
        method=method,
        run_name=method,
        dataset=dataset,
        split=SplitInfo(id="random-0-abc", name="random-0"),
        bits=bits,
        seed=seed,
        tie_policy=ties,
        topk=5000,
        options={},
        config={},
        encoder=None,
        encoder_options=None,
        metrics={"map@5000": value},
        curves={},
        timings=Timings(fit_s=1.0, encode_s=0.5, evaluate_s=0.25),
        method_source=None,
        method_family=None,
        environment=None,
        distributed=None,
        created=None,
        **more,
    )


def _write(tmp_path, **kwargs):
    record = _record(**kwargs)
    path = results.record_path(
        tmp_path, record.dataset, record.split.id, record.run_name, record.bits, record.seed
    )
    results.write_record(path, record)
    return path


def test_atomic_write_keeps_old_record_when_the_write_fails(tmp_path, monkeypatch):
    path = _write(tmp_path, value=0.25)
    before = path.read_text()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        results.write_record(path, _record(value=0.99))
    assert path.read_text() == before
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left


def test_unreadable_record_is_skipped_with_a_warning(tmp_path):
    _write(tmp_path, value=0.5)
    bad = tmp_path / "digits" / "x" / "itq" / "bits8-seed0.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{ half-written")
    with pytest.warns(UserWarning, match="unreadable"):
        rows = list(results.iter_records(tmp_path))
    assert len(rows) == 1


def test_mean_and_sample_std_over_seeds(tmp_path):
    for seed, value in enumerate([0.5, 0.6, 0.7]):
        _write(tmp_path, seed=seed, value=value)
    _write(tmp_path, method="lsh", value=0.2)
    summary = summarise(records_frame(tmp_path)).set_index("method")
    # mean of 0.5, 0.6, 0.7 = 0.6; sample std = sqrt(((-.1)^2 + 0 + .1^2) / 2) = 0.1
    assert summary.loc["itq", "mean"] == pytest.approx(0.6)
    assert summary.loc["itq", "std"] == pytest.approx(0.1)
    assert summary.loc["itq", "n"] == 3
    assert math.isnan(summary.loc["lsh", "std"])  # one seed: no spread, not a measured 0
    markdown = render(tmp_path, "markdown")
    assert "**60.00 ± 10.00**" in markdown and "| lsh " in markdown and "20.00" in markdown


def test_tie_policies_are_never_averaged_together(tmp_path):
    _write(tmp_path, value=0.5, ties="expected")
    _write(tmp_path, seed=1, value=0.9, ties="index")
    text = render(tmp_path, "markdown")
    assert text.count("###") == 2 and "ties: expected" in text and "ties: index" in text


def test_paper_values_beside_measured_ones(tmp_path):
    _write(tmp_path, dataset="cub", bits=24, value=0.3)
    text = render(tmp_path, "markdown", paper=True)
    assert "RAZH (paper)" in text
    latex = render(tmp_path, "latex")
    assert "\\begin{tabular}" in latex
    csv = render(tmp_path, "csv")
    # the header says the unit: mAP 0.3 is 30 %
    assert csv.splitlines()[0] == "dataset,split,ties,metric,method,bits,mean_pct,std_pct,n,nan"
    assert csv.splitlines()[1].endswith(",30.0,,1,0")  # one seed: the std field is empty


def test_report_without_records_says_what_to_do(tmp_path):
    with pytest.raises(ZshbenchError, match="zshbench run"):
        render(tmp_path, "markdown")


def test_record_carries_schema(tmp_path):
    path = _write(tmp_path)
    assert json.loads(path.read_text())["schema"] == SCHEMA_VERSION == 2


def test_leaderboard_title_gives_the_chance_level(tmp_path):
    for seed in (0, 1):
        record = _record(seed=seed, value=0.4)
        record.metrics["chance_map"] = 0.1167
        path = results.record_path(tmp_path, "digits", "random-0-abc", "itq", 16, seed)
        results.write_record(path, record)
    text = render(tmp_path, "markdown")
    assert "chance level 11.67 (every code tied)" in text


def test_a_hashed_run_name_is_shown_by_its_options(tmp_path):
    """Issue 18: the table names the run by its options (zshbench/run_names.py), not a hash."""
    record = replace(_record(method="razh"), run_name="razh@1a2b3c4d", options={"losses": "cls+h"})
    path = results.record_path(tmp_path, "digits", "random-0-abc", "razh@1a2b3c4d", 16, 0)
    results.write_record(path, record)
    [(title, _, rows, _)] = leaderboards(tmp_path)
    assert rows[0][0] == "razh[losses=cls+h]" and "1a2b3c4d" not in title
    assert "razh\\[losses=cls+h\\]" in render(tmp_path, "markdown")  # markdown-escaped


# --- issue 10: records honour the umask, stay inside --results, and are trusted no further --


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_records_honour_the_umask(tmp_path, umask):
    """mkstemp made every record 0600; a colleague's report then skipped them all."""
    old = os.umask(umask)
    try:
        path = _write(tmp_path)
        results.atomic_write_text(tmp_path / "report.md", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "report.md").stat().st_mode) == 0o666 & ~umask


def test_a_failed_fsync_keeps_the_old_record_and_names_the_file(tmp_path, monkeypatch):
    path = _write(tmp_path, value=0.25)
    before = path.read_text()

    def full(handle):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as caught:
        results.write_record(path, _record(value=0.99))
    assert caught.value.filename == str(path) and caught.value.errno == errno.ENOSPC
    assert path.read_text() == before and [p.name for p in path.parent.iterdir()] == [path.name]


@pytest.mark.parametrize(
    "name", ["../../../escaped_run", "/abs/run", "a/b", "..", "", "Run", "itq run", "a" * 101]
)
def test_run_names_that_would_leave_the_folder_are_refused(name):
    with pytest.raises(ZshbenchError, match="bad run name"):
        results.check_run_name(name)


@pytest.mark.parametrize("name", ["itq", "razh-c", "itq@1f2e3d4c", "my-run@pca-16"])
def test_good_run_names(name):
    assert results.check_run_name(name) == name


@pytest.mark.parametrize(
    "parts",
    [
        ("..", "s", "r"),
        ("d", "../..", "r"),
        ("d", "s", "/abs"),
        ("d", "s", ""),
        ("d\x00", "s", "r"),
    ],
)
def test_record_paths_never_leave_the_results_folder(tmp_path, parts):
    with pytest.raises(ZshbenchError, match="cannot be a folder or file name"):
        results.record_path(tmp_path, *parts, 16, 0)


def _sweep(tmp_path, cells):
    for method, bits, seed, value in cells:
        _write(tmp_path, method=method, bits=bits, seed=seed, value=value)


def test_an_incomplete_sweep_shows_n_where_a_cell_has_fewer_seeds(tmp_path):
    """Issue 10: 12 of 15 records of a 5-seed x 3-bits sweep; the 64-bit cell has 2 seeds."""
    cells = [("itq", b, s, 0.5 + 0.01 * s) for b in (16, 32, 64) for s in range(5)]
    _sweep(tmp_path, [c for c in cells if not (c[1] == 64 and c[2] >= 2)])
    [(title, header, rows, _)] = leaderboards(tmp_path)
    assert rows[0][1] == "5"
    text = render(tmp_path, "markdown")
    # 16 bits: mean of .50..54 = .52, sample std = sqrt(.001/4) = 1.58 %; 64 bits: .50, .51
    assert "52.00 ± 1.58**" in text and "50.50 ± 0.71 (n=2)" in text
    assert text.count("(n=2)") == 1 and "fewer seeds than its row" in title
    csv = render(tmp_path, "csv")
    # 64 bits: mean 50.50 %, sample std of .50, .51 = 0.7071 %
    assert ",64,50.5,0.707107,2,0" in csv and csv.rstrip().endswith(",2,0")


def test_a_nan_map_is_shown_not_dropped(tmp_path):
    _sweep(tmp_path, [("itq", 16, 0, 0.5), ("itq", 16, 1, 0.6), ("itq", 16, 2, float("nan"))])
    text = render(tmp_path, "markdown")
    assert "55.00 ± 7.07 (n=2, 1 NaN)" in text and "| itq      | 3 " in text
    _sweep(tmp_path, [("lsh", 16, 0, float("nan"))])
    assert "NaN (1 NaN)" in render(tmp_path, "markdown")
    terminal = render(tmp_path, "terminal")
    assert "1 NaN" in terminal


def test_a_copied_record_counts_once_and_is_reported(tmp_path):
    """Issue 10: bits16-seed0-copy.json counted as a 6th seed."""
    for seed in range(5):
        path = _write(tmp_path, seed=seed, value=0.5 + 0.01 * seed)
    first = path.with_name("bits16-seed0.json")
    copy = first.with_name("bits16-seed0-copy.json")
    shutil.copy(first, copy)
    with pytest.warns(UserWarning, match="duplicate records.*bits16-seed0-copy.json repeats"):
        frame = records_frame(tmp_path)
    assert sorted(frame["seed"]) == [0, 1, 2, 3, 4]
    assert set(frame["path"]) == {str(p) for p in first.parent.glob("bits16-seed?.json")}


def test_records_of_another_schema_are_reported_once(tmp_path):
    _write(tmp_path, seed=0)
    for seed in (1, 2, 3):
        path = _write(tmp_path, seed=seed)
        path.write_text(json.dumps({**json.loads(path.read_text()), "schema": 3}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = list(results.iter_records(tmp_path))
    assert len(rows) == 1
    [message] = [str(w.message) for w in caught]
    assert "3 of schema 3" in message and "reads schema 1 and 2" in message


BROKEN_RECORDS = {
    "no dataset": '{"schema":1,"metrics":{"map@5000":0.5}}',
    "text mAP": '{"schema":1,"method":"itq","dataset":"digits","split":{"id":"s"},"bits":16,'
    '"seed":1,"metrics":{"map@5000":"abc"}}',
    "metrics list": '{"schema":1,"method":"itq","dataset":"digits","split":{"id":"s"},'
    '"bits":16,"seed":2,"metrics":[1]}',
    "bits text": '{"schema":1,"method":"itq","dataset":"digits","split":{"id":"s"},'
    '"bits":"16","seed":3,"metrics":{"map@5000":0.5}}',
    "mAP 1.5": '{"schema":1,"method":"itq","dataset":"digits","split":{"id":"s"},'
    '"bits":16,"seed":4,"metrics":{"map@5000":1.5}}',
    "no map": '{"schema":1,"method":"itq","dataset":"digits","split":{"id":"s"},'
    '"bits":16,"seed":5,"metrics":{"p@10":0.5}}',
    "json list": "[1, 2, 3]",
    "topk text": '{"schema":1,"method":"itq","dataset":"digits","split":{"id":"s"},'
    '"bits":16,"seed":6,"topk":"abc","metrics":{"map@5000":0.5}}',
    "truncated": '{"schema": 1, "method": "it',
    "deep nesting": "[" * 100000 + "]" * 100000,
    "binary": "\udcff\udcfe",
}


@pytest.mark.parametrize("kind", sorted(BROKEN_RECORDS))
def test_a_malformed_record_is_skipped_with_one_line_naming_it(tmp_path, kind):
    good = _write(tmp_path, seed=0)
    bad = good.with_name("bits16-seed9.json")
    bad.write_bytes(BROKEN_RECORDS[kind].encode("utf-8", "surrogateescape"))
    with pytest.warns(UserWarning) as caught:
        text = render(tmp_path, "markdown")
    assert "| itq " in text
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and str(bad) in messages[0] and "\n" not in messages[0]


def test_files_that_are_not_regular_files_are_never_read(tmp_path):
    """A FIFO or a device named like a record would block report forever."""
    good = _write(tmp_path, seed=0)
    os.mkfifo(good.with_name("bits16-seed1.json"))
    os.symlink("/dev/zero", good.with_name("bits16-seed2.json"))
    good.with_name("bits16-seed3.json").mkdir()
    with pytest.warns(UserWarning) as caught:
        rows = list(results.iter_records(tmp_path))
    assert [p for p, _ in rows] == [good]
    assert sum("not a regular file" in str(w.message) for w in caught) == 3


def test_an_empty_csv_selection_is_an_error_not_a_bare_header(tmp_path):
    _write(tmp_path)
    with pytest.raises(ZshbenchError, match="no result records.*cub"):
        render(tmp_path, "csv", datasets=["cub"])


def test_a_lock_is_exclusive_and_released(tmp_path):
    record = tmp_path / "run" / "bits16-seed0.json"
    first, second = results.RecordLock(record), results.RecordLock(record)
    assert first.acquire()
    assert not second.acquire()  # flock: a second open file is refused, even in one process
    first.release()
    assert not first.path.exists()
    assert second.acquire()
    results.RecordLock.release_all()
    assert results.RecordLock(record).acquire()
    results.RecordLock.release_all()


def test_a_lock_dies_with_its_process(tmp_path):
    """kill -9 leaves the lock file behind, but not the lock: the next run takes it over."""
    record = tmp_path / "bits16-seed0.json"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(record)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "locked"
    assert not results.RecordLock(record).acquire()
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    lock = results.RecordLock(record)
    assert lock.path.exists() and lock.acquire()
    lock.release()


HOLD_LOCK = """
import sys, time
from zshbench.results import RecordLock
assert RecordLock(sys.argv[1]).acquire()
print("locked", flush=True)
time.sleep(60)
"""


def test_stale_temporaries_of_a_record_are_removed(tmp_path):
    path = _write(tmp_path)
    stale = [
        path.with_name(".bits16-seed0.json.abc123.tmp"),
        path.with_name(".bits16-seed0.codes.npz.x1.tmp"),
    ]
    other = path.with_name(".bits16-seed1.json.abc123.tmp")
    for file in (*stale, other):
        file.write_text("half")
    assert sorted(results.remove_stale_temporaries(path)) == sorted(stale)
    assert other.exists() and path.exists()


def test_symlink_loops_in_the_results_folder_are_not_followed(tmp_path):
    good = _write(tmp_path)
    (tmp_path / "digits" / "loop").symlink_to("..")
    (tmp_path / "self").symlink_to("self")
    assert [p for p, _ in results.iter_records(tmp_path)] == [good]


def test_a_file_where_a_folder_belongs_is_enotdir_with_the_right_advice(tmp_path):
    """report --output out.txt/table.md with out.txt a file: mkdir says EEXIST; say ENOTDIR."""
    from zshbench.errors import os_error_line

    (tmp_path / "out.txt").write_text("x")
    with pytest.raises(NotADirectoryError) as caught:
        results.atomic_write_text(tmp_path / "out.txt" / "table.md", "table")
    line = os_error_line(caught.value)
    assert "a part of the path is a file, not a folder" in line and "out.txt" in line
    assert (tmp_path / "out.txt").read_text() == "x"


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.ENOSPC, "no space left on the device (f.json) while writing. Free some space"),
        (errno.EACCES, "permission denied (f.json) while writing. Choose a folder you can write"),
        (errno.EROFS, "the file system is read-only"),
        (errno.EISDIR, "it is a folder, not a file (f.json) while writing. Move what is in"),
        (errno.EIO, "Input/output error (f.json) while writing. Check the path"),
    ],
)
def test_os_errors_are_one_line_each(code, words):
    from zshbench.errors import os_error_line

    line = os_error_line(OSError(code, os.strerror(code), "f.json"), "writing")
    assert words in line and line.endswith("finished records are kept.") and "\n" not in line


def test_plot_file_names_never_leave_the_plot_folder(tmp_path):
    """A hand-made record's data set '../../../escaped' put PNGs outside --out."""
    from zshbench.plots import plot_all

    results_dir = tmp_path / "a" / "b" / "results"
    path = _write(results_dir)
    record = json.loads(path.read_text())
    record["dataset"], record["seed"] = "../../../escaped", 1
    path.with_name("bits16-seed1.json").write_text(json.dumps(record))
    written = plot_all(results_dir, results_dir / "plots")
    assert written and all(p.parent == results_dir / "plots" for p in written)
    assert [p for p in tmp_path.rglob("*.png") if p.parent != results_dir / "plots"] == []


def test_pretraining_that_overlaps_unseen_classes_is_marked(tmp_path):
    overlapping = {"pretrained": {"sha256": "ab" * 32, "pretraining_overlaps_unseen": True}}
    clean = {"pretrained": {"sha256": "cd" * 32, "pretraining_overlaps_unseen": False}}
    for method, config in (("razh-f", overlapping), ("itq", clean), ("lsh", {})):
        record = replace(_record(method=method), config=config)
        path = results.record_path(tmp_path, "digits", "random-0-abc", method, 16, 0)
        results.write_record(path, record)
    text = render(tmp_path, "markdown")
    rows = {line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| ")}
    assert "razh-f †" in rows and "itq" in rows and "lsh" in rows
    assert "†: pretrained with class labels that overlap the unseen classes" in text


def test_rows_are_ranked_by_the_code_lengths_every_row_has(tmp_path):
    """'itq' ran 16 and 64 bits (0.90, 0.50), 'lsh' only 64 bits (0.60). On the shared 64-bit
    cell lsh (60) beats itq (50); by its own mean (70) or its best cell (90) itq would lead."""
    _write(tmp_path, method="itq", bits=16, value=0.90)
    _write(tmp_path, method="itq", bits=64, value=0.50)
    _write(tmp_path, method="lsh", bits=64, value=0.60)
    text = render(tmp_path, "markdown")
    body = [line for line in text.splitlines() if line.startswith(("| itq", "| lsh"))]
    assert [line.split("|")[1].strip() for line in body] == ["lsh", "itq"]
    assert "rows by mean over 64 bits" in text
