"""The mAP-against-bits plot: log2 axis, chance line, one marker per method, legend outside."""

from __future__ import annotations

import pandas as pd

from zshbench.plots import _pyplot, map_vs_bits_figure


def test_axis_chance_markers_and_legend():
    plt = _pyplot()
    group = pd.DataFrame(
        [(m, b, v, 0.01) for m in ("itq", "lsh", "razh") for b, v in ((24, 0.3), (48, 0.4))],
        columns=["method", "bits", "mean", "std"],
    )
    fig = map_vs_bits_figure(plt, group, 11.67, "map@5000", "digits")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.xaxis.get_transform().base == 2
    assert [t.get_text() for t in ax.get_xticklabels()] == ["24", "48"]
    chance = [line for line in ax.get_lines() if line.get_label() == "chance level"]
    assert len(chance) == 1 and set(chance[0].get_ydata()) == {11.67}
    bars = {c.get_label(): c.lines[0].get_marker() for c in ax.containers}
    assert set(bars) == {"itq", "lsh", "razh"}
    markers = set(bars.values())
    assert len(markers) == 3
    fig.canvas.draw()
    legend = ax.get_legend().get_window_extent()
    assert legend.x0 >= ax.get_window_extent().x1  # beside the data, never over it
    plt.close(fig)
