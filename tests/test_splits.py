"""The zero-shot split protocol: determinism, disjointness, counts, validation, named splits."""

from __future__ import annotations

import numpy as np
import pytest

from zshbench.datasets.base import ArrayImageSource, ImageSet, Protocol
from zshbench.errors import DatasetError, ZshbenchError
from zshbench.splits import (
    Split,
    SplitViews,
    check_protocol_counts,
    make_split,
    parse_split_name,
)

PROTOCOL = Protocol(
    num_seen=8, num_unseen=2, train_per_seen_class=5, query_per_unseen_class=4, validation_classes=2
)


def toy_imageset(per_class=12, classes=10) -> ImageSet:
    labels = np.repeat(np.arange(classes), per_class)
    rng = np.random.default_rng(0)
    rng.shuffle(labels)  # class order must not matter
    images = np.zeros((len(labels), 2, 2, 1), np.uint8)
    return ImageSet(
        name="toy",
        image_ids=[f"img{i:03d}" for i in range(len(labels))],
        labels=labels,
        class_names=[f"class{c}" for c in range(classes)],
        images=ArrayImageSource(images),
        attribute_names=["a", "b"],
        class_attributes=np.arange(classes * 2.0).reshape(classes, 2),
        standard_unseen_classes=["class3", "class7"],
    )


def test_counts_and_disjointness():
    imageset = toy_imageset()
    split = make_split(imageset, PROTOCOL, "random-4")
    assert len(split.unseen_classes) == 2 and len(split.seen_classes) == 8
    assert len(split.train_ids) == 8 * 5 and len(split.query_ids) == 2 * 4
    assert len(split.database_ids) == 120 - 40 - 8
    all_ids = split.train_ids + split.query_ids + split.database_ids
    assert sorted(all_ids) == sorted(imageset.image_ids.tolist())  # a partition
    label_of = dict(zip(imageset.image_ids.tolist(), imageset.labels.tolist(), strict=True))
    names = imageset.class_names
    assert {names[label_of[i]] for i in split.train_ids} == set(split.seen_classes)
    assert {names[label_of[i]] for i in split.query_ids} == set(split.unseen_classes)
    # the database holds both seen and unseen classes
    assert {names[label_of[i]] for i in split.database_ids} == set(names)


def test_validation_uses_only_seen_images_outside_training():
    imageset = toy_imageset()
    split = make_split(imageset, PROTOCOL, "random-1")
    label_of = dict(zip(imageset.image_ids.tolist(), imageset.labels.tolist(), strict=True))
    names = imageset.class_names
    val = split.validation
    assert len(val.classes) == 2 and set(val.classes) <= set(split.seen_classes)
    val_ids = set(val.query_ids) | set(val.database_ids)
    assert not val_ids & set(split.train_ids) and not val_ids & set(split.query_ids)
    assert {names[label_of[i]] for i in val_ids} <= set(split.seen_classes)
    assert {names[label_of[i]] for i in val.query_ids} == set(val.classes)
    # train data for a method: pseudo-unseen classes excluded from the fit positions
    data = SplitViews(imageset, split).train_data(topk=100)
    held = {data.class_names.index(c) for c in val.classes}
    assert not set(data.labels[data.validation.fit_positions]) & held
    assert len(data.validation.fit_positions) == 6 * 5
    assert data.validation.query.labels is not None


def test_validation_database_cap_draws_at_most_that_many_per_seen_class():
    """A capped validation database: ≤ cap images of every seen class, drawn from the seen
    images outside training and outside the validation queries, the same on every call."""
    imageset = toy_imageset(per_class=40)
    capped = Protocol(**{**PROTOCOL.__dict__, "validation_database_per_class": 6})
    uncapped = make_split(imageset, PROTOCOL, "random-1")
    split = make_split(imageset, capped, "random-1")
    label_of = dict(zip(imageset.image_ids.tolist(), imageset.labels.tolist(), strict=True))
    names = imageset.class_names
    per_class = {c: 0 for c in split.seen_classes}
    for image in split.validation.database_ids:
        per_class[names[label_of[image]]] += 1
    assert set(per_class.values()) == {6}  # every seen class has more than 6 to draw from
    assert set(split.validation.database_ids) <= set(uncapped.validation.database_ids)
    assert split.validation.query_ids == uncapped.validation.query_ids
    # train, query and database are the protocol's, untouched by the cap
    assert (split.train_ids, split.query_ids, split.database_ids) == (
        uncapped.train_ids,
        uncapped.query_ids,
        uncapped.database_ids,
    )
    assert make_split(imageset, capped, "random-1").split_id == split.split_id
    assert split.split_id != uncapped.split_id  # the manifest's content differs


def test_same_name_same_split_and_id_tracks_content():
    imageset = toy_imageset()
    a = make_split(imageset, PROTOCOL, "random-7")
    b = make_split(imageset, PROTOCOL, "random-7")
    c = make_split(imageset, PROTOCOL, "random-8")
    assert a.to_json() == b.to_json() and a.split_id == b.split_id
    assert a.split_id != c.split_id
    assert a.split_id.startswith("random-7-")
    assert Split.from_json(a.to_json()).split_id == a.split_id


