"""The declarative data-set registry (TOML files) and resolve/load by name or file."""

from __future__ import annotations

import csv
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import datasets_registry
from zshbench.datasets import dataset_loader, load_dataset, resolve_dataset, resolve_root
from zshbench.datasets.base import Protocol
from zshbench.datasets.spec_file import spec_from_toml
from zshbench.errors import DatasetError
from zshbench.hookspecs import hookimpl
from zshbench.plugin_manager import load_plugins
from zshbench.registry import DatasetSpec

REFERENCE = Path(__file__).resolve().parents[1] / "zshbench" / "reference" / "paper_protocol.csv"
NAMES = {"digits", "cifar10", "cub", "awa2", "cub-mini64", "sun"}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for variable in (
        "ZSHBENCH_DATA_ROOT",
        "ZSHBENCH_CUB_ROOT",
        "ZSHBENCH_AWA2_ROOT",
        "ZSHBENCH_CIFAR10_ROOT",
        "ZSHBENCH_CUB_MINI64_ROOT",
    ):
        monkeypatch.delenv(variable, raising=False)


def test_registry_files_are_registered_through_the_plugin_hook():
    files = datasets_registry.registry_files()
    assert {path.stem for path in files} == NAMES
    registry = load_plugins().datasets
    assert NAMES <= set(registry.names())
    for path in files:
        spec = registry.get(path.stem)
        assert isinstance(spec, DatasetSpec)
        assert spec.name == path.stem and Path(spec.source_file).name == path.name
        assert spec.title and spec.attributes and spec.layout and spec.obtain and spec.citation
        assert spec.embedded == (spec.name == "digits")
        assert spec.embedded or spec.root_env.startswith("ZSHBENCH_")
        assert callable(dataset_loader(spec))


def test_paper_protocol_numbers():
    registry = load_plugins().datasets
    with open(REFERENCE, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["dataset"] for row in rows} == {"cifar10", "cub", "awa2"}
    for row in rows:
        spec = registry.get(row["dataset"])
        p = spec.protocol
        assert spec.num_classes == int(row["classes"])
        assert (p.num_seen, p.num_unseen) == (int(row["seen"]), int(row["unseen"]))
        assert p.train_per_seen_class == int(row["train_per_seen_class"])
        assert p.query_per_unseen_class == int(row["query_per_unseen_class"])
        assert p.expected_train == int(row["train_images"]) == p.num_seen * p.train_per_seen_class
        assert p.expected_query == int(row["query_images"])
        assert p.expected_database == int(row["database_images"])
        total = p.expected_train + p.expected_query + p.expected_database
        assert total == int(row["total_images"])


def test_other_protocols():
    registry = load_plugins().datasets
    digits = registry.get("digits").protocol
    assert digits == Protocol(8, 2, 50, 30, 2, 400, 60, 1337)
    assert 1797 - 400 - 60 == digits.expected_database
    mini = registry.get("cub-mini64")
    assert mini.num_classes == 50
    assert mini.protocol == Protocol(38, 12, 30, 30, 8, None, None, None)
    assert dataset_loader(mini) is dataset_loader(registry.get("cub"))
    validation = {name: registry.get(name).protocol.validation_classes for name in NAMES}
    assert validation == {
        "digits": 2, "cifar10": 2, "cub": 30, "awa2": 8, "cub-mini64": 8, "sun": 64,
    }  # fmt: skip


def test_splits_declared():
    registry = load_plugins().datasets
    defaults = {name: registry.get(name).default_split for name in NAMES}
    assert defaults == {
        "digits": "random-0", "cifar10": "random-0", "cub": "proposed",
        "awa2": "standard", "cub-mini64": "random-0", "sun": "random-0",
    }  # fmt: skip
    awa2 = registry.get("awa2").named_splits
    assert awa2["standard"] == ["standard"]
    assert len(awa2["proposed"]) == 10 and "persian+cat" not in awa2["proposed"]
    cub = registry.get("cub").named_splits
    assert set(cub) == {"proposed", "pixel-code"} and len(set(cub["proposed"])) == 50
    assert [name[:3] for name in cub["pixel-code"]] == [f"{n:03d}" for n in range(151, 201)]
    assert all(name[:3].isdigit() and name[3] == "." for name in cub["proposed"])


