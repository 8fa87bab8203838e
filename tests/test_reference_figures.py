"""``report --paper``: the reference figures plugins register, beside the measured rows.

The RAZH values checked are typed in here (Table II of the paper, CUB rows), not read back
through the code under test. The core's report knows no paper: it shows whatever a plugin
registers, in the column of its code length, and says in one line when nothing is registered.
"""

from __future__ import annotations

import sys
import types

import pytest

from zshbench import plugin_manager, results
from zshbench.errors import PluginError
from zshbench.hookspecs import hookimpl
from zshbench.plugin_manager import collect
from zshbench.reference_figures import load_figures
from zshbench.registry import ReferenceFiguresSpec
from zshbench.report import render


def _write(tmp_path, dataset: str, bits: int, value: float, metric: str = "map@5000") -> None:
    from zshbench.record import Record, SplitInfo, Timings

    record = Record(
        method="itq", run_name="itq", dataset=dataset,
        split=SplitInfo(id="random-0-abc", name="random-0"), bits=bits, seed=0,
        tie_policy="expected", topk=int(metric.partition("@")[2]), options={}, config={},
        encoder=None, encoder_options=None, metrics={metric: value}, curves={},
        timings=Timings(fit_s=1.0, encode_s=0.5, evaluate_s=0.25), method_source=None,
        method_family=None, environment=None, distributed=None, created=None,
    )  # fmt: skip
    path = results.record_path(tmp_path, dataset, "random-0-abc", "itq", bits, 0)
    results.write_record(path, record)


def _markdown_rows(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| method"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def test_razh_registers_its_table_two_and_report_shows_it_for_cub(tmp_path):
    _write(tmp_path, "cub", 24, 0.05)
    _write(tmp_path, "cub", 64, 0.07)
    text = render(tmp_path, "markdown", paper=True)
    rows = _markdown_rows(text)
    # Table II, CUB at 24 and 64 bits (RAZH 13.13 / 16.95; ITQ 5.33 / 8.92); 48 bits not shown
    assert rows["RAZH (paper)"] == ["", "13.13", "16.95"]
    assert rows["ITQ (paper)"] == ["", "5.33", "8.92"]
    assert rows["itq"] == ["1", "**5.00**", "**7.00**"]  # measured, the best of its table
    assert "(paper) rows: Table II of the RAZH paper" in text and "Jiang" in text


def test_without_paper_no_reference_rows(tmp_path):
    _write(tmp_path, "cub", 24, 0.05)
    text = render(tmp_path, "markdown")
    assert "(paper)" not in text and "reference figures" not in text


def test_a_data_set_with_no_figures_says_so_in_one_line(tmp_path):
    _write(tmp_path, "digits", 16, 0.5)
    text = render(tmp_path, "markdown", paper=True)
    assert "(paper) |" not in text
    [title] = [line for line in text.splitlines() if line.startswith("### ")]
    assert "no plugin registers reference figures for digits at map@5000" in title


def test_figures_of_another_metric_are_not_shown(tmp_path):
    """Table II is mAP@5000: a leaderboard of mAP@1000 does not get it beside."""
    _write(tmp_path, "cub", 24, 0.05, metric="map@1000")
    text = render(tmp_path, "markdown", paper=True)
    assert "(paper) |" not in text
    assert "no plugin registers reference figures for cub at map@1000" in text


@pytest.fixture
def third_party(tmp_path, monkeypatch):
    """A plugin package with its own figures CSV, installed as the only plugin."""
    package = tmp_path / "site" / "zshbench_figs"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))

    def install(csv_text: str, **spec_fields):
        (package / "figures.csv").write_text(csv_text)
        spec = ReferenceFiguresSpec(
            "my-figures", "My survey", "zshbench_figs:figures.csv", value_column="value",
            **spec_fields,
        )  # fmt: skip
        plugin = types.SimpleNamespace(zshbench_register_reference_figures=hookimpl(lambda: [spec]))
        plugins = collect([("figs", "zshbench-figs 1.0", plugin)])
        assert not plugins.broken
        monkeypatch.setattr(plugin_manager, "load_plugins", lambda: plugins)
        return spec

    yield install
    sys.modules.pop("zshbench_figs", None)


def test_a_third_party_plugin_registers_figures_for_its_data_set(tmp_path, third_party):
    third_party(
        "dataset,method,bits,value\nmine,Foo,32,12.5\nmine,Foo,64,20\nother,Bar,32,99\n",
        citation="A. Author, My survey, 2030",
        split="random-0",
    )
    _write(tmp_path, "mine", 32, 0.1)
    _write(tmp_path, "mine", 64, 0.2)
    text = render(tmp_path, "markdown", paper=True)
    rows = _markdown_rows(text)
    assert rows["Foo (paper)"] == ["", "12.50", "20.00"] and "Bar (paper)" not in rows
    assert "(paper) rows: My survey, A. Author, My survey, 2030; split: random-0" in text


@pytest.mark.parametrize(
    ("csv_text", "problem"),
    [
        ("dataset,method,bits\nmine,Foo,32\n", "has no column 'value'"),
        ("dataset,method,bits,value\nmine,Foo,many,1\n", "line 2: bits and value must be numbers"),
        ("dataset,method,bits,value\nmine,Foo,32,nan\n", "line 2: bits must be >= 1"),
    ],
)
def test_a_malformed_figures_file_is_one_line_naming_it(third_party, csv_text, problem):
    spec = third_party(csv_text)
    with pytest.raises(PluginError) as info:
        load_figures(spec)
    line = info.value.one_line()
    assert problem in line and "'my-figures'" in line and "\n" not in line


def test_a_missing_figures_file_is_one_line():
    spec = ReferenceFiguresSpec("gone", "Gone", "zshbench_no_such_package_xyz:figures.csv")
    with pytest.raises(PluginError, match="'gone'.*cannot be read"):
        load_figures(spec)
