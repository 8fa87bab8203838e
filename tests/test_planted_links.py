"""Planted links and interrupted overwrites in a results folder (issue 16, cases 1, 2 and 4).

A shared or copied results folder may hold a symbolic link where zshbench writes a file of its
own (a record's lock, its log). The run must refuse the link or replace it, never write through
it; and an interrupted ``--overwrite`` must leave the existing record and its log as they were.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from zshbench import runner
from zshbench.errors import ZshbenchError
from zshbench.method import HashingMethod
from zshbench.registry import MethodSpec
from zshbench.results import RecordLock

STATE: dict = {}


class Chatty(HashingMethod):
    """Logs a line per 'epoch' (as a deep method does); can be told to stop mid-training."""

    def fit(self, data, context):
        for epoch in range(3):
            context.progress.log(f"epoch {epoch}: attempt {STATE.get('attempt', 1)}")
        if "during_fit" in STATE:
            STATE["during_fit"]()
        if STATE.get("interrupt"):
            raise KeyboardInterrupt
        x = data.images.load_stack().reshape(len(data.images), -1).astype(float)
        self.w = np.random.default_rng(context.seed).standard_normal((x.shape[1], self.bits))

    def encode(self, images, context):
        x = images.load_stack().reshape(len(images), -1).astype(float)
        if not hasattr(self, "w"):
            self.w = np.random.default_rng(0).standard_normal((x.shape[1], self.bits))
        return np.sign(x @ self.w + 1e-9)


@pytest.fixture
def chatty(use_test_methods):
    STATE.clear()
    return use_test_methods(MethodSpec("chatty", Chatty))


def _request(tmp_path, **more):
    return runner.RunRequest(
        method="chatty", dataset="digits", bits=[8], seeds=[0], results_dir=tmp_path, **more
    )


def _record_path(tmp_path):
    """Where the request's record goes (one dry run, then removed, gives the split id)."""
    [path] = runner.run(_request(tmp_path))
    return path


def test_a_planted_lock_link_is_refused_and_its_target_kept(chatty, tmp_path):
    """Case 1: the lock was opened through the link, then truncated and overwritten."""
    path = _record_path(tmp_path)
    path.unlink()
    victim = tmp_path / "precious.txt"
    victim.write_text("my thesis\n")
    os.symlink(victim, RecordLock(path).path)
    with pytest.raises(ZshbenchError, match="symbolic link"):
        runner.run(_request(tmp_path))
    assert victim.read_text() == "my thesis\n"
    assert os.path.islink(RecordLock(path).path)  # left for the user to look at


def test_a_planted_log_link_is_replaced_not_written_through(chatty, tmp_path):
    """Case 2: the training log was written through a link at bits<B>-seed<S>.log."""
    path = _record_path(tmp_path)
    log = path.with_suffix(".log")
    path.unlink()
    log.unlink()
    victim = tmp_path / "precious.txt"
    victim.write_text("my thesis\n")
    os.symlink(victim, log)
    [path] = runner.run(_request(tmp_path))
    assert victim.read_text() == "my thesis\n"
    assert not os.path.islink(log) and "epoch 2: attempt 1" in log.read_text()
    assert json.loads(path.read_text())["log_file"] == log.name


def test_an_interrupted_overwrite_keeps_the_record_and_its_log(chatty, tmp_path):
    """Case 4: the record stayed, but its log became the aborted attempt's."""
    path = _record_path(tmp_path)
    log = path.with_suffix(".log")
    record_before, log_before = path.read_bytes(), log.read_bytes()
    seen_mid_run = []
    STATE.update(
        attempt=2,
        interrupt=True,
        during_fit=lambda: seen_mid_run.append(log.read_bytes()),  # as a SIGKILL would find it
    )
    with pytest.raises(KeyboardInterrupt):
        runner.run(_request(tmp_path, overwrite=True))
    assert seen_mid_run == [log_before]
    assert path.read_bytes() == record_before and log.read_bytes() == log_before
    aborted = log.with_name(f"{log.stem}.aborted.log")
    assert "epoch 2: attempt 2" in aborted.read_text()  # the aborted attempt's, kept apart
    # a finished overwrite replaces both, as a pair
    STATE.update(attempt=3, interrupt=False)
    STATE.pop("during_fit")
    runner.run(_request(tmp_path, overwrite=True))
    assert "attempt 3" in log.read_text() and path.read_bytes() != record_before
    assert json.loads(path.read_text())["log_file"] == log.name
    assert not list(path.parent.glob(".*.tmp"))


def test_a_failed_first_attempt_leaves_its_log_where_users_look(chatty, tmp_path):
    """With no record to pair with, the aborted attempt's log is the record's log name."""
    STATE.update(interrupt=True)
    with pytest.raises(KeyboardInterrupt):
        runner.run(_request(tmp_path))
    logs = list(tmp_path.rglob("bits8-seed0.log"))
    assert len(logs) == 1 and "epoch 2" in logs[0].read_text()
    assert not list(tmp_path.rglob("*.json")) or all(
        "splits" in p.parts for p in tmp_path.rglob("*.json")
    )


def test_a_record_of_an_attempt_that_logs_nothing_names_no_old_log(chatty, tmp_path):
    """The record's log_file is this attempt's log, never a leftover one."""
    path = _record_path(tmp_path)
    original = Chatty.fit

    def quiet_fit(self, data, context):
        self.w = np.random.default_rng(0).standard_normal((64, self.bits))

    Chatty.fit = quiet_fit
    try:
        runner.run(_request(tmp_path, overwrite=True))
    finally:
        Chatty.fit = original
    assert json.loads(path.read_text())["log_file"] is None
    assert not path.with_suffix(".log").exists()  # the old log went with the old record
