"""Progress: live status lines on the bar, and every line kept in the record's log file."""

from __future__ import annotations

import io

from rich.console import Console

from zshbench.method import Progress
from zshbench.progress import LoggedProgress, RichProgress


class Lines(Progress):
    def __init__(self):
        self.logged, self.statuses = [], []

    def log(self, message):
        self.logged.append(message)

    def status(self, message):
        self.statuses.append(message)


def test_logged_progress_keeps_every_line_and_passes_it_on(tmp_path):
    inner = Lines()
    path = tmp_path / "run" / "bits16-seed0.log"
    progress = LoggedProgress(inner, path)
    assert not path.exists()  # nothing logged, no file
    progress.status("epoch 1/2: loss=1.0")
    progress.log("chosen epoch 1")
    progress.close()
    lines = path.read_text().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == [
        "    epoch 1/2: loss=1.0",
        "log chosen epoch 1",
    ]
    assert inner.statuses == ["epoch 1/2: loss=1.0"] and inner.logged == ["chosen epoch 1"]
    # a new attempt at the same record starts a fresh log
    again = LoggedProgress(Lines(), path)
    again.log("second attempt")
    again.close()
    assert path.read_text().splitlines()[0].endswith("log second attempt")


def test_a_log_that_cannot_be_written_never_stops_the_run(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    inner = Lines()
    progress = LoggedProgress(inner, blocker / "x.log")  # a file where a folder belongs
    progress.log("still fine")  # no exception: the run goes on
    progress.status("still shown")
    # Every line still reaches the console side, and the blocking file is left as it was.
    assert inner.logged == ["still fine"] and inner.statuses == ["still shown"]
    assert blocker.is_file() and blocker.read_text() == ""
    # The log is given up for this attempt, not retried line by line: once the folder could
    # exist, later lines still write no file.
    blocker.unlink()
    blocker.mkdir()
    progress.log("later")
    progress.close()
    assert inner.logged == ["still fine", "later"]
    assert not (blocker / "x.log").exists()


def test_status_shows_on_the_innermost_open_bar_and_is_replaced():
    # 120 columns: room for the whole status (at 80 it is cut, tests/test_progress_width.py)
    console = Console(file=io.StringIO(), force_terminal=False, width=120)
    with RichProgress(console) as progress:
        with progress.task("train razh 24 bits", total=None):
            progress.status("epoch 1/30: loss=2.0")
            progress.status("epoch 2/30: loss=1.5")
            descriptions = [task.description for task in progress.bar.tasks]
            assert descriptions == ["train razh 24 bits · epoch 2/30: loss=1.5"]
        assert progress.bar.tasks == []
        progress.status("no bar open: nothing to show, no error")