def test_edited_manifest_is_refused():
    split = make_split(toy_imageset(), PROTOCOL, "random-0")
    text = split.to_json().replace(split.query_ids[0], "img999")
    with pytest.raises(DatasetError, match="edited or corrupted"):
        Split.from_json(text)


def test_standard_and_file_splits(tmp_path):
    imageset = toy_imageset()
    named = {"standard": ["standard"], "mine": ["class0", "class1"]}
    standard = make_split(imageset, PROTOCOL, "standard", named)
    assert standard.unseen_classes == ["class3", "class7"]
    mine = make_split(imageset, PROTOCOL, "mine@2", named)
    assert mine.unseen_classes == ["class0", "class1"] and mine.seed == 2
    listed = tmp_path / "unseen.txt"
    listed.write_text("class5\r\nclass9\n\n")
    from_file = make_split(imageset, PROTOCOL, f"file:{listed}", named)
    assert from_file.unseen_classes == ["class5", "class9"]
    listed.write_text("class5\nnot-a-class\n")
    with pytest.raises(DatasetError, match="not-a-class"):
        make_split(imageset, PROTOCOL, f"file:{listed}", named)
    with pytest.raises(ZshbenchError, match="unknown split"):
        make_split(imageset, PROTOCOL, "proposed", named)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("class1\nclass2\nclass3\n", "lists 3 unseen classes, but the protocol of toy has 2"),
        ("class1\n", "lists 1 unseen classes"),
        ("class1\nclass1\n", "lists 'class1' twice"),
        (b"\xff\xfe\x00\x81", "cannot read split file"),
        ("", "lists 0 unseen classes"),
    ],
)
def test_a_bad_split_file_is_blamed_on_the_file(tmp_path, content, words):
    """Issue 10: a split file with the wrong class count was blamed on the data set on disk."""
    listed = tmp_path / "unseen.txt"
    if isinstance(content, bytes):
        listed.write_bytes(content)
    else:
        listed.write_text(content)
    with pytest.raises(DatasetError) as caught:
        make_split(toy_imageset(), PROTOCOL, f"file:{listed}")
    line = caught.value.one_line()
    assert words in line and "incomplete" not in line and "\n" not in line


@pytest.mark.parametrize("bad", ["random-x", "random-1@2", "proposed@x"])
def test_bad_split_names(bad):
    with pytest.raises(ZshbenchError):
        parse_split_name(bad)


def test_too_few_images_for_the_protocol_is_a_clear_error():
    protocol = Protocol(num_seen=8, num_unseen=2, train_per_seen_class=50, query_per_unseen_class=4)
    with pytest.raises(DatasetError, match="needs 50"):
        make_split(toy_imageset(), protocol, "random-0")


def test_protocol_counts_are_checked():
    protocol = Protocol(8, 2, 5, 4, expected_train=40, expected_query=9)
    split = make_split(toy_imageset(), protocol, "random-0")
    with pytest.raises(DatasetError, match="query has 8 images, the protocol says 9"):
        check_protocol_counts(split, protocol)


def test_train_data_sees_only_seen_attributes():
    imageset = toy_imageset()
    split = make_split(imageset, PROTOCOL, "random-3")
    data = SplitViews(imageset, split).train_data(topk=10)
    seen_rows = [imageset.class_names.index(c) for c in split.seen_classes]
    np.testing.assert_array_equal(data.class_attributes, imageset.class_attributes[seen_rows])
    assert data.labels.max() == 7 and data.num_classes == 8
    # labels re-indexed consistently with class_names
    ids = data.images.image_ids
    label_of = dict(zip(imageset.image_ids.tolist(), imageset.labels.tolist(), strict=True))
    for image_id, label in zip(ids, data.labels, strict=True):
        assert imageset.class_names[label_of[image_id]] == data.class_names[label]


def test_real_cub_protocol_counts(shared_data):
    from zshbench.datasets import load_dataset, resolve_dataset

    spec = resolve_dataset("cub")
    imageset = load_dataset(spec, str(shared_data / "cub-metadata"), verify_images=False)
    for name in ("proposed", "random-0"):
        split = make_split(imageset, spec.protocol, name, spec.named_splits)
        assert (len(split.train_ids), len(split.query_ids), len(split.database_ids)) == (
            4500,
            1500,
            5788,
        )
        check_protocol_counts(split, spec.protocol)


def test_real_awa2_protocol_counts(shared_data):
    from zshbench.datasets import load_dataset, resolve_dataset

    spec = resolve_dataset("awa2")
    root = shared_data / "awa2-metadata"
    imageset = load_dataset(
        spec, str(root), verify_images=False, image_list=str(root / "image_list.txt")
    )
    for name in ("standard", "proposed", "random-2"):
        split = make_split(imageset, spec.protocol, name, spec.named_splits)
        assert (len(split.train_ids), len(split.query_ids), len(split.database_ids)) == (
            4000,
            1000,
            32322,
        )
    standard = make_split(imageset, spec.protocol, "standard", spec.named_splits)
    assert "persian+cat" in standard.unseen_classes
