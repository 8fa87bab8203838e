"""The eleven linear methods of the paper's Table II are registered with family and citation."""

from __future__ import annotations

import subprocess
import sys

import pytest

from zshbench.errors import ZshbenchError
from zshbench.options import check_value, declared
from zshbench.plugin_manager import load_plugins
from zshbench.registry import MethodSpec

LINEAR = ["lsh", "sh", "itq", "sdh", "fssh", "scdh", "tsk", "ah", "opzh", "aszh", "sash"]
ZERO_SHOT = {"tsk", "ah", "opzh", "aszh"}


def test_every_linear_method_of_table_ii_is_registered_with_its_citation():
    methods = load_plugins().methods
    for name in LINEAR:
        spec = methods.get(name)
        assert spec.family == "linear", name
        assert spec.citation and spec.citation[0].isupper(), name
        assert spec.zero_shot == (name in ZERO_SHOT), name
        cls = spec.load()
        assert {"extractor", "extractor_options"} <= set(cls.default_options), name
    assert {n for n, s, _ in methods.items() if s.family == "linear"} >= set(LINEAR)


def test_method_spec_new_fields_are_optional():
    spec = MethodSpec("x", "plugins.linear.lsh:LSH", "summary", "deep")
    assert spec.citation == "" and spec.zero_shot is False


def test_default_options_declare_their_types():
    """Every option has a type its default satisfies; counts are whole numbers (2.7 is refused)."""
    methods = load_plugins().methods
    for name in LINEAR[3:]:
        options = declared(methods.get(name).load().default_options)
        for key, option in options.items():
            assert option.kind != "any" or option.default is None, (name, key)
            if option.default is not None:
                assert check_value(name, key, option, option.default) == option.default
            if key in ("iterations", "dcc_sweeps", "anchors", "sweeps", "neighbors"):
                assert option.kind == "integer", (name, key)
                with pytest.raises(ZshbenchError):
                    check_value(name, key, option, 2.7)


def test_info_shows_the_citation_and_zero_shot_flag():
    out = subprocess.run(
        [sys.executable, "-m", "zshbench", "info", "tsk"], capture_output=True, text=True
    ).stdout
    assert "citation: Y. Yang, Y. Luo" in out
    assert "zero-shot method" in out
