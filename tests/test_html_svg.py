"""The leaderboard page's inline charts: a legend name is never cut by the chart's edge."""

from __future__ import annotations

import re

from zshbench.html_svg import LEGEND_CHAR, MAX_LEGEND, map_vs_bits_svg


def _width(svg: str) -> float:
    return float(re.search(r'<svg[^>]* width="([0-9.]+)"', svg).group(1))


def _legend_x(svg: str, name: str) -> float:
    return float(re.search(rf'<text x="([0-9.]+)" y="[0-9.]+">{re.escape(name)}</text>', svg)[1])


def test_the_chart_widens_to_hold_its_longest_legend_name():
    short = map_vs_bits_svg({"itq": [(24, 5.0), (64, 6.0)]}, 2.56, "mAP")
    name = "razh-f[backbone=mobilenetv2_100,losses=cls+h]"  # 46 characters
    long = map_vs_bits_svg({"itq": [(24, 5.0)], name: [(24, 6.0), (64, 7.0)]}, 2.56, "mAP")
    assert _width(long) > _width(short)
    # the name's text, at LEGEND_CHAR pixels a character, ends inside the picture
    assert _legend_x(long, name) + LEGEND_CHAR * len(name) <= _width(long)


def test_a_huge_name_does_not_make_a_huge_chart():
    svg = map_vs_bits_svg({"x" * 5000: [(24, 5.0)]}, None, "mAP")
    assert _width(svg) <= 460 - 150 + MAX_LEGEND


def test_recall_is_drawn_from_0_to_1_whatever_the_smallest_recall():
    from zshbench.html_svg import curve_svg

    svg = curve_svg({"itq": ([9.26e-05, 0.5, 1.0], [0.5, 0.1, 0.02])}, "PR", "recall", "p", (0, 1))
    labels = re.findall(r'text-anchor="middle">([^<]+)</text>', svg)
    assert labels[0] == "0" and "9.26e-05" not in labels
    # without a range, the axis spans the data (P@N starts at N = 1)
    svg = curve_svg({"itq": ([1, 50, 100], [0.5, 0.1, 0.02])}, "P@N", "N", "p")
    assert re.findall(r'text-anchor="middle">([^<]+)</text>', svg)[0] == "1"
