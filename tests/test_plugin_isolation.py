"""Broken third-party plugins, installed for real (entry points in a dist-info folder): each is
skipped with one warning naming its distribution, and every other plugin keeps working.

The distributions are written by hand into a folder put on PYTHONPATH (what pip would install,
without a build): ``<name>-1.0.dist-info/{METADATA,entry_points.txt}`` and one module each.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from cli_runner import run_zshbench

BAD_NAME = """
from zshbench.hookspecs import hookimpl
from zshbench.registry import MethodSpec

@hookimpl
def zshbench_register_methods():
    return [MethodSpec("Bad_Name", "x:Y"), MethodSpec("fine-but-same-plugin", "x:Y")]
"""

EXITS = "import sys\nsys.exit(3)\n"

GHOST = """
from zshbench.hookspecs import hookimpl
from zshbench.registry import MethodSpec

@hookimpl
def zshbench_register_methods():
    return [MethodSpec("ghost", "zshbench_no_such_module_xyz:Ghost")]
"""

HOOK_RAISES = """
from zshbench.hookspecs import hookimpl

@hookimpl
def zshbench_register_datasets():
    raise RuntimeError("cannot reach my server\\nsecond line")
"""

DUPLICATE = """
from zshbench.hookspecs import hookimpl
from zshbench.registry import MethodSpec

@hookimpl
def zshbench_register_methods():
    return [
        MethodSpec("itq", "plugins.linear.itq:ITQ"),
        MethodSpec("my-lsh", "plugins.linear.lsh:LSH"),
    ]
"""

MISSPELT = """
from zshbench.hookspecs import hookimpl
from zshbench.registry import MethodSpec

@hookimpl
def zshbench_register_method():  # the hook is zshbench_register_methods
    return [MethodSpec("never-registered", "x:Y")]
"""

PLUGINS = {
    "zshbench-badname": BAD_NAME,
    "zshbench-exits": EXITS,
    "zshbench-ghost": GHOST,
    "zshbench-hookraises": HOOK_RAISES,
    "zshbench-duplicate": DUPLICATE,
    "zshbench-misspelt": MISSPELT,
}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("site")
    for dist, source in PLUGINS.items():
        module = dist.replace("-", "_")
        info = folder / f"{module}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[zshbench]\n{dist[9:]} = {module}\n")
        (folder / f"{module}.py").write_text(textwrap.dedent(source))
    return folder


def zshbench(site: Path, *args: str, cwd: Path):
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    return run_zshbench(*args, cwd=cwd, env={**os.environ, "PYTHONPATH": path})


def test_list_works_and_names_every_broken_distribution(site, tmp_path):
    done = zshbench(site, "list", cwd=tmp_path)
    assert done.returncode == 0, done.stderr  # sys.exit(3) at import used to end every command
    text = " ".join(done.stdout.split())
    for dist, error in (
        ("zshbench-badname 1.0", "'Bad_Name'"),
        ("zshbench-exits 1.0", "SystemExit: 3"),
        ("zshbench-hookraises 1.0", "RuntimeError: cannot reach my server"),
        ("zshbench-misspelt 1.0", "'zshbench_register_method' is not a zshbench hook"),
    ):
        assert f"from {dist}" in text and error in text, dist
    assert "second line" not in text
    assert "method 'itq' is registered by" in text and "zshbench-duplicate 1.0" in text
    # the good names of the plugins, and of zshbench, are listed
    for name in ("lsh", "sh", "my-lsh", "ghost", "digits", "cub", "pixels", "minilm"):
        assert f"\n{name}\t" in done.stdout, name  # piped: one tab-separated line each
    assert "fine-but-same-plugin" not in done.stdout  # a broken plugin is skipped whole
    assert "never-registered" not in done.stdout


@pytest.mark.slow
def test_other_methods_still_run_with_one_warning_per_problem(site, tmp_path):
    done = zshbench(
        site, "run", "--method", "my-lsh", "--dataset", "digits", "--bits", "8",
        "--results", "results", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 5 and "Traceback" not in done.stderr
    assert list((tmp_path / "results").rglob("bits8-seed0.json"))


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["info", "ghost"], "method 'ghost' from zshbench-ghost 1.0"),
        (["run", "--method", "ghost", "--dataset", "digits"], "ModuleNotFoundError"),
        (["run", "--method", "itq", "--dataset", "digits"], "method 'itq' is registered twice"),
        (["info", "itq"], "zshbench-duplicate 1.0"),
    ],
)
def test_a_broken_name_is_one_line(site, tmp_path, args, expected):
    done = zshbench(site, *args, cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("zshbench: error:")]
    assert len(errors) == 1 and expected in errors[0]
    assert not list(tmp_path.rglob("*.json"))
