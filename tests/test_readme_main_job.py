"""The README's main job parses and passes every check ``run`` makes before training.

It is the first thing a new user types; a renamed option or a code length a method cannot
give would only show after minutes. Each ``zshbench`` command of the README's main-job line
is run through the real command line with training replaced by a recorder: methods, options,
run names, data set, split and code lengths are all checked as a real run checks them.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from zshbench import runner
from zshbench.cli import cli
from zshbench.code_lengths import check_code_lengths
from zshbench.errors import ZshbenchError
from zshbench.method import HashingMethod, Progress
from zshbench.plugin_manager import load_plugins
from zshbench.results import check_run_name

README = Path(__file__).resolve().parents[1] / "README.md"


def main_job() -> list[list[str]]:
    """The ``zshbench`` commands of the README's first ``pip install -e . && ...`` line."""
    line = next(
        line for line in README.read_text(encoding="utf-8").splitlines()
        if line.startswith("pip install -e . && ")
    )  # fmt: skip
    commands = [shlex.split(part) for part in line.split(" && ")]
    assert commands[0] == ["pip", "install", "-e", "."]
    return commands[1:]


@pytest.fixture
def trained(tmp_path, monkeypatch):
    """``runner.run`` replaced by the checks it makes before the first fit; records requests."""
    seen: list[runner.RunRequest] = []

    def checked_run(request, progress=None, on_record=None):
        method_cls = load_plugins().methods.load(request.method, HashingMethod)
        check_run_name(request.run_name or runner.default_run_name(request.method, request.options))
        for bits in request.bits:
            method_cls(bits, **request.options)
        views, _ = runner.prepare_split(request, Progress(), write_manifest=False)
        train = views.train_data(request.topk).images
        check_code_lengths(request.method, method_cls, request.bits, request.options, train)
        seen.append(request)
        return []

    monkeypatch.setattr(runner, "run", checked_run)
    monkeypatch.chdir(tmp_path)
    return seen


def test_the_main_job_parses_and_passes_every_check_before_training(trained):
    commands = main_job()
    assert [c[:2] for c in commands][-1] == ["zshbench", "report"]
    for command in commands[:-1]:
        assert command[:2] == ["zshbench", "run"]
        result = CliRunner().invoke(cli, command[1:], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    report = cli.get_command(None, "report")
    report.make_context("report", commands[-1][2:])  # its options parse
    # what the main job says it runs: RAZH and the fast baselines, at the same code lengths
    runs = {(r.method, r.run_name, tuple(sorted(r.options.items()))) for r in trained}
    assert {m for m, _, _ in runs} == {"razh", "lsh", "itq"}
    assert ("razh", None, ()) in runs
    assert any(m == "razh" and opts == (("losses", "cls+h"),) for m, _, opts in runs)
    assert {tuple(r.bits) for r in trained} == {(24, 48, 64)}
    assert {r.dataset for r in trained} == {"digits"}


def test_a_code_length_itq_cannot_give_would_fail_this_check(trained):
    """The recorder is not a stub that passes anything: 128 bits are refused for ITQ."""
    [command] = [c for c in main_job() if "itq" in ",".join(c)]
    bits = command.index("--bits") + 1
    command = [*command[:bits], command[bits] + ",128", *command[bits + 1 :]]
    with pytest.raises(ZshbenchError, match="itq can give at most 64 bits"):
        CliRunner().invoke(cli, command[1:], catch_exceptions=False)
