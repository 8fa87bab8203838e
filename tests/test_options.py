"""Typed options: declared once in ``default_options``, checked and coerced before data loads."""

from __future__ import annotations

import json
import math

import pytest

from plugins.features.image_extractors import PixelExtractor, TimmExtractor
from plugins.features.text_encoders import HashingEncoder
from plugins.linear.itq import ITQ
from plugins.linear.lsh import LSH
from plugins.linear.sh import SH
from zshbench.errors import ZshbenchError
from zshbench.options import Option, check_options, describe_options, kind_of

DECLARED = {
    "iterations": Option(50, minimum=0, help="alternations"),
    "rate": Option(0.5, minimum=0.0, maximum=1.0),
    "scale": Option(2.0, exclusive_minimum=0.0),
    "share": Option(1.0, exclusive_minimum=0.0, maximum=1.0),
    "dims": Option(None, kind="integer", minimum=1),
    "pool": Option("mean", choices=("mean", "cls")),
    "flag": False,
    "name": "pixels",
    "extra": {},
    "sizes": [1, 2],
    "anything": None,
    "lr": 1e-3,
}


def check(**given):
    return check_options("Thing", DECLARED, given)


def test_plain_defaults_imply_their_kind():
    assert [kind_of(v) for v in (True, 3, 0.5, "x", {}, [], None)] == [
        "boolean", "integer", "number", "string", "object", "array", "any",
    ]  # fmt: skip
    # defaults alone come back as plain values, not Option objects
    assert check() == {
        "iterations": 50, "rate": 0.5, "scale": 2.0, "share": 1.0, "dims": None, "pool": "mean",
        "flag": False, "name": "pixels", "extra": {}, "sizes": [1, 2], "anything": None, "lr": 1e-3,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("key", "given", "expected"),
    [
        ("iterations", 2.0, 2),  # a whole float is a whole number
        ("iterations", "7", 7),  # text of a whole number (a .toml or the Python API)
        ("rate", 1, 1.0),  # a number is a float
        ("rate", "0.25", 0.25),
        ("scale", 1e-9, 1e-9),  # any number above the strict bound
        ("share", 1, 1.0),  # the inclusive upper bound
        ("dims", None, None),  # None allowed: the default is None
        ("dims", 3, 3),
        ("flag", "yes", True),
        ("flag", 0, False),
        ("flag", "FALSE", False),
        ("pool", "cls", "cls"),
        ("extra", {"size": 32}, {"size": 32}),
        ("sizes", (3, 4), [3, 4]),
        ("anything", {"a": [1, None]}, {"a": [1, None]}),
        ("lr", 3, 3.0),
    ],
)
def test_values_are_coerced_to_their_kind(key, given, expected):
    value = check(**{key: given})[key]
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("key", "given", "words"),
    [
        ("iterations", "abc", 'a whole number ≥ 0, not "abc"'),  # issue 10, item 6
        ("iterations", "{bad", 'a whole number ≥ 0, not "{bad"'),
        ("iterations", float("inf"), "not inf"),  # what -o iterations=1e400 parses to
        ("iterations", float("nan"), "not nan"),
        ("iterations", 2.7, "not 2.7"),  # was silently truncated to 2
        ("iterations", -1, "not -1"),
        ("iterations", True, "not true"),  # a bool is not a count
        ("rate", 1.5, "a number in [0, 1], not 1.5"),
        ("rate", float("inf"), "not inf"),
        ("scale", 0.0, "a number > 0, not 0.0"),  # the strict bound itself is refused
        ("scale", -1, "a number > 0, not -1"),
        ("share", 0, "a number in (0, 1], not 0"),
        ("share", 1.5, "a number in (0, 1], not 1.5"),
        ("rate", "fast", 'not "fast"'),
        ("dims", 0, "a whole number ≥ 1 or null, not 0"),
        ("pool", "max", 'one of "mean", "cls", not "max"'),
        ("flag", "maybe", 'true or false, not "maybe"'),
        ("flag", 2, "true or false, not 2"),
        ("name", 123, "text, not 123"),
        ("name", None, "text, not null"),
        ("extra", [1, 2], "a JSON object"),  # issue 10: -o 'extractor_options=[1,2]'
        ("sizes", {"a": 1}, "a JSON list"),
        ("anything", float("nan"), "any JSON value, not nan"),
        ("anything", {1, 2}, "any JSON value, not {1, 2}"),
    ],
)
def test_a_value_that_does_not_fit_is_one_line(key, given, words):
    with pytest.raises(ZshbenchError) as caught:
        check(**{key: given})
    line = caught.value.one_line()
    assert f"Thing option {key} must be" in line and words in line and "\n" not in line
    assert "Default:" in line


