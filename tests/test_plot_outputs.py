"""Issue 18: ``zshbench plot`` in PNG/SVG/PDF, its --method/--dataset filters, readable run names
and the chance line, checked on the files written (magic bytes, the SVG's own text)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from zshbench import cli, results
from zshbench.errors import ZshbenchError
from zshbench.plots import plot_all
from zshbench.record import Record, SplitInfo, Timings

MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF-"}
CURVES = {"p_at_n": {"n": [1, 10, 100], "precision": [0.6, 0.5, 0.4]}}


def _write(root, dataset, run_name, method, options, bits, value, chance=None):
    metrics = {"map@5000": value}
    if chance is not None:
        metrics["chance_map"] = chance
    record = Record(
        method=method, run_name=run_name, dataset=dataset,
        split=SplitInfo(id="random-0-abc", name="random-0"), bits=bits, seed=0,
        tie_policy="expected", topk=5000, options=options, config={}, encoder=None,
        encoder_options=None, metrics=metrics, curves=CURVES,
        timings=Timings(fit_s=1.0, encode_s=0.5, evaluate_s=0.25), method_source=None,
        method_family=None, environment=None, distributed=None, created=None,
    )  # fmt: skip
    path = results.record_path(root, dataset, "random-0-abc", run_name, bits, 0)
    results.write_record(path, record)


@pytest.fixture
def board(tmp_path):
    """digits: itq, lsh, plain razh and two hashed razh variants (a study's rows); cub: itq."""
    root = tmp_path / "results"
    for bits in (16, 32):
        _write(root, "digits", "itq", "itq", {}, bits, 0.40, chance=0.1167)
        _write(root, "digits", "lsh", "lsh", {}, bits, 0.30, chance=0.1167)
        _write(root, "digits", "razh", "razh", {}, bits, 0.50, chance=0.1167)
        _write(root, "digits", "razh@1a2b3c4d", "razh", {"losses": "cls+h"}, bits, 0.45, 0.1167)
        _write(root, "digits", "razh@5e6f7a8b", "razh", {"losses": "cls"}, bits, 0.35, 0.1167)
        _write(root, "cub", "itq", "itq", {}, bits, 0.05)
    return root


def _svg_texts(path) -> list[str]:
    """Every text the SVG draws (svg.fonttype 'none': text stays text), parsed as XML."""
    tree = ET.parse(path)
    assert tree.getroot().tag == "{http://www.w3.org/2000/svg}svg"
    return ["".join(node.itertext()) for node in tree.iter("{http://www.w3.org/2000/svg}text")]


@pytest.mark.parametrize("fmt", ["png", "pdf", "svg"])
def test_each_format_writes_files_of_that_format(board, tmp_path, fmt):
    paths = plot_all(board, tmp_path / "out", fmt=fmt)
    # per data set one mAP-vs-bits plot and one curve plot per code length: 2 * (1 + 2)
    assert len(paths) == 6 and all(p.suffix == f".{fmt}" for p in paths)
    for path in paths:
        if fmt == "svg":
            _svg_texts(path)
        else:
            assert path.read_bytes().startswith(MAGIC[fmt])


def test_svg_names_runs_by_what_their_options_vary(board, tmp_path):
    [path] = plot_all(board, tmp_path / "out", datasets=["digits"], fmt="svg")[:1]
    texts = _svg_texts(path)
    for name in ("itq", "lsh", "razh", "razh[losses=cls+h]", "razh[losses=cls]"):
        assert name in texts
    assert not any("1a2b3c4d" in text or "5e6f7a8b" in text for text in texts)  # no hashes
    assert "chance level" in texts


def test_method_filter_is_case_insensitive_and_takes_a_method_s_variants(board, tmp_path):
    out = tmp_path / "out"
    paths = plot_all(board, out, datasets=["digits"], methods=["RAZH"], fmt="svg")
    assert {p.name for p in paths} == {
        "digits_random-0-abc_expected_map_vs_bits.svg",
        "digits_random-0-abc_expected_16bits_curves.svg",
        "digits_random-0-abc_expected_32bits_curves.svg",
    }
    for path in paths:
        texts = set(_svg_texts(path))
        assert {"razh", "razh[losses=cls+h]", "razh[losses=cls]"} <= texts
        assert not {"itq", "lsh"} & texts


def test_dataset_filter_writes_only_that_data_set(board, tmp_path):
    paths = plot_all(board, tmp_path / "out", datasets=["cub"], methods=["itq"])
    assert len(paths) == 3 and all(p.name.startswith("cub_") for p in paths)


def test_an_unknown_method_is_one_line_with_a_suggestion(board, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["plot", "--results", str(board), "--method", "itqq"])
    assert exit_.value.code != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'itqq'" in err and "Did you mean 'itq'" in err
    with pytest.raises(ZshbenchError, match="no runs of method"):
        plot_all(board, board / "p", methods=["sdh"])


def test_cli_format_option(board, capsys):
    cli.main(["plot", "--results", str(board), "--format", "pdf", "--method", "lsh"])
    lines = capsys.readouterr().out.split()
    assert len(lines) == 3 and all(line.endswith(".pdf") for line in lines)


def test_log2_axis_and_the_chance_line_at_the_records_level(board, tmp_path, monkeypatch):
    """The record's chance_map 0.1167 is drawn at 11.67 (%); the bits axis is log base 2."""
    import matplotlib.pyplot as plt

    seen = []
    original = plt.Figure.savefig

    def spy(fig, *args, **kwargs):
        seen.append(fig.axes[0])
        return original(fig, *args, **kwargs)

    monkeypatch.setattr(plt.Figure, "savefig", spy)
    plot_all(board, tmp_path / "out", datasets=["digits"])
    ax = seen[0]
    assert ax.get_xscale() == "log" and ax.xaxis.get_transform().base == 2
    [chance] = [line for line in ax.get_lines() if line.get_label() == "chance level"]
    assert list(chance.get_ydata()) == pytest.approx([11.67, 11.67])
    markers = [c.lines[0].get_marker() for c in ax.containers]
    assert len(markers) == 5 and len(set(markers)) == 5  # one per method


def test_report_tables_and_the_html_page_use_the_same_readable_names(board):
    from zshbench.html_report import collect
    from zshbench.report import leaderboards

    expected = {"itq", "lsh", "razh", "razh[losses=cls+h]", "razh[losses=cls]"}
    [digits] = [b for b in collect(board) if b.dataset == "digits"]
    assert set(digits.cells) == expected and set(digits.curves) == expected
    [table] = [t for t in leaderboards(board, datasets=["digits"])]
    assert {row[0] for row in table[2]} == expected
