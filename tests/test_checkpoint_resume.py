"""A deep fit killed mid-training resumes from its per-epoch checkpoint and ends with the record
an uninterrupted fit writes (on CPU); the checkpoints go once the record is written."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from plugins.deep import engine
from plugins.deep.checkpoint import checkpoint_file
from tests.deephash_fixture import ON_DIGITS
from zshbench import runner
from zshbench.errors import TrainingError

OPTIONS = {**ON_DIGITS, "epochs": 3, "selection": "retrain"}


def _request(results: Path) -> runner.RunRequest:
    return runner.RunRequest(
        method="dpsh", dataset="digits", bits=[16], seeds=[0], device="cpu",
        results_dir=results, options=OPTIONS,
    )  # fmt: skip


def _comparable(record: dict) -> dict:
    """The record without what legitimately differs between two runs: clocks and dates."""
    drop = {"seconds", "images_per_second", "created", "timings", "environment", "log_file"}
    drop |= {"input_pipeline", "encode_images_per_second"}  # loader and step rates: clocks too

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in drop and "second" not in k}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(record)


class Killed(TrainingError):
    pass


def test_a_killed_fit_resumes_from_its_checkpoint_and_writes_the_uninterrupted_record(
    tmp_path, monkeypatch
):
    whole = runner.run(_request(tmp_path / "whole"))[0]
    expected = json.loads(whole.read_text())
    assert not any(p.name.startswith(".checkpoints") for p in whole.parent.iterdir())

    original, calls, kills = engine.TrainingLoop.run_epoch, [], {2, 5}  # phase 1 ep 2, retrain ep 2

    def dying(self, epoch):
        calls.append((self.label, epoch))
        if len(calls) in kills:
            kills.discard(len(calls))
            raise Killed(f"killed at {self.label} epoch {epoch}")
        return original(self, epoch)

    monkeypatch.setattr(engine.TrainingLoop, "run_epoch", dying)
    request = _request(tmp_path / "resumed")
    for _ in range(2):
        with pytest.raises(Killed):
            runner.run(request)
        record = Path(str(whole).replace(str(tmp_path / "whole"), str(tmp_path / "resumed")))
        assert not record.exists()  # a killed job leaves its cell missing, never half-written
        folder = record.parent / ".checkpoints-bits16-seed0"
        assert list(folder.glob("*.rank0.pt"))  # ... and resumable
    path = runner.run(request)[0]
    # each re-run started at the killed epoch; a finished phase was not trained again
    first_phase = calls[0][0]
    assert calls[2] == calls[1] == (first_phase, 2) and calls[5] == calls[4]
    assert calls[4][0] != first_phase and all(label != first_phase for label, _ in calls[4:])
    assert len(calls) == len(set(calls)) + 2
    assert _comparable(json.loads(path.read_text())) == _comparable(expected)
    assert not (path.parent / ".checkpoints-bits16-seed0").exists()


def test_a_checkpoint_of_other_settings_is_ignored_with_a_warning(tmp_path):
    from zshbench.method import RunContext
    from zshbench.progress import Progress

    class Recording(Progress):
        lines: list[str] = []

        def log(self, message: str) -> None:
            self.lines.append(message)

    from tests.test_deep_engine import PullToClassCode, ToyHashNet, toy_data

    images, labels, codes = toy_data()
    normalizer = engine.Normalizer((0.5,) * 3, (0.5,) * 3)
    progress = Recording()
    context = RunContext(checkpoint_dir=tmp_path, progress=progress)
    settings = engine.TrainSettings(epochs=2, batch_size=12, lr=0.05, weight_decay=0.0)
    torch.manual_seed(0)
    engine.train(PullToClassCode(ToyHashNet(), codes), images, labels, normalizer, settings,
                 context)  # fmt: skip
    assert checkpoint_file(tmp_path, "train", 0).is_file()
    torch.manual_seed(0)
    result = engine.train(
        PullToClassCode(ToyHashNet(), codes), images, labels, normalizer,
        replace(settings, epochs=3), context,
    )  # fmt: skip
    assert len(result.history) == 3
    assert any("not usable" in line for line in progress.lines)
    checkpoint_file(tmp_path, "train", 0).write_bytes(b"not a checkpoint")
    result = engine.train(
        PullToClassCode(ToyHashNet(), codes), images, labels, normalizer, settings, context
    )
    assert len(result.history) == 2


def test_a_warm_up_stage_keeps_one_checkpoint_per_phase(tmp_path, monkeypatch):
    """RAZH's reconstruction warm-up runs before the selection pass and again before the retrain
    on all seen classes: each has its own checkpoint, so neither overwrites the other's (which
    a resumed retrain would otherwise find unusable, and a false warning said so)."""
    from tests.test_razh_method import TINY
    from zshbench.progress import Progress

    class Recording(Progress):
        def __init__(self):
            super().__init__()
            self.lines: list[str] = []

        def log(self, message: str) -> None:
            self.lines.append(message)

    saved: set[str] = set()
    original = engine.TrainingLoop.run_epoch

    def remembering(self, epoch):
        saved.add(self.label)
        return original(self, epoch)

    monkeypatch.setattr(engine.TrainingLoop, "run_epoch", remembering)
    request = runner.RunRequest(
        method="razh", dataset="digits", bits=[16], seeds=[0], device="cpu",
        results_dir=tmp_path, encoder="hashing",
        options={**TINY, "epochs": 2, "pretrain_epochs": 1, "selection": "retrain"},
    )  # fmt: skip
    progress = Recording()
    runner.run(request, progress)
    warm_ups = {label for label in saved if label.startswith("reconstruction warm-up")}
    folder = tmp_path / "x"
    assert len({checkpoint_file(folder, label, 0) for label in warm_ups}) == 2
    assert not [line for line in progress.lines if "not usable" in line]