def test_proposed_splits_match_shared_files(shared_data):
    registry = load_plugins().datasets
    for name, file in (("cub", "cub_proposed_unseen.txt"), ("awa2", "awa2_proposed_unseen.txt")):
        path = shared_data / "splits" / file
        if not path.is_file():
            pytest.skip(f"{path} not present")
        expected = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        assert registry.get(name).named_splits["proposed"] == expected


# --- TOML parsing errors ---------------------------------------------------------------------

MINIMAL = """
name = "my-birds"
title = "My birds"
loader = "cub"
num_classes = 3

[protocol]
num_seen = 2
num_unseen = 1
train_per_seen_class = 1
query_per_unseen_class = 1
"""


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "my-birds.toml"
    path.write_text(text)
    return path


def test_minimal_user_file(tmp_path):
    spec = spec_from_toml(_toml(tmp_path, MINIMAL))
    assert spec.loader == "cub"
    assert spec.protocol == Protocol(2, 1, 1, 1)
    assert spec.default_split == "random-0" and spec.named_splits == {}
    assert spec.source_file.endswith("my-birds.toml")


@pytest.mark.parametrize(
    "text, key",
    [
        (MINIMAL.replace('title = "My birds"', 'title = "x"\ncolour = 3'), "colour"),
        (MINIMAL.replace('title = "My birds"\n', ""), "title"),
        (MINIMAL.replace("num_classes = 3", 'num_classes = "3"'), "num_classes"),
        (MINIMAL.replace("num_classes = 3", "num_classes = 4"), "protocol.num_unseen"),
        (MINIMAL.replace("num_seen = 2", "num_seen = 2\nseen = 1"), "protocol.seen"),
        (MINIMAL.replace("train_per_seen_class = 1\n", ""), "protocol.train_per_seen_class"),
        (MINIMAL.replace("num_seen = 2", "num_seen = 2.5"), "protocol.num_seen"),
        (MINIMAL.replace('loader = "cub"', 'loader = "my_birds.layout:load"'), "loader"),
        (MINIMAL.replace('loader = "cub"', 'loader = "builtins:len"'), "loader"),
        (MINIMAL.replace('name = "my-birds"', 'name = "../../x"'), "name"),
        (MINIMAL.replace('name = "my-birds"', 'name = "/abs/birds"'), "name"),
        (MINIMAL.replace('name = "my-birds"', 'name = "My Birds"'), "name"),
        (MINIMAL + '\n[named_splits]\nmine = ["a", "b"]\n', "named_splits.mine"),
        (MINIMAL + '\n[named_splits]\nmine = "a"\n', "named_splits.mine"),
        (
            MINIMAL.replace("num_classes = 3", 'num_classes = 3\ndefault_split = "x"'),
            "default_split",
        ),
        (MINIMAL.replace("num_classes = 3", "num_classes = 3\nembedded = 1"), "embedded"),
        (MINIMAL + "validation_classes = 2\n", "protocol.validation_classes"),
        (MINIMAL.split("[protocol]")[0] + "protocol = 1\n", "protocol"),
    ],
)
def test_bad_key_is_named(tmp_path, text, key):
    path = _toml(tmp_path, text)
    with pytest.raises(DatasetError) as error:
        spec_from_toml(path)
    line = error.value.one_line()
    assert str(path) in line and f"'{key}'" in line and "\n" not in line


def test_split_names_follow_the_split_grammar(tmp_path):
    text = MINIMAL.replace("num_classes = 3", 'num_classes = 3\ndefault_split = "mine@2"')
    text += '\n[named_splits]\nmine = ["c"]\nshipped = ["standard"]\n'
    spec = spec_from_toml(_toml(tmp_path, text))
    assert spec.default_split == "mine@2" and spec.named_splits["shipped"] == ["standard"]
    for name in ("random-3", "file:/tmp/unseen.txt"):
        text = MINIMAL.replace("num_classes = 3", f'num_classes = 3\ndefault_split = "{name}"')
        assert spec_from_toml(_toml(tmp_path, text)).default_split == name


