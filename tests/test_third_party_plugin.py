"""The path a third party takes: build and pip-install a plugin distribution, run its method.

The distribution is installed with pip into a folder of its own that the test puts on
PYTHONPATH, so the test environment's site-packages is never changed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cli_runner import run_zshbench

PYPROJECT = """
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "0.3.1"

[project.entry-points.zshbench]
{entry} = "{module}"
"""

GOOD_MODULE = '''
"""A real (tiny) method: PCA of the pixels, each component thresholded at its training median."""
import numpy as np

from zshbench.hookspecs import hookimpl
from zshbench.method import HashingMethod
from zshbench.registry import MethodSpec


class MedianPCA(HashingMethod):
    default_options = {}

    def fit(self, data, context):
        x = data.images.load_stack().reshape(len(data.images), -1).astype(np.float64)
        self.mean = x.mean(0)
        _, _, vt = np.linalg.svd(x - self.mean, full_matrices=False)
        self.components = vt[: self.bits]
        self.median = np.median((x - self.mean) @ self.components.T, axis=0)

    def encode(self, images, context):
        x = images.load_stack().reshape(len(images), -1).astype(np.float64)
        projected = (x - self.mean) @ self.components.T
        return np.where(projected > self.median, 1, -1).astype(np.int8)


@hookimpl
def zshbench_register_methods():
    return [MethodSpec("median-pca", "{module}:MedianPCA", summary="PCA + median threshold")]
'''

BROKEN_MODULE = 'raise ImportError("this plugin needs a package that is not installed")\n'


def _make_distribution(root: Path, name: str, module: str, source: str) -> Path:
    project = root / name
    project.mkdir()
    (project / "pyproject.toml").write_text(
        PYPROJECT.format(name=name, entry=module.split("_")[-1], module=module)
    )
    (project / f"{module}.py").write_text(source.replace("{module}", module))
    return project


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    """pip-install a working and a broken third-party plugin into their own site folder."""
    root = tmp_path_factory.mktemp("third-party")
    site = root / "site"
    for name, module, source in (
        ("zshbench-medianpca", "zshbench_medianpca", GOOD_MODULE),
        ("zshbench-broken", "zshbench_broken", BROKEN_MODULE),
    ):
        project = _make_distribution(root, name, module, textwrap.dedent(source))
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--no-build-isolation",
                "--target",
                str(site),
                str(project),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    assert (site / "zshbench_medianpca-0.3.1.dist-info" / "entry_points.txt").is_file()
    return site


def _zshbench(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The CLI with the plugin folder on PYTHONPATH, as if pip had installed into site-packages."""
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])
    return run_zshbench(*args, cwd=cwd, env={**os.environ, "PYTHONPATH": path})


def test_list_shows_the_plugin_and_its_distribution(plugin_site, tmp_path):
    listed = _zshbench(plugin_site, "list", "methods", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "median-pca" in listed.stdout and "zshbench-medianpca 0.3.1" in listed.stdout
    # the broken plugin is named and skipped; the CLI still works
    assert "zshbench-broken" in listed.stdout and "failed to load" in listed.stdout
    assert "itq" in listed.stdout


@pytest.mark.slow
def test_run_a_third_party_method_through_the_cli(plugin_site, tmp_path):
    results = tmp_path / "results"
    done = _zshbench(
        plugin_site,
        "run",
        "--method",
        "median-pca",
        "--dataset",
        "digits",
        "--bits",
        "8,16",
        "--results",
        str(results),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "zshbench-broken" in done.stderr and "skipped" in done.stderr  # warned, not fatal
    records = sorted(results.rglob("bits*-seed0.json"))
    assert [p.name for p in records] == ["bits16-seed0.json", "bits8-seed0.json"]
    record = json.loads(records[0].read_text())
    assert record["method"] == "median-pca"
    assert record["method_source"].startswith("zshbench-medianpca 0.3.1")
    # a real method retrieves unseen digits far better than chance (2 unseen classes of 10,
    # so a random ranking scores about 0.15 on the 1,337-image database)
    assert record["metrics"]["map@5000"] > 0.3
    report = _zshbench(
        plugin_site, "report", "--results", str(results), "--format", "markdown", cwd=tmp_path
    )
    assert report.returncode == 0 and "median-pca" in report.stdout
