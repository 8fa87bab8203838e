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


def test_collision_names_both_sources_and_disables_only_that_name():
    first = _plugin(
        zshbench_register_methods=lambda: [MethodSpec("razh", "x:Y"), MethodSpec("mine", "m:M")]
    )
    second = _plugin(
        zshbench_register_methods=lambda: [MethodSpec("razh", "z:W"), MethodSpec("yours", "y:Y")]
    )
    plugins = collect([("a", "dist-a 1.0", first), ("b", "dist-b 2.0", second)])
    with pytest.raises(PluginError) as caught:
        plugins.methods.get("razh")
    message = caught.value.one_line()
    assert "dist-a 1.0" in message and "dist-b 2.0" in message and "'razh'" in message
    # every other name of both plugins still works, and neither plugin counts as broken
    assert plugins.methods.names() == ["mine", "yours"] and not plugins.broken
    assert "razh" in plugins.methods  # so 'info razh' explains the collision
    [warning] = plugins.warnings()
    assert "'razh'" in warning and "dist-a 1.0" in warning and "dist-b 2.0" in warning


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
    from zshbench.method import HashingMethod

    registry = Registry("method")
    registry.add(MethodSpec("bad", "collections:OrderedDict"), "dist-bad 1.0")
    with pytest.raises(PluginError, match="not a HashingMethod") as caught:
        registry.load("bad", HashingMethod)
    assert "dist-bad 1.0" in caught.value.one_line()


def test_a_target_that_cannot_be_imported_is_one_line_naming_the_plugin():
    registry = Registry("method")
    registry.add(MethodSpec("ghost", "zshbench_no_such_module_xyz:Ghost"), "dist-ghost 0.1")
    registry.add(MethodSpec("typo", "collections:NoSuchThing"), "dist-typo 0.1")
    with pytest.raises(PluginError) as caught:
        registry.load("ghost")
    line = caught.value.one_line()
    assert "dist-ghost 0.1" in line and "ModuleNotFoundError" in line and "\n" not in line
    with pytest.raises(PluginError, match="dist-typo 0.1.*AttributeError"):
        registry.load("typo")


def test_a_plugin_with_a_bad_name_is_skipped_whole_and_the_others_work():
    bad = _plugin(
        zshbench_register_methods=lambda: [MethodSpec("fine", "a:B"), MethodSpec("Bad_Name", "x:Y")]
    )
    good = _plugin(zshbench_register_methods=lambda: [MethodSpec("good", "x:Y")])
    plugins = collect([("bad", "dist-bad 1.0", bad), ("good", "dist-good 1.0", good)])
    assert plugins.methods.names() == ["good"]  # all or nothing: 'fine' went with the plugin
    [broken] = plugins.broken
    assert broken.source == "dist-bad 1.0" and "'Bad_Name'" in broken.error
    assert "dist-bad 1.0" in plugins.warnings()[0]


def test_a_hook_that_calls_sys_exit_is_a_broken_plugin_not_an_exit():
    def leave():
        raise SystemExit(3)

    quitter = _plugin(zshbench_register_methods=leave)
    good = _plugin(zshbench_register_methods=lambda: [MethodSpec("good", "x:Y")])
    plugins = collect([("quit", "dist-quit", quitter), ("good", "dist-good", good)])
    assert plugins.methods.names() == ["good"]
    assert [(b.name, b.error) for b in plugins.broken] == [("quit", "SystemExit: 3")]


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


# The hook contract is pluggy's: hookimpls are validated against zshbench/hookspecs.py


def test_hooks_are_called_through_pluggy(monkeypatch):
    """collect calls pm.hook.<name>(), not the module's function: pluggy's caller is the one
    that runs (mutation: calling ``getattr(module, hook_name)()`` makes this fail)."""
    import pluggy

    called = []
    real_call = pluggy.HookCaller.__call__

    def spy(self, *args, **kwargs):
        called.append(self.name)
        return real_call(self, *args, **kwargs)

    monkeypatch.setattr(pluggy.HookCaller, "__call__", spy)
    plugin = _plugin(zshbench_register_methods=lambda: [MethodSpec("mine", "m:M")])
    plugins = collect([("p", "dist-p", plugin)])
    assert plugins.methods.names() == ["mine"]
    assert "zshbench_register_methods" in called


def _only_warning(plugins, name: str) -> str:
    [broken] = plugins.broken
    line = broken.warning()
    assert broken.name == name and "\n" not in line
    return line


def test_a_misspelt_hook_is_rejected_in_one_line_naming_the_plugin():
    good = _plugin(zshbench_register_methods=lambda: [MethodSpec("good", "x:Y")])
    typo = _plugin(zshbench_register_method=lambda: [MethodSpec("typo", "x:Y")])
    plugins = collect([("typo", "dist-typo 1.0", typo), ("good", "dist-good", good)])
    line = _only_warning(plugins, "typo")
    assert "dist-typo 1.0" in line and "'zshbench_register_method'" in line
    assert "not a zshbench hook" in line and "zshbench_register_methods" in line
    assert plugins.methods.names() == ["good"]


def test_a_hookimpl_with_arguments_the_hook_lacks_is_rejected():
    def register(dataset):  # the hookspec takes no arguments
        return [MethodSpec("argful", "x:Y")]

    good = _plugin(zshbench_register_methods=lambda: [MethodSpec("good", "x:Y")])
    argful = _plugin(zshbench_register_methods=register)
    plugins = collect([("argful", "dist-argful", argful), ("good", "dist-good", good)])
    line = _only_warning(plugins, "argful")
    assert "dist-argful" in line and "'dataset'" in line and "hookspec" in line
    assert plugins.methods.names() == ["good"]


def test_a_hook_function_without_hookimpl_is_reported_not_silently_ignored():
    unmarked = types.SimpleNamespace(zshbench_register_methods=lambda: [MethodSpec("u", "x:Y")])
    plugins = collect([("unmarked", "dist-unmarked", unmarked)])
    line = _only_warning(plugins, "unmarked")
    assert "zshbench_register_methods is not marked @hookimpl" in line
    assert "u" not in plugins.methods