def test_huge_whole_numbers_are_compared_exactly():
    assert check(iterations=10**400)["iterations"] == 10**400  # no float overflow
    with pytest.raises(ZshbenchError, match="in \\[0, 1\\]"):
        check(rate=10**400)


def test_the_help_line_and_a_quoting_hint_are_in_the_message():
    with pytest.raises(ZshbenchError) as caught:
        check(iterations="x")
    assert "iterations: alternations." in caught.value.one_line()
    with pytest.raises(ZshbenchError, match=r"""-o 'name="123"'"""):
        check(name=123)


def test_unknown_options_are_listed():
    with pytest.raises(ZshbenchError, match="Thing has no option nope.*anything, dims"):
        check(nope=1)


def test_describe_options_for_info():
    rows = {key: (kind, default, help) for key, kind, default, help in describe_options(DECLARED)}
    assert rows["iterations"] == ("a whole number ≥ 0", "50", "alternations")
    assert rows["rate"][0] == "a number in [0, 1]"
    assert rows["scale"][0] == "a number > 0"
    assert rows["dims"][0] == "a whole number ≥ 1 or null"
    assert rows["pool"][0] == 'one of "mean", "cls"'
    assert rows["lr"] == ("a number", "0.001", "")


def test_bad_declarations_are_refused():
    with pytest.raises(ValueError, match="kind"):
        Option(1, kind="float")
    with pytest.raises(ValueError, match="minimum or exclusive_minimum"):
        Option(1.0, minimum=0.0, exclusive_minimum=0.0)


# --- the first-party parts declare theirs --------------------------------------------------


def test_itq_checks_iterations_and_records_the_checked_value():
    method = ITQ(16, iterations=2.0)
    assert method.options["iterations"] == 2 and type(method.options["iterations"]) is int
    assert json.dumps(method.config()["iterations"]) == "2"
    with pytest.raises(ZshbenchError, match="ITQ option iterations must be a whole number"):
        ITQ(16, iterations=2.7)


def test_feature_methods_check_their_extractor_and_its_options_when_built():
    method = LSH(16, extractor_options={"size": 8.0})
    # the given extractor options, checked and coerced, are what the record keeps
    assert method.options["extractor_options"] == {"size": 8}
    assert type(method.options["extractor_options"]["size"]) is int
    with pytest.raises(ZshbenchError, match="unknown extractor 'nope'"):
        SH(16, extractor="nope")
    with pytest.raises(ZshbenchError, match="extractor pixels option size must be"):
        ITQ(16, extractor_options={"size": -3})
    with pytest.raises(ZshbenchError, match="extractor pixels has no option model"):
        ITQ(16, extractor_options={"model": "resnet18"})
    with pytest.raises(ZshbenchError, match="LSH option pca_dims must be a whole number ≥ 1"):
        LSH(16, pca_dims=True)
    timm = ITQ(16, extractor="timm", extractor_options={"batch_size": "8"})
    assert timm.options["extractor_options"]["batch_size"] == 8


def test_extractors_and_encoders_declare_types():
    assert PixelExtractor(grayscale="true").options["grayscale"] is True
    with pytest.raises(ZshbenchError, match="crop_pct must be a number in"):
        TimmExtractor(crop_pct=1.5)
    with pytest.raises(ZshbenchError, match="n_features must be a whole number"):
        HashingEncoder(n_features="abc")
    assert HashingEncoder(ngram=2.0).options["ngram"] == 2


def test_every_first_party_default_passes_its_own_declaration():
    """A declaration whose default does not fit would fail every run of that part."""
    from zshbench.features import FeatureExtractor
    from zshbench.method import HashingMethod
    from zshbench.plugin_manager import load_plugins

    plugins = load_plugins()
    for kind, base in (("extractors", FeatureExtractor), ("encoders", None)):
        for name in plugins.registry(kind).names():
            cls = plugins.registry(kind).load(name, base)
            assert check_options(name, cls.default_options, {}) is not None
    for name in ("lsh", "sh", "itq"):
        cls = plugins.methods.load(name, HashingMethod)
        options = cls(16).options
        assert all(not isinstance(v, Option) for v in options.values())
        assert not any(isinstance(v, float) and math.isnan(v) for v in options.values())


def test_every_deep_method_declares_each_option_with_a_help_line():
    """One option system: a deep method's options are all Options (type, range, help), so the
    declaration checks them and ``zshbench info`` explains them; none is re-checked by hand."""
    from zshbench.plugin_manager import load_plugins

    plugins = load_plugins()
    deep = [name for name in plugins.methods.names() if plugins.methods.get(name).family == "deep"]
    assert {"adsh", "amvh", "ddsh", "drmh", "sitnet", "razh"} <= set(deep)
    for name in deep:
        declared = plugins.methods.get(name).load().default_options
        plain = [k for k, v in declared.items() if not isinstance(v, Option) or not v.help]
        assert not plain, f"{name}: {plain}"