def test_invalid_toml_and_missing_file(tmp_path):
    path = _toml(tmp_path, "name = \n")
    with pytest.raises(DatasetError) as error:
        spec_from_toml(path)
    assert str(path) in error.value.one_line() and "TOML" in error.value.one_line()
    with pytest.raises(DatasetError):
        spec_from_toml(tmp_path / "absent.toml")


# --- resolve and load ------------------------------------------------------------------------


def _spec(**changes) -> DatasetSpec:
    values = dict(
        name="thing",
        title="Thing",
        loader="cub",
        protocol=Protocol(2, 1, 1, 1),
        num_classes=3,
        layout="CUB_200_2011/...",
        obtain="https://example.org/thing",
        root_env="ZSHBENCH_THING_ROOT",
    )
    values.update(changes)
    return DatasetSpec(**values)


def test_resolve_root_precedence(tmp_path, monkeypatch):
    explicit, env, shared, default = (tmp_path / n for n in ("explicit", "env", "shared", "dflt"))
    for folder in (explicit, env, shared / "thing", default):
        folder.mkdir(parents=True)
    spec = _spec(default_root=str(default))
    assert resolve_root(spec) == default
    monkeypatch.setenv("ZSHBENCH_DATA_ROOT", str(shared))
    assert resolve_root(spec) == shared / "thing"
    monkeypatch.setenv("ZSHBENCH_THING_ROOT", str(env))
    assert resolve_root(spec) == env
    assert resolve_root(spec, str(explicit)) == explicit
    # ZSHBENCH_DATA_ROOT/<name> only counts if it exists
    monkeypatch.delenv("ZSHBENCH_THING_ROOT")
    monkeypatch.setenv("ZSHBENCH_DATA_ROOT", str(tmp_path / "elsewhere"))
    assert resolve_root(spec) == default


def test_a_shared_data_root_that_is_a_file_is_named(tmp_path, monkeypatch):
    (tmp_path / "root.txt").write_text("not a folder")
    monkeypatch.setenv("ZSHBENCH_DATA_ROOT", str(tmp_path / "root.txt"))
    with pytest.raises(DatasetError, match="DATA_ROOT is .*root.txt, which is not a folder"):
        resolve_root(_spec())
    assert resolve_root(_spec(), str(tmp_path)) == tmp_path  # --data-root still wins


def test_missing_root_says_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(DatasetError) as error:
        resolve_root(_spec())
    line = error.value.one_line()
    assert "--data-root" in line and "ZSHBENCH_THING_ROOT" in line and "ZSHBENCH_DATA_ROOT" in line
    assert "https://example.org/thing" in line and "CUB_200_2011" in line and "\n" not in line
    with pytest.raises(DatasetError) as error:
        resolve_root(_spec(), str(tmp_path / "absent"))
    assert "absent" in error.value.one_line() and "--data-root" in error.value.one_line()
    monkeypatch.setenv("ZSHBENCH_THING_ROOT", str(tmp_path / "gone"))
    with pytest.raises(DatasetError) as error:
        resolve_root(_spec())
    assert "$ZSHBENCH_THING_ROOT" in error.value.one_line()


def test_registered_cub_without_root():
    with pytest.raises(DatasetError) as error:
        load_dataset("cub")
    line = error.value.one_line()
    assert "ZSHBENCH_CUB_ROOT" in line and "https://www.vision.caltech.edu" in line


def test_embedded_needs_no_root():
    spec = resolve_dataset("digits")
    assert resolve_root(spec) is None
    assert resolve_root(spec, "/nonexistent") is None
    image_set = load_dataset("digits")
    assert image_set.name == "digits" and len(image_set) == 1797


def test_unknown_name_and_option():
    with pytest.raises(DatasetError) as error:
        resolve_dataset("mnist")
    assert "digits" in error.value.one_line() and ".toml" in error.value.one_line()
    with pytest.raises(DatasetError) as error:
        load_dataset("cub", "/", verify=False)
    assert "verify_images" in error.value.one_line()


