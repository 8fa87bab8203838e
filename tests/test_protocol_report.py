"""``report`` keeps protocols apart, filters one with ``--protocol P`` and shows them side by
side with ``--protocol all`` (values, seeds, best cells and each protocol's chance level)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_results_report import _record

from zshbench import results
from zshbench.errors import ZshbenchError
from zshbench.protocol_report import check_report_protocol
from zshbench.record import SplitInfo
from zshbench.report import leaderboards, render


def _write(tmp_path, protocol, method, bits, seed, value, chance):
    split = SplitInfo(id=f"random-0-{protocol}-x", name="random-0", protocol=protocol)
    record = replace(_record(method=method, bits=bits, seed=seed, value=value), split=split)
    record.metrics["chance_map"] = chance
    path = results.record_path(tmp_path, "digits", split.id, method, bits, seed)
    results.write_record(path, record)


@pytest.fixture
def two_protocols(tmp_path):
    for seed, (a, b) in enumerate([(0.6, 0.9), (0.8, 0.95)]):
        _write(tmp_path, "unseen@all", "itq", 16, seed, a, 0.1)
        _write(tmp_path, "unseen@unseen", "itq", 16, seed, b, 0.5)
    _write(tmp_path, "unseen@all", "lsh", 16, 0, 0.5, 0.1)
    return tmp_path


def test_protocols_are_apart_by_default_and_side_by_side_with_all(two_protocols):
    apart = leaderboards(two_protocols)
    assert len(apart) == 2 and {"(unseen@all)" in t[0] for t in apart} == {True, False}
    ((title, header, rows, paper),) = leaderboards(two_protocols, protocol="all")
    assert header == ["method", "seeds", "unseen@all 16 bits", "unseen@unseen 16 bits"]
    itq = next(row for row in rows if row[0] == "itq")
    assert itq[2][0] == pytest.approx(0.7) and itq[2][2] == 2 and itq[2][3]  # best of its column
    assert itq[3][0] == pytest.approx(0.925)
    lsh = next(row for row in rows if row[0] == "lsh")
    assert lsh[2][0] == pytest.approx(0.5) and not lsh[2][3] and lsh[3] == ""
    assert "unseen@all 10.00, unseen@unseen 50.00" in title and paper == []
    text = render(two_protocols, "markdown", protocol="all")
    assert "70.00 ± 14.14" in text and "92.50 ± 3.54" in text


def test_one_protocol_is_filtered(two_protocols):
    ((title, _, rows, _),) = leaderboards(two_protocols, protocol="unseen@unseen")
    assert "(unseen@unseen)" in title and [row[0] for row in rows] == ["itq"]
    assert "unseen@all" not in render(two_protocols, "csv", protocol="unseen@unseen")


def test_unknown_report_protocol_says_did_you_mean():
    assert check_report_protocol("all") == "all" and check_report_protocol(None) is None
    with pytest.raises(ZshbenchError, match="Did you mean 'unseen@unseen'"):
        check_report_protocol("unseen@unsen")
