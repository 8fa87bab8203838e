"""Errors a new user makes on ``zshbench run``: one line, "did you mean", before torch.

Every case runs in one fresh interpreter that records, after each command, whether torch
has been imported: the check is that none of these errors waits for torch (6-13 s), which is
what made a typo cost seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from cli_runner import REPO_ROOT, launch_env

from zshbench.errors import ZshbenchError
from zshbench.preflight import check_device_name
from zshbench.runner import parse_bits
from zshbench.suggest import close_matches, did_you_mean

CASES = {
    "method": ["--method", "itqq", "--dataset", "digits"],
    "dataset": ["--method", "itq", "--dataset", "digitz"],
    "device": ["--method", "razh", "--dataset", "digits", "--device", "cdua"],
    "split": ["--method", "razh", "--dataset", "digits", "--split", "randm-0"],
    "bits": ["--method", "razh", "--dataset", "digits", "--bits", "24,,48"],
    "option": ["--method", "itq", "--dataset", "digits", "-o", "iteratons=3"],
    "deep option": ["--method", "razh", "--dataset", "digits", "-o", "epochs=-1"],
    "deep option name": ["--method", "razh-c", "--dataset", "digits", "-o", "epochz=3"],
    "baseline option": ["--method", "csq", "--dataset", "digits", "-o", "lam=-1"],
    "baseline option name": ["--method", "hashnet", "--dataset", "digits", "-o", "beta_gama=1"],
    "baseline choice": ["--method", "drmh", "--dataset", "digits", "-o", "detector=yolo"],
    "pixel option": ["--method", "pixel", "--dataset", "digits", "-o", "s=0"],
}

SCRIPT = """
import contextlib, io, json, sys
from zshbench.cli import main
out = {}
for name, args in json.loads(sys.argv[1]).items():
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            main(["run", "--results", sys.argv[2], *args])
            code = 0
        except SystemExit as stop:
            code = stop.code
    out[name] = [code, err.getvalue(), "torch" in sys.modules]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(CASES), str(results)],
        cwd=REPO_ROOT,
        env=launch_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "case, words",
    [
        ("method", ["unknown method 'itqq'", "Did you mean 'itq'?"]),
        ("dataset", ["unknown data set 'digitz'", "Did you mean 'digits'?"]),
        ("device", ["unknown device 'cdua'", "Did you mean 'cuda'?"]),
        ("split", ["unknown split 'randm-0'", "Did you mean 'random-0'?"]),
        ("bits", ["bad bit list '24,,48'"]),
        ("option", ["ITQ has no option iteratons", "Did you mean 'iterations'?"]),
        ("deep option", ["RAZH option epochs must be a whole number ≥ 1", "not -1"]),
        ("deep option name", ["RAZHNoClustering has no option epochz", "Did you mean 'epochs'?"]),
        ("baseline option", ["CSQ option lam", "not -1"]),
        ("baseline option name", ["HashNet has no option beta_gama", "'beta_gamma'"]),
        ("baseline choice", ["DRMH option detector", "yolo", "fasterrcnn_resnet50_fpn"]),
        ("pixel option", ["PIXEL option s", "not 0"]),
    ],
)
def test_one_line_before_torch(outcomes, case, words):
    code, stderr, torch_loaded = outcomes[case]
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("zshbench: error: ")
    for word in words:
        assert word in lines[0]
    assert not torch_loaded, f"{case}: torch was imported before the error"


def test_close_matches_ignore_case_and_stay_quiet_when_nothing_is_close():
    assert close_matches("ITQ", ["itq", "lsh"]) == ["itq"]
    assert did_you_mean("zzzz", ["itq", "lsh"]) == ""
    assert did_you_mean("razh-x", ["razh-a", "itq"]) == "Did you mean 'razh-a'? "


@pytest.mark.parametrize("text", ["24,,48", ",24", "24,"])
def test_empty_code_lengths_are_refused(text):
    with pytest.raises(ZshbenchError, match="bad bit list"):
        parse_bits(text)


def test_devices():
    for good in ("auto", "cpu", "cuda", "cuda:1"):
        assert check_device_name(good) == good
    for bad in ("gpu", "cuda:", "cuda:x", "CPU "):
        with pytest.raises(ZshbenchError, match="unknown device"):
            check_device_name(bad)


def test_method_names_are_case_insensitive():
    from zshbench.plugin_manager import load_plugins
    from zshbench.runner import expand_methods

    assert expand_methods("ITQ,Lsh", load_plugins()) == ["itq", "lsh"]


def test_info_describes_a_study_and_suggests_names(capsys):
    from zshbench.cli import main
    from zshbench.plugin_manager import load_plugins

    spec = load_plugins().studies.get("razh-table4")
    main(["info", "razh-table4"])
    out = capsys.readouterr().out
    assert out.startswith(f"study razh-table4: {spec.title}")
    for label, method, _ in spec.rows:
        assert f"    {label}: --method {method}" in out
    with pytest.raises(SystemExit) as stopped:
        main(["info", "razh-tabel4"])
    assert stopped.value.code == 2
    assert "Did you mean 'razh-table4'" in capsys.readouterr().err


def test_razh_checks_before_torch_exactly_the_options_its_classes_take():
    """``MethodSpec.options`` is the very declaration the classes use, for every variant."""
    import plugins.razh.method as razh_method
    from plugins.razh import zshbench_register_methods
    from zshbench.registry import resolve_target

    for spec in zshbench_register_methods():
        cls = resolve_target(spec.target)
        assert cls.default_options == resolve_target(spec.options), spec.name
        assert "epochs" in cls.default_options and "mask_ratio" in cls.default_options
    assert razh_method.RAZH.default_options["mask_ratio"].maximum == 0.95  # Table V's range


def test_every_deep_method_checks_before_torch_exactly_the_options_its_class_takes():
    """Each deep method (RAZH's family, the 11 baselines, PIXEL) names a torch-free declaration
    that is its class's own, so ``run`` refuses a bad ``-o`` before torch loads."""
    from zshbench.plugin_manager import load_plugins
    from zshbench.registry import resolve_target

    plugins = load_plugins()
    deep = [plugins.methods.get(name) for name in plugins.methods.names()]
    deep = [spec for spec in deep if spec.family == "deep"]
    assert len(deep) >= 18
    for spec in deep:
        assert spec.options, f"{spec.name} declares no torch-free options"
        declared = resolve_target(spec.options)
        assert spec.load().default_options == declared, spec.name
        assert "epochs" in declared and "backbone" in declared and "weights" in declared


def test_a_collapsed_encoder_is_named_not_reported_silently():
    """All database codes equal (DPSH at lr 1e-3 on MobileNetV2 did this): one warning."""
    import warnings

    import numpy as np

    from zshbench.runner import warn_if_collapsed

    same = np.tile(np.array([[0b1011, 0b0001]], dtype=np.uint8), (5, 1))
    with pytest.warns(UserWarning, match="all 5 database images the same code"):
        warn_if_collapsed("dpsh", 16, same)
    differ = same.copy()
    differ[3, 1] = 0b0011  # one bit of one image differs: not collapsed
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_collapsed("dpsh", 16, differ)
