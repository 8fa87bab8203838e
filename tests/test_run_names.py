"""Issue 18: hashed run names shown by what their options vary (zshbench/run_names.py)."""

from __future__ import annotations

import hashlib
import json

from zshbench.run_names import names_every_option, readable_names


def _hashed(method, options):
    digest = hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:8]
    return f"{method}@{digest}", json.dumps(options, sort_keys=True)


def test_a_lone_variant_shows_all_its_options():
    run = _hashed("razh", {"losses": "cls+h", "epochs": 5})
    assert readable_names([run, ("itq", "{}")]) == {
        run[0]: "razh[epochs=5,losses=cls+h]",
        "itq": "itq",
    }


def test_study_rows_are_named_by_the_option_they_vary():
    """Rows sharing epochs=5 differ in losses only; against the plain run epochs varies too."""
    a = _hashed("razh", {"losses": "cls", "epochs": 5})
    b = _hashed("razh", {"losses": "cls+h", "epochs": 5})
    assert readable_names([a, b]) == {a[0]: "razh[losses=cls]", b[0]: "razh[losses=cls+h]"}
    with_plain = readable_names([a, b, ("razh", "{}")])
    assert with_plain[a[0]] == "razh[epochs=5,losses=cls]"
    assert with_plain["razh"] == "razh"


def test_non_string_values_read_as_json_and_named_runs_stay():
    run = _hashed("itq", {"extractor_options": {"size": 8}, "pca": True})
    names = readable_names([run, ("my run", '{"x": 1}')])
    assert names[run[0]] == 'itq[extractor_options={"size": 8},pca=true]'
    assert names["my run"] == "my run"  # chosen with --name: kept


def test_a_name_that_would_collide_keeps_its_hash():
    run = _hashed("razh", {"losses": "cls"})
    taken = ("razh[losses=cls]", "{}")  # someone named a run so with --name
    names = readable_names([run, taken])
    assert names[run[0]] == run[0] and names[taken[0]] == taken[0]


def test_names_every_option():
    assert names_every_option("razh[losses=cls]", '{"losses": "cls"}')
    assert not names_every_option("razh[losses=cls]", '{"losses": "cls", "epochs": 5}')
    assert names_every_option("itq", "{}")


def test_a_path_option_is_shown_by_its_file_name():
    run = _hashed("razh", {"weights": "/work/data/pretrained-mae/vit-mae.safetensors"})
    assert readable_names([run])[run[0]] == "razh[weights=vit-mae.safetensors]"


def test_paths_that_differ_only_in_their_folder_keep_their_hashes():
    """Both would read razh[weights=vit.safetensors]: a shown name must tell runs apart."""
    a = _hashed("razh", {"weights": "/a/vit.safetensors"})
    b = _hashed("razh", {"weights": "/b/vit.safetensors"})
    assert readable_names([a, b]) == {a[0]: a[0], b[0]: b[0]}


def test_a_run_at_the_default_of_what_its_siblings_vary_says_default():
    """Not every shared option (backbone, weights, epochs, ...) repeated to say 'no losses='."""
    shared = {"backbone": "mobilenetv2_100", "epochs": 6, "weights": "/w/m.safetensors"}
    base = _hashed("razh-f", shared)
    variant = _hashed("razh-f", {**shared, "losses": "cls+h"})
    assert readable_names([base, variant]) == {
        base[0]: "razh-f[losses=default]",
        variant[0]: "razh-f[losses=cls+h]",
    }
