"""``zshbench report --format html``: one self-contained page, checked as text and in a real
headless Chromium with the network cut off (see tests/headless_chromium.py)."""

from __future__ import annotations

import os
import re
import statistics
from dataclasses import dataclass, fields
from pathlib import Path

import pytest
from headless_chromium import Chromium, find_chromium

from zshbench import html_report, results
from zshbench.cli import main
from zshbench.record import Record, SplitInfo, Timings

HOSTILE = '<img src="http://203.0.113.9/x.png" onerror="alert(1)"></td><script>alert(2)</script>'

#: (run, bits, seed) -> mAP; chosen so that the order by 16 bits differs from the order by 32.
VALUES = {
    ("itq", 16, 0): 0.30, ("itq", 16, 1): 0.34, ("itq", 16, 2): 0.32,
    ("itq", 32, 0): 0.40, ("itq", 32, 1): 0.44, ("itq", 32, 2): 0.42,
    ("lsh", 16, 0): 0.20, ("lsh", 16, 1): 0.22, ("lsh", 16, 2): 0.24,
    ("lsh", 32, 0): 0.50, ("lsh", 32, 1): 0.52, ("lsh", 32, 2): 0.54,
    ("razh", 16, 0): 0.10, ("razh", 16, 1): 0.12,
    ("razh", 32, 0): 0.30,
}  # fmt: skip


def _record(run, bits, seed, value, options=None, dataset="digits"):
    curve = {
        "pr_curve": {
            "radius": list(range(bits + 1)),
            "precision": [1 - r / (bits + 1) for r in range(bits + 1)],
            "recall": [r / bits for r in range(bits + 1)],
        },
        "p_at_n": {"n": [1, 10, 100], "precision": [value + 0.1, value, value - 0.1]},
    }
    return Record(
        method=run,
        run_name=run,
        dataset=dataset,
        split=SplitInfo(id="random-0-abc", name="random-0"),
        bits=bits,
        seed=seed,
        tie_policy="expected",
        topk=5000,
        options=options or {},
        config={},
        encoder=None,
        encoder_options=None,
        metrics={"map@5000": value, "chance_map": 0.1167},
        curves=curve,
        timings=Timings(fit_s=12.5, encode_s=0.5, evaluate_s=0.25),
        method_source=None,
        method_family=None,
        environment=None,
        distributed=None,
        created=None,
        log_file=f"/logs/{run}-{HOSTILE}.log",
    )


def _write_all(root: Path, dataset: str = "digits") -> None:
    for (run, bits, seed), value in VALUES.items():
        options = {"note": HOSTILE} if run == "razh" else {}
        record = _record(run, bits, seed, value, options, dataset)
        path = results.record_path(root, dataset, record.split.id, run, bits, seed)
        results.write_record(path, record)


def _mean_text(run: str, bits: int) -> str:
    values = [v for (r, b, _), v in VALUES.items() if (r, b) == (run, bits)]
    mean = 100 * statistics.mean(values)
    if len(values) == 1:
        return f"{mean:.2f}"
    return f"{mean:.2f} ± {100 * statistics.stdev(values):.2f}"


def test_page_has_every_cell_escaped_and_nothing_external(tmp_path):
    _write_all(tmp_path)
    page = html_report.render_html(tmp_path)
    assert "<img" not in page and "<script>alert" not in page  # the record's text is data
    assert html_report.esc(HOSTILE) in page
    # Hand-computed: itq 16 bits = 32.00 ± 2.00, lsh 32 bits = 52.00 ± 2.00, razh 32 bits 30.00.
    assert _mean_text("itq", 16) == "32.00 ± 2.00"
    for run, bits in [("itq", 16), ("lsh", 32), ("razh", 16), ("razh", 32)]:
        assert f'<span class="v">{_mean_text(run, bits)}</span>' in page
    assert "chance level" in page and "11.67" in page
    assert page.count('<tr class="run">') == 3
    # No address that a browser would fetch: no src/href attribute at all, no url(), no @import.
    assert not re.search(r"<[a-zA-Z][^<>]*\s(src|href)\s*=", page)
    assert "url(" not in page and "@import" not in page
    assert page.count("<svg") == 3  # mAP vs bits, PR, P@N


