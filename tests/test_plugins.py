"""Registries and plugin loading: collisions, bad names, broken plugins, lazy targets."""

from __future__ import annotations

import types

import pytest

from zshbench.errors import PluginError, ZshbenchError
from zshbench.hookspecs import hookimpl
from zshbench.plugin_manager import collect, load_plugins
from zshbench.registry import MethodSpec, Registry, resolve_target


def _plugin(**hooks) -> types.SimpleNamespace:
    return types.SimpleNamespace(**{name: hookimpl(fn) for name, fn in hooks.items()})


def test_collision_names_both_sources():
    first = _plugin(zshbench_register_methods=lambda: [MethodSpec("razh", "x:Y")])
    second = _plugin(zshbench_register_methods=lambda: [MethodSpec("razh", "z:W")])
    with pytest.raises(PluginError) as caught:
        collect([("a", "dist-a 1.0", first), ("b", "dist-b 2.0", second)])
    message = caught.value.one_line()
    assert "dist-a 1.0" in message and "dist-b 2.0" in message and "'razh'" in message


@pytest.mark.parametrize("name", ["RAZH", "razh_c", "", "-razh", "ra zh"])
def test_bad_names_are_rejected(name):
    registry = Registry("method")
    with pytest.raises(PluginError, match="lowercase"):
        registry.add(MethodSpec(name, "x:Y"), "somewhere")


def test_hyphenated_names_are_fine():
    registry = Registry("method")
    registry.add(MethodSpec("razh-c", "x:Y"), "here")
    assert registry.names() == ["razh-c"] and "razh-c" in registry


def test_broken_hook_is_recorded_and_others_still_load():
    def explode():
        raise RuntimeError("boom\nsecond line")

    good = _plugin(zshbench_register_methods=lambda: [MethodSpec("good", "x:Y")])
    bad = _plugin(zshbench_register_methods=explode)
    wrong_type = _plugin(zshbench_register_methods=lambda: ["not a spec"])
    plugins = collect(
        [("bad", "dist-bad", bad), ("good", "dist-good", good), ("wrong", "dist-wrong", wrong_type)]
    )
    assert plugins.methods.names() == ["good"]
    assert [(b.name, b.error) for b in plugins.broken] == [
        ("bad", "RuntimeError: boom"),
        ("wrong", "TypeError: zshbench_register_methods returned str"),
    ]


def test_unknown_name_lists_the_known_ones():
    registry = Registry("method")
    registry.add(MethodSpec("itq", "x:Y"), "here")
    with pytest.raises(ZshbenchError, match="unknown method 'nope'.*itq"):
        registry.get("nope")


def test_method_spec_must_point_at_a_hashing_method():
    with pytest.raises(PluginError, match="not a HashingMethod"):
        MethodSpec("bad", "collections:OrderedDict").load()


def test_resolve_target_imports_lazily():
    assert resolve_target("os.path:join") is __import__("os").path.join
    with pytest.raises(PluginError):
        resolve_target("no-colon")


def test_first_party_plugins_register_through_entry_points():
    plugins = load_plugins()
    assert {"lsh", "sh", "itq"} <= set(plugins.methods.names())
    assert {"digits", "cifar10", "cub", "awa2"} <= set(plugins.datasets.names())
    assert {"pixels", "timm"} <= set(plugins.extractors.names())
    assert "minilm" in plugins.encoders.names()
    assert plugins.methods.source("itq").startswith("zshbench ")
    assert not plugins.broken, plugins.broken
