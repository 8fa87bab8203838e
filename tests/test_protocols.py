"""The four retrieval protocols (queries@database) of a split, checked image by image.

Each protocol's queries and database are recomputed here from their definitions, by brute
force over every image of a toy data set, and compared with what ``make_split`` saved.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_splits import PROTOCOL, toy_imageset

from zshbench.datasets.base import Protocol
from zshbench.errors import DatasetError, ZshbenchError
from zshbench.splits import (
    DEFAULT_RETRIEVAL,
    RETRIEVAL_PROTOCOLS,
    check_protocol_counts,
    check_retrieval,
    make_split,
)


def _classes(imageset, ids):
    label_of = dict(zip(imageset.image_ids.tolist(), imageset.labels.tolist(), strict=True))
    return {imageset.class_names[label_of[i]] for i in ids}


@pytest.mark.parametrize("retrieval", RETRIEVAL_PROTOCOLS)
@pytest.mark.parametrize("name", ["random-0", "random-3", "standard"])
def test_each_protocol_is_its_definition(retrieval, name):
    imageset = toy_imageset()
    split = make_split(imageset, PROTOCOL, name, {"standard": ["standard"]}, retrieval)
    seen, unseen = set(split.seen_classes), set(split.unseen_classes)
    train, query, database = set(split.train_ids), set(split.query_ids), set(split.database_ids)
    query_side, database_side = retrieval.split("@")
    assert _classes(imageset, query) == (seen if query_side == "seen" else unseen)
    per_class = PROTOCOL.query_per_unseen_class
    assert len(query) == per_class * len(seen if query_side == "seen" else unseen)
    wanted = {"all": seen | unseen, "seen": seen, "unseen": unseen}[database_side]
    expected_database = {
        image_id
        for image_id, label in zip(imageset.image_ids.tolist(), imageset.labels.tolist(), strict=1)
        if image_id not in train and image_id not in query and imageset.class_names[label] in wanted
    }
    assert database == expected_database
    # no image trains and is also a query; validation never touches a query or a training image
    assert not train & query and not train & database
    validation = set(split.validation.query_ids) | set(split.validation.database_ids)
    assert not validation & (train | query)
    assert _classes(imageset, train) == seen
    assert split.retrieval == retrieval and split.summary()["protocol"] == retrieval


def test_protocols_share_classes_and_training_set_and_the_default_id_is_unchanged():
    imageset = toy_imageset()
    splits = {r: make_split(imageset, PROTOCOL, "random-2", None, r) for r in RETRIEVAL_PROTOCOLS}
    assert len({tuple(s.train_ids) for s in splits.values()}) == 1
    assert len({tuple(s.unseen_classes) for s in splits.values()}) == 1
    assert splits["unseen@all"].query_ids == splits["unseen@unseen"].query_ids
    assert splits["seen@seen"].query_ids == splits["seen@all"].query_ids
    assert len({s.split_id for s in splits.values()}) == 4  # records of each stay apart
    default = make_split(imageset, PROTOCOL, "random-2")
    assert default.split_id == splits[DEFAULT_RETRIEVAL].split_id
    assert "@" not in default.split_id and "seen@seen" in splits["seen@seen"].split_id


def test_digits_default_split_keeps_its_published_id():
    from zshbench.datasets import load_dataset, resolve_dataset

    spec = resolve_dataset("digits")
    split = make_split(load_dataset(spec), spec.protocol, "random-0", spec.named_splits)
    assert split.split_id == "random-0-76e4e863b1"  # the README's leaderboards' split
    check_protocol_counts(split, spec.protocol)


def test_a_saved_split_keeps_its_protocol():
    imageset = toy_imageset()
    split = make_split(imageset, PROTOCOL, "random-1", None, "seen@all")
    again = type(split).from_json(split.to_json())
    assert again.retrieval == "seen@all" and again.split_id == split.split_id


def test_seen_queries_need_held_out_seen_images():
    imageset = toy_imageset(per_class=12)
    greedy = Protocol(num_seen=8, num_unseen=2, train_per_seen_class=10, query_per_unseen_class=4)
    make_split(imageset, greedy, "random-0", None, "unseen@unseen")  # unseen queries: fine
    with pytest.raises(DatasetError, match="cannot give seen-class queries") as error:
        make_split(imageset, greedy, "random-0", None, "seen@seen")
    assert "unseen@all" in error.value.hint


def test_an_unknown_protocol_gets_did_you_mean():
    with pytest.raises(ZshbenchError, match="unknown protocol") as error:
        check_retrieval("unseen@unsen")
    assert "Did you mean 'unseen@unseen'" in error.value.hint
    with pytest.raises(ZshbenchError):
        make_split(toy_imageset(), PROTOCOL, "random-0", None, "all@all")
    assert check_retrieval("seen@all") == "seen@all"


def test_seen_queries_are_drawn_apart_from_validation():
    """With every seen image outside training split between queries and validation, the two
    never share an image and each class keeps its query count."""
    imageset = toy_imageset(per_class=12)
    split = make_split(imageset, PROTOCOL, "random-5", None, "seen@seen")
    assert not set(split.query_ids) & set(split.validation.query_ids)
    assert not set(split.query_ids) & set(split.validation.database_ids)
    label_of = dict(zip(imageset.image_ids.tolist(), imageset.labels.tolist(), strict=True))
    counts = np.bincount([label_of[i] for i in split.query_ids], minlength=10)
    assert sorted(set(counts.tolist())) == [0, PROTOCOL.query_per_unseen_class]


def test_run_writes_each_protocol_under_its_own_split(tmp_path):
    import json

    from cli_runner import REPO_ROOT, run_zshbench

    results = tmp_path / "results"
    for protocol in ("unseen@unseen", "unseen@all"):
        done = run_zshbench(
            "run", "--method", "lsh", "--dataset", "digits", "--bits", "16",
            "--protocol", protocol, "--results", str(results), cwd=REPO_ROOT,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    records = sorted(results.glob("digits/*/lsh/bits16-seed0.json"))
    protocols = {json.loads(p.read_text())["split"]["protocol"]: p.parts[-3] for p in records}
    assert protocols == {
        "unseen@all": "random-0-76e4e863b1",
        "unseen@unseen": protocols["unseen@unseen"],
    }
    assert protocols["unseen@unseen"].startswith("random-0-unseen@unseen-")
    bad = run_zshbench(
        "run", "--method", "lsh", "--dataset", "digits", "--protocol", "seen@sen",
        "--results", str(results), cwd=REPO_ROOT,
    )  # fmt: skip
    assert bad.returncode != 0 and "Did you mean 'seen@seen'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