def _tiny_cub(root: Path, classes: int) -> None:
    folder = root / "CUB_200_2011"
    (folder / "attributes").mkdir(parents=True)
    names = [f"{i:03d}.Bird_{i}" for i in range(1, classes + 1)]
    (folder / "classes.txt").write_text("".join(f"{i} {n}\n" for i, n in enumerate(names, 1)))
    images, labels = [], []
    for i, name in enumerate(names, 1):
        for k in range(2):
            image_id = 2 * (i - 1) + k + 1
            relative = f"{name}/img_{image_id}.jpg"
            (folder / "images" / name).mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (8, 8), (i * 20, k * 50, 0)).save(folder / "images" / relative)
            images.append(f"{image_id} {relative}\n")
            labels.append(f"{image_id} {i}\n")
    (folder / "images.txt").write_text("".join(images))
    (folder / "image_class_labels.txt").write_text("".join(labels))
    (root / "attributes.txt").write_text("1 has_size::small\n2 has_size::large\n")
    matrix = "".join(f"{10 * i} {100 - 10 * i}\n" for i in range(classes))
    (folder / "attributes" / "class_attribute_labels_continuous.txt").write_text(matrix)


def test_users_own_data_set_file(tmp_path):
    _tiny_cub(tmp_path / "data", classes=3)
    # default_root is relative to the data-set file
    path = _toml(
        tmp_path, MINIMAL.replace('loader = "cub"', 'loader = "cub"\ndefault_root = "data"')
    )
    spec = resolve_dataset(str(path))
    assert spec.name == "my-birds" and Path(spec.default_root) == tmp_path / "data"
    image_set = load_dataset(str(path))
    assert image_set.name == "my-birds" and len(image_set) == 6
    assert image_set.attribute_names == ["size: small", "size: large"]
    np.testing.assert_array_equal(image_set.class_attributes[:, 0], [0, 10, 20])
    # loader overrides reach the loader
    raw = load_dataset(spec, readable_names=False)
    assert raw.attribute_names == ["has_size::small", "has_size::large"]


def test_class_count_is_checked(tmp_path):
    _tiny_cub(tmp_path / "data", classes=4)
    with pytest.raises(DatasetError) as error:
        load_dataset(_spec(), tmp_path / "data")
    line = error.value.one_line()
    assert "3 classes" in line and "has 4" in line and "https://example.org/thing" in line


def test_missing_user_file(tmp_path):
    with pytest.raises(DatasetError) as error:
        resolve_dataset(str(tmp_path / "nope.toml"))
    assert "nope.toml" in error.value.one_line()


def test_unregistered_loader_is_refused_before_anything_is_read(tmp_path):
    with pytest.raises(DatasetError) as error:
        load_dataset(_spec(loader="no-such-layout"), tmp_path)
    line = error.value.one_line()
    assert "'no-such-layout'" in line and "not registered" in line and "awa2, cifar10, cub" in line
    # a user's file naming an unknown loader fails when it is resolved, naming the loaders
    path = _toml(tmp_path, MINIMAL.replace('loader = "cub"', 'loader = "birds"'))
    with pytest.raises(DatasetError, match="'birds'.*not registered.*cub, digits"):
        resolve_dataset(str(path))


def test_a_data_file_can_never_call_a_function(tmp_path):
    """Issue 10: 'loader = "shutil:rmtree"' with 'default_root = "victim"' deleted victim/."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    text = MINIMAL.replace('loader = "cub"', 'loader = "shutil:rmtree"\ndefault_root = "victim"')
    path = _toml(tmp_path, text)
    with pytest.raises(DatasetError) as error:
        load_dataset(str(path))
    assert "'loader'" in error.value.one_line() and "never a Python function" in str(error.value)
    assert (victim / "precious.txt").read_text() == "keep me"


def test_a_loader_that_fails_is_one_line_naming_the_data_set(tmp_path, monkeypatch):
    """A plugin's loader raising anything (not a DatasetError) is reported, not a traceback."""
    from zshbench.plugin_manager import collect
    from zshbench.registry import LoaderSpec

    def broken_loader(root, **options):
        raise KeyError("labels")

    plugin = types.SimpleNamespace(
        zshbench_register_loaders=hookimpl(lambda: [LoaderSpec("broken", broken_loader)])
    )
    plugins = collect([("broken", "dist-broken 1.0", plugin)])
    monkeypatch.setattr("zshbench.plugin_manager.load_plugins", lambda: plugins)
    with pytest.raises(DatasetError) as error:
        load_dataset(_spec(loader="broken"), tmp_path)
    line = error.value.one_line()
    assert "'thing'" in line and "'broken'" in line and "KeyError" in line
