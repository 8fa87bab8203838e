"""Per-epoch status text never pushes the bar, elapsed time and ETA off an 80-column line."""

from __future__ import annotations

import io

from rich.console import Console

from zshbench.progress import RichProgress, fit_status

EPOCH = "epoch 17/60 · loss 0.4312 (cls 0.1 h 0.2 rec 0.13) · val mAP 41.07 % · 231 img/s"


def test_fit_status_cuts_only_what_does_not_fit():
    assert fit_status("train", "ok", 80) == "train · ok"
    cut = fit_status("train razh 24 bits seed 0", EPOCH, 80)
    assert len(cut) == 80 - 46 and cut.endswith("…") and cut.startswith("train razh 24")
    # the task's own description is never cut: the status gives way
    assert fit_status("d" * 50, EPOCH, 80) == "d" * 50


def test_an_80_column_bar_keeps_its_count_and_times_on_one_line():
    console = Console(width=80, file=io.StringIO(), force_terminal=True, color_system=None)
    progress = RichProgress(console)
    with progress.task("train razh 24 bits seed 0", total=60) as advance:
        advance(17)
        progress.status(EPOCH)
        out = io.StringIO()
        Console(width=80, file=out, color_system=None).print(progress.bar.get_renderable())
    progress.__exit__(None, None, None)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    assert len(lines) == 1, lines  # not wrapped
    line = lines[0]
    assert len(line) <= 80 and "17/60" in line and "…" in line
    elapsed, remaining = line.split()[-2:]  # the two time columns end the line
    assert elapsed.count(":") == 2 and remaining.count(":") == 2
