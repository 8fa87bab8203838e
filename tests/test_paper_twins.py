"""``report --paper`` puts each paper figure beside its measured run, in every text format.

Expected cells are typed in from the paper's Table II (../shared/reference/
paper_table2_map5000.csv, CUB: RAZH 13.13 / 16.07 at 24 / 48 bits, ITQ 5.33 / 7.65, LSH 0.55 /
0.69), never read back through the code under test.
"""

from __future__ import annotations

import csv
import io

from zshbench import results
from zshbench.paper_twins import twin_order
from zshbench.record import Record, SplitInfo, Timings
from zshbench.report import render


def _write(tmp_path, run_name: str, dataset: str, bits: int, value: float, options=None):
    record = Record(
        method=run_name.split("@")[0], run_name=run_name, dataset=dataset,
        split=SplitInfo(id="random-0-abc", name="random-0"), bits=bits, seed=0,
        tie_policy="expected", topk=5000, options=options or {}, config={},
        encoder=None, encoder_options=None, metrics={"map@5000": value}, curves={},
        timings=Timings(fit_s=1.0, encode_s=0.5, evaluate_s=0.25), method_source=None,
        method_family=None, environment=None, distributed=None, created=None,
    )  # fmt: skip
    path = results.record_path(tmp_path, dataset, "random-0-abc", run_name, bits, 0)
    results.write_record(path, record)


def _cub(tmp_path):
    for bits in (24, 48):
        _write(tmp_path, "itq", "cub", bits, 0.04)  # 4.00 %: ranked below razh
        _write(tmp_path, "razh", "cub", bits, 0.10)
        _write(tmp_path, "razh@1234abcd", "cub", bits, 0.08, {"losses": "cls+h"})


def _markdown_names_and_cells(text: str) -> list[list[str]]:
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[1:]]


def test_markdown_puts_each_paper_row_right_under_its_run(tmp_path):
    _cub(tmp_path)
    rows = _markdown_names_and_cells(render(tmp_path, "markdown", paper=True))
    names = [row[0] for row in rows]
    assert names[:5] == ["razh", "RAZH (paper)", "razh\\[losses=cls+h\\]", "itq", "ITQ (paper)"]
    assert rows[1][1:] == ["", "13.13", "16.07"]
    assert rows[4][1:] == ["", "5.33", "7.65"]
    assert rows[0][1:] == ["1", "**10.00**", "**10.00**"]
    # methods of the paper nobody ran come after every measured row, LSH among them
    lsh = names.index("LSH (paper)")
    assert lsh > 4 and rows[lsh][1:] == ["", "0.55", "0.69"]


def test_terminal_and_latex_twins(tmp_path):
    _cub(tmp_path)
    terminal = [
        line for line in render(tmp_path, "terminal", paper=True).splitlines() if "│" in line
    ]
    names = [line.split("│")[1].strip() for line in terminal]
    assert names.index("RAZH (paper)") == names.index("razh") + 1
    assert names.index("ITQ (paper)") == names.index("itq") + 1
    latex = render(tmp_path, "latex", paper=True)
    rows = [line for line in latex.splitlines() if "&" in line and "bits" not in line]
    names = [row.split("&")[0].strip() for row in rows]
    assert names[:2] == ["razh", "RAZH (paper)"]
    assert [cell.strip(" \\") for cell in rows[1].split("&")[2:]] == ["13.13", "16.07"]


def test_csv_gets_the_paper_figure_as_a_column(tmp_path):
    _cub(tmp_path)
    table = list(csv.DictReader(io.StringIO(render(tmp_path, "csv", paper=True))))
    paper = {(row["method"], row["bits"]): row["paper_pct"] for row in table}
    assert paper[("razh", "24")] == "13.13" and paper[("itq", "48")] == "7.65"
    assert paper[("razh[losses=cls+h]", "24")] == ""  # another configuration: no twin
    plain = list(csv.DictReader(io.StringIO(render(tmp_path, "csv"))))
    assert "paper_pct" not in plain[0]


def test_a_data_set_the_paper_lacks_says_so_in_one_line(tmp_path):
    _write(tmp_path, "razh", "digits", 24, 0.5)
    text = render(tmp_path, "markdown", paper=True)
    assert "(paper)" not in "".join(line for line in text.splitlines() if line.startswith("| "))
    notes = [line for line in text.splitlines() if "no plugin registers reference figures" in line]
    assert len(notes) == 1 and "digits" in notes[0]


def test_twin_order_matches_names_exactly_and_ignores_case():
    rows = [["itq †", "1"], ["razh-c", "1"]]
    paper = [["RAZH-C (paper)", ""], ["RAZH (paper)", ""], ["ITQ (paper)", ""]]
    ordered = [(row[0], twin) for row, twin in twin_order(rows, paper)]
    assert ordered == [
        ("itq †", False), ("ITQ (paper)", True), ("razh-c", False), ("RAZH-C (paper)", True),
        ("RAZH (paper)", True),
    ]  # fmt: skip