def test_overlap_mark_shown_when_records_carry_the_field(tmp_path, monkeypatch):
    @dataclass(frozen=True)
    class WithOverlap(Record):
        pretraining_overlaps_unseen: bool | None = None

    def records(_root, keep):
        for (run, bits, seed), value in VALUES.items():
            base = _record(run, bits, seed, value)
            values = {f.name: getattr(base, f.name) for f in fields(Record)}
            record = WithOverlap(**values, pretraining_overlaps_unseen=(run == "itq"))
            path = Path(f"{run}-{bits}-{seed}.json")
            yield path, keep(path, record)

    monkeypatch.setattr(html_report, "iter_records", records)
    page = html_report.render_html(tmp_path)
    itq_row = re.search(r'<tr class="run"><th scope=row data-sort="itq">.*?</tr>', page).group(0)
    lsh_row = re.search(r'<tr class="run"><th scope=row data-sort="lsh">.*?</tr>', page).group(0)
    assert 'class="overlap"' in itq_row and 'class="overlap"' not in lsh_row
    assert "pretraining data overlaps the unseen classes" in page


def test_no_mark_without_the_field(tmp_path):
    _write_all(tmp_path)
    assert 'class="overlap"' not in html_report.render_html(tmp_path)


def test_paper_rows_beside_the_measured_ones(tmp_path):
    _write_all(tmp_path, dataset="cifar10")
    page = html_report.render_html(tmp_path, paper=True)
    assert "LSH (paper)" in page and 'data-paper="b0"' in page
    _write_all(tmp_path / "d", dataset="digits")
    page = html_report.render_html(tmp_path / "d", paper=True)
    assert "no plugin registers reference figures for digits" in page
    assert "data-paper=" not in page


def test_cli_writes_the_page(tmp_path, capsys):
    _write_all(tmp_path)
    out = tmp_path / "board.html"
    main(["report", "--results", str(tmp_path), "--format", "html", "--output", str(out)])
    assert f"wrote {out}" in capsys.readouterr().out
    assert out.read_text().startswith("<!DOCTYPE html>")


def test_in_headless_chromium_with_the_network_off(tmp_path):
    executable = find_chromium()
    if executable is None:  # CI installs it (.ci/run); a missing browser is a failure, not a skip
        pytest.fail("no Chromium found (apt-get install chromium): the HTML report is untested")
    _write_all(tmp_path)
    page = tmp_path / "board.html"
    page.write_text(html_report.render_html(tmp_path), encoding="utf-8")
    browser = Chromium(executable)
    try:
        url = browser.open(page)
        rows = "Array.from(document.querySelectorAll('tbody.measured > tr')).map(r => r.cells[0]"
        order = rows + ".getAttribute('data-sort'))"
        assert browser.evaluate("document.querySelectorAll('tbody.measured > tr').length") == 3
        assert browser.evaluate("document.querySelectorAll('img').length") == 0
        assert browser.evaluate("document.querySelectorAll('svg.chart').length") == 3
        browser.click("th[data-col='2'] button")  # 16 bits, best first: itq, lsh, razh
        assert browser.evaluate(order) == ["itq", "lsh", "razh"]
        browser.click("th[data-col='3'] button")  # 32 bits: lsh 52, itq 42, razh 30
        assert browser.evaluate(order) == ["lsh", "itq", "razh"]
        assert browser.evaluate("document.querySelector(\"th[data-col='3']\").ariaSort") == (
            "descending"
        )
        browser.click("th[data-col='3'] button")  # again: ascending
        assert browser.evaluate(order) == ["razh", "itq", "lsh"]
        browser.click("tbody.measured > tr:last-child > td.cell")  # lsh at 16 bits: its 3 records
        shown = browser.evaluate(
            "document.querySelectorAll('.shown-records table.rec tbody tr').length"
        )
        assert shown == 3
        text = browser.evaluate("document.querySelector('.shown-records').textContent")
        assert "/logs/lsh-" in text and "fit 12.5 s" in text
        browser.click("tbody.measured > tr:first-child > td.cell")  # razh: its options as text
        text = browser.evaluate("document.querySelector('.shown-records').textContent")
        assert HOSTILE in text
        assert browser.evaluate("document.querySelectorAll('img, script').length") == 1
        browser.screenshot(tmp_path / "board.png")
        if os.environ.get("ZSHBENCH_HTML_SCREENSHOT"):  # to look at it: set a path
            Path(os.environ["ZSHBENCH_HTML_SCREENSHOT"]).write_bytes(
                (tmp_path / "board.png").read_bytes()
            )
        assert (tmp_path / "board.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert browser.problems(url) == []
    finally:
        browser.close()
