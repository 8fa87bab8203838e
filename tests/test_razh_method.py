"""RAZH as a zshbench method (plugins/razh/method.py, config, attributes) on the deep engine.

* config: the paper's α/β table, its prefix and nearest-length rules, the two scales;
* attributes: T^(i) from a binary or a continuous class-attribute matrix, readable class names;
* backbone (plugins/deep/backbones.py): an MAE-style checkpoint (encoder + decoder keys) loads
  into the timm ViT, a wrong architecture or a pickled object is a one-line ZshbenchError;
  class-supervised weights are refused for RAZH and flagged for RAZH-F;
* end to end on the embedded ``digits`` data set through ``zshbench.runner.run`` for razh,
  razh-c, razh-a, razh-d and razh-t, with a tiny ViT and the offline ``hashing`` text encoder:
  records, codes, seen-class model selection that never loads a query image, the three
  selection modes (retrain the default), diagnostics, option errors, a diverging loss, RAZH-F's
  fine-tuning, the replaced fraction and the phase timings in the record.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

from razh_tiny import TINY  # noqa: E402

from plugins.deep import method as deep_method  # noqa: E402
from plugins.deep import scales  # noqa: E402
from plugins.deep.backbones import build_backbone as build_encoder  # noqa: E402
from plugins.razh import config as razh_config  # noqa: E402
from plugins.razh import method as razh_method  # noqa: E402
from plugins.razh.attributes import (  # noqa: E402
    attribute_inputs,
    class_attribute_sets,
    readable_class_name,
)
from plugins.razh.method import RAZH  # noqa: E402
from zshbench import runner  # noqa: E402
from zshbench.datasets.base import ArrayImageSource  # noqa: E402
from zshbench.errors import DatasetError, TrainingError, ZshbenchError  # noqa: E402
from zshbench.method import Progress, RunContext, TrainData  # noqa: E402
from zshbench.options import plain_defaults  # noqa: E402
from zshbench.results import iter_records  # noqa: E402

VARIANTS = ["razh", "razh-c", "razh-a", "razh-d", "razh-t", "razh-f"]
# digits: 8 seen classes × 50 training images, 2 of them held out for validation
TRAIN_IMAGES, FIT_IMAGES, QUERIES, DATABASE = 400, 300, 60, 1337


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --------------------------------------------------------------------------- config


def test_paper_alpha_beta_table():
    assert razh_config.paper_alpha_beta("cub", 48) == (1.0, 0.001)
    assert razh_config.paper_alpha_beta("awa2", 24) == (1.0, 1.0)
    assert razh_config.paper_alpha_beta("cifar10", 128) == (0.001, 0.1)
    # a data set named <name>-... uses <name>'s row
    assert razh_config.table_dataset("cub-mini64") == "cub"
    for bits in (24, 48, 64, 128):
        assert razh_config.paper_alpha_beta("cub-mini64", bits) == razh_config.paper_alpha_beta(
            "cub", bits
        )
    assert razh_config.paper_alpha_beta("digits", 48) is None
    assert razh_config.paper_alpha_beta("cubist", 48) is None  # a prefix, not a row
    assert razh_config.table_dataset("digits") is None


def test_paper_alpha_beta_nearest_code_length():
    cub = {bits: razh_config.paper_alpha_beta("cub", bits) for bits in (24, 48, 64, 128)}
    assert razh_config.paper_alpha_beta("cub", 32) == cub[24]  # 8 from 24, 16 from 48
    assert razh_config.paper_alpha_beta("cub", 16) == cub[24]
    assert razh_config.paper_alpha_beta("cub", 60) == cub[64]
    assert razh_config.paper_alpha_beta("cub", 512) == cub[128]
    # ties (36: 12 from 24 and 48; 56: 8 from 48 and 64; 96) go to the shorter code
    assert razh_config.paper_alpha_beta("cub", 36) == cub[24]
    assert razh_config.paper_alpha_beta("cub", 56) == cub[48]
    assert razh_config.paper_alpha_beta("cub", 96) == cub[64]


def options(**given):
    return {**plain_defaults(RAZH.default_options), **given}


def test_resolve_paper_scale():
    awa2 = razh_config.resolve(options(scale="paper"), "awa2", 48, native_size=None)
    # the paper's operating point: MAE's self-supervised ViT-B/16, pretrained, its own
    # normalisation (checked on the built model below), random-resized-crop + flip
    assert (awa2["model"], awa2["img_size"], awa2["patch_size"]) == (
        "vit_base_patch16_224.mae",
        224,
        16,
    )
    assert awa2["pretrained"] is True and awa2["stem"] == "patch"
    assert awa2["augment"] == "rrc+flip" and awa2["hash_input"] == "masked"
    assert awa2["selection"] == "retrain"
    assert (awa2["decoder_dim"], awa2["decoder_depth"], awa2["decoder_heads"]) == (512, 8, 16)
    assert (awa2["lr"], awa2["weight_decay"], awa2["epochs"]) == (6e-6, 0.5, 70)
    assert (awa2["alpha"], awa2["beta"]) == (0.5, 0.001)  # Table VIII, AWA2 48 bits
    assert awa2["threshold"] == 0.1 and awa2["clusters"] == 9 and awa2["replace_ratio"] is None
    awa2_long = razh_config.resolve(options(scale="paper"), "awa2", 128, native_size=None)
    assert awa2_long["epochs"] == 50 and awa2_long["clusters"] == 25
    assert awa2_long["threshold"] == 0.2
    cub = razh_config.resolve(options(scale="paper"), "cub-mini64", 24, native_size=64)
    assert (cub["img_size"], cub["lr"], cub["epochs"]) == (224, 2e-5, 200)
    # a given option wins over the scale and the table
    given = razh_config.resolve(options(scale="paper", lr=1e-4, alpha=0.3), "awa2", 48, None)
    assert (given["lr"], given["alpha"], given["beta"]) == (1e-4, 0.3, 0.001)


@pytest.mark.slow
def test_paper_scale_backbone_is_mae_with_imagenet_normalisation():
    """vit_base_patch16_224 (no tag) is class-supervised with 0.5/0.5 normalisation; the MAE
    tag is self-supervised with ImageNet's mean/std."""
    settings = razh_config.resolve(options(scale="paper"), "cub", 24, native_size=None)
    encoder, mean, std = build_encoder({**settings, "pretrained": False})
    assert type(encoder).__name__ == "VisionTransformer" and encoder.embed_dim == 768
    assert mean == pytest.approx((0.485, 0.456, 0.406)) and std == pytest.approx(
        (0.229, 0.224, 0.225)
    )


def test_class_supervised_weights_are_refused_for_razh_and_flagged_for_razh_f():
    from plugins.deep.backbones import weights_supervision

    assert weights_supervision({"model": "vit_base_patch16_224.mae", "pretrained": True}) == (
        "self-supervised"
    )
    assert weights_supervision({"model": "vit_base_patch16_224", "pretrained": True}) == (
        "class-supervised"
    )
    assert weights_supervision(
        {"model": "vit_base_patch16_224.augreg_in21k", "pretrained": True}
    ) == ("class-supervised")
    assert weights_supervision({"model": "x", "pretrained": False}) == "none"
    assert weights_supervision({"model": "x", "weights": "w.pth"}) == "unknown"
    settings = {"model": "vit_base_patch16_224.orig_in21k_ft_in1k", "pretrained": True}
    with pytest.raises(ZshbenchError, match="class labels") as info:
        RAZH(24)._check_supervision(settings)
    assert "razh-f" in str(info.value) and "\n" not in str(info.value)
    warnings = razh_method.RAZHFineTuned(24)._check_supervision(settings)
    assert len(warnings) == 1 and "not a strict zero-shot result" in warnings[0]


def test_resolve_cpu_scale_geometry():
    assert scales.cpu_geometry(8) == (8, 2)
    assert scales.cpu_geometry(32) == (32, 8)
    assert scales.cpu_geometry(64) == (32, 8)  # at most 32 px
    assert scales.cpu_geometry(None) == (32, 8)
    assert scales.cpu_geometry(500) == (32, 8)
    assert scales.cpu_geometry(30) == (28, 7)  # a multiple of the 4×4 grid
    digits = razh_config.resolve(options(), "digits", 16, native_size=8)
    assert (digits["img_size"], digits["patch_size"]) == (8, 2)
    # not in the paper's tables: α/β chosen on digits' seen-class validation task
    assert (digits["alpha"], digits["beta"]) == razh_config.VALIDATED_ALPHA_BETA["digits"]
    other = razh_config.resolve(options(), "my-birds", 16, native_size=8)
    assert (other["alpha"], other["beta"]) == (1.0, 1.0)  # nothing known: Eq. 16 unweighted
    assert digits["clusters"] == 4  # a quarter of the 16 patches
    # at CPU scale Eq. 3 replaces a share of the patches; the authors' threshold stays selectable
    assert digits["threshold"] is None and digits["replace_ratio"] == razh_config.CPU_REPLACE_RATIO
    given = razh_config.resolve(options(threshold=0.1), "digits", 16, native_size=8)
    assert given["threshold"] == 0.1 and given["replace_ratio"] is None
    assert digits["stem"] == "conv" and digits["selection"] == "retrain"
    cub = razh_config.resolve(options(), "cub-mini64", 48, native_size=64)
    assert (cub["img_size"], cub["patch_size"], cub["model"]) == (32, 8, "vit_tiny_patch16_224")
    assert cub["pretrained"] is False
    assert (cub["alpha"], cub["beta"]) == (1.0, 0.001)


# --------------------------------------------------------------------------- attributes


def train_data(class_attributes=None, binary=None, names=None) -> TrainData:
    count = len(class_attributes if class_attributes is not None else binary)
    width = np.asarray(class_attributes if class_attributes is not None else binary).shape[1]
    return TrainData(
        images=None,
        labels=np.zeros(0, dtype=np.int64),
        class_names=names or [f"{i:03d}.Class_{i}" for i in range(count)],
        attribute_names=[f"attribute {j}" for j in range(width)],
        class_attributes=None if class_attributes is None else np.asarray(class_attributes),
        binary_class_attributes=None if binary is None else np.asarray(binary),
        validation=None,
        dataset="toy",
    )


def test_class_attribute_sets_use_the_binary_matrix_when_present():
    continuous = [[0.9, 0.8, 0.1], [0.0, 0.7, 0.9]]
    binary = [[0, 0, 1], [1, 0, 0]]  # deliberately unlike the continuous one
    sets = class_attribute_sets(train_data(continuous, binary))
    assert sets.tolist() == [[False, False, True], [True, False, False]]
    # a cut asks for the continuous matrix instead
    cut = class_attribute_sets(train_data(continuous, binary), cut=0.75)
    assert cut.tolist() == [[True, True, False], [False, False, True]]


def test_class_attribute_sets_cut_a_continuous_matrix_at_its_mean():
    values = [  # multiples of 1/16, so the cut is exact in binary floating point
        [1.0, 0.0, 0.75, 0.25],
        [0.25, 0.875, 0.5, 0.0],
        [0.125, 0.25, 0.0, 0.3125],  # nothing above the cut: keeps its strongest, attribute 3
    ]
    # mean of all 12 values = (2.0 + 1.625 + 0.6875) / 12 = 0.359375
    sets = class_attribute_sets(train_data(values))
    assert sets.tolist() == [
        [True, False, True, False],
        [False, True, True, False],
        [False, False, False, True],
    ]
    assert sets.dtype == bool and sets.any(axis=1).all()


def test_class_attribute_sets_treat_minus_one_as_missing():
    values = [
        [-1.0, -1.0, 1.0, 0.4],
        [0.6, 0.2, -1.0, 0.8],
    ]
    # observed mean = (1 + 0.4 + 0.6 + 0.2 + 0.8) / 5 = 0.6 (counting the -1s it would be 0)
    sets = class_attribute_sets(train_data(values))
    assert sets.tolist() == [[False, False, True, False], [False, False, False, True]]


def test_no_attributes_is_a_clear_error():
    data = train_data(binary=[[1]])
    data.binary_class_attributes = None
    with pytest.raises(ZshbenchError, match="razh-t"):
        class_attribute_sets(data)


def test_readable_class_names():
    assert readable_class_name("006.Least_Auklet") == "Least Auklet"
    assert readable_class_name("persian+cat") == "persian cat"
    assert readable_class_name("zero") == "zero"


def test_attribute_inputs_for_attributes_and_class_names():
    data = train_data(binary=[[1, 0, 1], [0, 1, 0]], names=["001.Black_Tern", "002.Sooty_Tern"])
    context = RunContext(encoder="hashing")
    vectors, sets, texts = attribute_inputs(data, context, "attributes")
    assert texts == ["attribute 0", "attribute 1", "attribute 2"]
    assert vectors.shape[0] == 3 and vectors.dtype == np.float32
    assert sets.tolist() == [[True, False, True], [False, True, False]]
    vectors, sets, texts = attribute_inputs(data, context, "class-names")  # RAZH-T
    assert texts == ["Black Tern", "Sooty Tern"]
    assert vectors.shape[0] == 2 and sets.tolist() == [[True, False], [False, True]]
    with pytest.raises(ZshbenchError, match="class-names"):
        attribute_inputs(data, context, "names")


# --------------------------------------------------------------------------- backbone

ENCODER = {
    "model": "vit_tiny_patch16_224",
    "img_size": 8,
    "patch_size": 2,
    "embed_dim": 16,
    "depth": 1,
    "num_heads": 2,
}


def vit(seed: int, **changes):
    settings = {**ENCODER, **changes}
    name = settings.pop("model")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return timm.create_model(name, pretrained=False, num_classes=0, in_chans=3, **settings)


def test_mae_checkpoint_loads_the_encoder_and_ignores_the_decoder(tmp_path):
    original = vit(seed=11)
    state = dict(original.state_dict())
    state.update(  # what MAE's pre-training checkpoint holds besides the encoder
        {
            "mask_token": torch.randn(1, 1, 8),
            "decoder_embed.weight": torch.randn(8, 16),
            "decoder_embed.bias": torch.randn(8),
            "decoder_pos_embed": torch.randn(1, 17, 8),
            "decoder_blocks.0.norm1.weight": torch.randn(8),
            "decoder_norm.weight": torch.randn(8),
            "decoder_pred.weight": torch.randn(12, 8),
        }
    )
    path = tmp_path / "mae.pth"
    torch.save({"model": state}, path)  # MAE wraps its state dict in {"model": ...}
    encoder, mean, std = build_encoder({**ENCODER, "weights": str(path)})
    loaded = encoder.state_dict()
    assert set(loaded) == set(original.state_dict())
    for key, value in original.state_dict().items():
        assert torch.equal(loaded[key], value), key
    assert len(mean) == len(std) == 3
    # without weights the same settings give a different (random) encoder
    untrained, _, _ = build_encoder(dict(ENCODER))
    assert not torch.equal(untrained.state_dict()["pos_embed"], original.state_dict()["pos_embed"])


def test_checkpoint_at_another_image_size_is_resampled(tmp_path):
    """timm's checkpoint filter adapts position embeddings (MAE's 224 px to another size)."""
    original = vit(seed=3, img_size=16)  # 8×8 grid of positions
    path = tmp_path / "mae16.pth"
    torch.save(original.state_dict(), path)
    encoder, _, _ = build_encoder({**ENCODER, "weights": str(path)})  # 4×4 grid
    assert encoder.pos_embed.shape == (1, 17, 16)
    assert torch.equal(encoder.blocks[0].attn.qkv.weight, original.blocks[0].attn.qkv.weight)


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"depth": 2}, ["does not fit", "unexpected keys", "blocks.1"]),
        ({"embed_dim": 32}, ["does not fit", "another shape"]),
    ],
    ids=["deeper", "wider"],
)
def test_checkpoint_of_another_architecture_is_a_clear_error(tmp_path, changes, words):
    path = tmp_path / "other.pth"
    torch.save(vit(seed=0, **changes).state_dict(), path)
    with pytest.raises(ZshbenchError) as info:
        build_encoder({**ENCODER, "weights": str(path)})
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_checkpoint_of_another_model_family_is_a_clear_error(tmp_path):
    path = tmp_path / "cnn.pth"
    torch.save({"conv1.weight": torch.zeros(8, 3, 3, 3), "fc.weight": torch.zeros(2, 8)}, path)
    with pytest.raises(ZshbenchError, match="missing keys.*unexpected keys"):
        build_encoder({**ENCODER, "weights": str(path)})


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "pickled.pth"
    torch.save({"model": vit(seed=0)}, path)  # a whole module, not tensors
    with pytest.raises(ZshbenchError, match="weights_only") as info:
        build_encoder({**ENCODER, "weights": str(path)})
    assert "\n" not in str(info.value)


def test_unknown_or_non_vit_model_is_a_clear_error():
    with pytest.raises(ZshbenchError, match="no model"):
        build_encoder({**ENCODER, "model": "no_such_vit_xyz"})


# --------------------------------------------------------------------------- end to end


class Recorder(Progress):
    """A silent Progress that keeps the log lines."""

    def __init__(self):
        self.lines: list[str] = []

    def log(self, message: str) -> None:
        self.lines.append(message)


@pytest.fixture
def registered():
    """The razh methods come through the installed entry points, as for a user."""
    from zshbench.plugin_manager import load_plugins

    names = load_plugins().methods.names()
    if not set(VARIANTS) <= set(names):
        pytest.fail(
            f"razh methods are not registered (found {names}): the installed metadata predates "
            "plugins/razh; reinstall with pip install -e . (a stale zshbench.egg-info in the "
            "working directory shadows the installed one under python -m pytest)"
        )


@pytest.fixture
def spy(monkeypatch, registered):
    """Records what RAZH's fit receives and loads, and what its encode returns."""
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    seen = {"in_fit": False, "fit_loaded": set(), "codes": [], "fits": 0}
    fit, encode = RAZH.fit, RAZH.encode
    load_many, load_stack = ArrayImageSource.load_many, ArrayImageSource.load_stack

    def spy_fit(self, data, context):
        seen.update(method=self, data=data, context=context, in_fit=True)
        seen["fits"] += 1
        try:
            return fit(self, data, context)
        finally:
            seen["in_fit"] = False

    def spy_encode(self, images, context):
        codes = encode(self, images, context)
        if not seen["in_fit"]:
            seen["codes"].append(codes)
        return codes

    def remember(indices):
        if seen["in_fit"]:
            seen["fit_loaded"].update(int(i) for i in np.asarray(indices).ravel())

    def spy_load_many(self, indices):
        remember(indices)
        return load_many(self, indices)

    def spy_load_stack(self, indices):
        remember(indices)
        return load_stack(self, indices)

    monkeypatch.setattr(RAZH, "fit", spy_fit)
    monkeypatch.setattr(RAZH, "encode", spy_encode)
    monkeypatch.setattr(ArrayImageSource, "load_many", spy_load_many)
    monkeypatch.setattr(ArrayImageSource, "load_stack", spy_load_stack)
    return seen


def request(tmp_path, method: str = "razh", **given) -> runner.RunRequest:
    return runner.RunRequest(
        method=method,
        dataset="digits",
        bits=[16],
        seeds=[0],
        device="cpu",
        results_dir=tmp_path,
        encoder="hashing",
        options={**TINY, **given},
    )


def run(tmp_path, method: str = "razh", progress: Progress | None = None, **given):
    paths = runner.run(request(tmp_path, method, **given), progress)
    assert len(paths) == 1 and paths[0].is_file()
    return paths[0], json.loads(paths[0].read_text())


@pytest.mark.parametrize("method", VARIANTS)
def test_end_to_end_on_digits(tmp_path, spy, method):
    # checkpoint selection keeps the validated network, so its validation mAP can be re-measured
    extra = {"finetune_epochs": 1} if method == "razh-f" else {}
    path, record = run(tmp_path, method, selection="checkpoint", **extra)
    assert record["method"] == method and record["bits"] == 16
    assert [p for p, _ in iter_records(tmp_path)] == [path]
    assert any(key.startswith("map@") for key in record["metrics"])
    assert record["encoder"] == "hashing"

    # the method's own codes: ±1, one row per query / database image, 16 bits
    query_codes, db_codes = spy["codes"]
    assert query_codes.shape == (QUERIES, 16) and db_codes.shape == (DATABASE, 16)
    for codes in (query_codes, db_codes):
        assert set(np.unique(codes).tolist()) == {-1, 1}

    training = record["config"]["training"]
    assert training["selection"] == "checkpoint"
    assert training["best_epoch"] == 1 and training["epochs_run"] == 1
    assert training["world_size"] == 1
    assert training["finetune_epochs"] == (1 if method == "razh-f" else 0)
    assert 0.0 <= training["train_accuracy"] <= 1.0
    assert training["train_accuracy_by"] == "classifier on h"
    assert training["weights_supervision"] == "none"
    phases = record["timings"]["fit_phases"]
    assert set(phases) == {"warmup_s", "training_s", "validation_s"}
    assert all(value >= 0 for value in phases.values()) and phases["validation_s"] > 0
    resolved = record["config"]["resolved"]
    assert (resolved["img_size"], resolved["patch_size"]) == (8, 2)

    # the validation curve is the seen-class validation task's mAP of the kept network ...
    method_object, data, context = spy["method"], spy["data"], spy["context"]
    assert training["validation_curve"] == [[1, training["best_validation_map"]]]
    again = data.validation.evaluate(lambda view: method_object.encode(view, context))
    assert again == pytest.approx(training["best_validation_map"], abs=1e-12)
    # ... and fit loaded training and validation images but never a query image
    views, _ = runner.prepare_split(request(tmp_path, method), Progress())
    loaded = spy["fit_loaded"]
    assert set(views.train.tolist()) <= loaded
    assert set(views.val_query.tolist()) <= loaded and set(views.val_database.tolist()) <= loaded
    assert loaded.isdisjoint(views.query.tolist())
    assert not set(views.query.tolist()) & set(views.val_database.tolist())  # sanity

    net = method_object.network_
    losses = training["final_losses"]
    assert np.isfinite(list(losses.values())).all()
    if method in ("razh", "razh-c", "razh-t", "razh-f"):
        assert net.aem is not None and {"hal", "replaced"} <= set(losses)
        # the share of patches Eq. 3 replaced, per epoch and overall
        assert all("replaced" in epoch for epoch in training["history"]["final"])
        assert 0.0 < training["replaced_fraction"] < 1.0
        assert net.clustering is (method != "razh-c")
    if method == "razh-t":  # class names are the attributes, one per class
        seen_names = [c.replace("_", " ") for c in data.class_names]
        assert method_object.attribute_texts_ == seen_names
        assert net.aem.class_attributes.tolist() == np.eye(8, dtype=bool).tolist()
    if method == "razh":
        assert method_object.attribute_texts_ == data.attribute_names
    if method == "razh-a":
        assert net.aem is None and net.mixing is None and "hal" not in losses
    if method == "razh-d":
        assert net.aem is None and net.mixing == "random" and "hal" in losses


@pytest.fixture
def train_calls(monkeypatch):
    """Every call of the engine's train that RAZH's fit makes: (label, images, validated),
    both RAZH's own stages (fine-tuning, warm-up) and the engine's training phases."""
    calls = []
    real = deep_method.train

    def spy_train(objective, images, labels, *args, validate=None, label="train", **kwargs):
        calls.append((label, len(images), validate is not None))
        return real(objective, images, labels, *args, validate=validate, label=label, **kwargs)

    monkeypatch.setattr(deep_method, "train", spy_train)
    monkeypatch.setattr(razh_method, "train", spy_train)
    return calls


@pytest.mark.slow
def test_selection_retrain_is_the_default_and_trains_twice(tmp_path, spy, train_calls):
    _, record = run(tmp_path, epochs=2)
    training = record["config"]["training"]
    assert training["selection"] == "retrain"
    assert training["best_epoch"] in (1, 2) and len(training["validation_curve"]) == 2
    # two selection epochs + as many retraining epochs as the chosen epoch
    assert training["epochs_run"] == 2 + training["best_epoch"]
    assert training["final_epochs"] == training["best_epoch"]
    assert [(images, validated) for _, images, validated in train_calls] == [
        (FIT_IMAGES, True),  # seen classes minus the validation classes, validated
        (TRAIN_IMAGES, False),  # then all seen classes for the chosen number of epochs
    ]
    # the shipped network saw every seen class: its training accuracy is over all 400 images
    assert len(spy["method"].network_.classifier.weight) == 8


@pytest.mark.slow
def test_retrain_follows_the_schedule_the_epoch_was_chosen_under(tmp_path, spy, monkeypatch):
    """Retraining stops at the chosen epoch of the *same* learning-rate schedule (cosine over
    the full epoch budget), so the chosen epoch means the same thing in both phases."""
    settings = []
    real = deep_method.train

    def spy_train(objective, images, labels, normalizer, run_settings, *args, **kwargs):
        settings.append(run_settings)
        return real(objective, images, labels, normalizer, run_settings, *args, **kwargs)

    monkeypatch.setattr(deep_method, "train", spy_train)
    monkeypatch.setattr(razh_method, "train", spy_train)
    _, record = run(tmp_path, epochs=3, patience=1)
    first, second = settings
    best = record["config"]["training"]["best_epoch"]
    assert (first.epochs, first.schedule_epochs) == (3, None)
    assert (second.epochs, second.schedule_epochs) == (best, 3)


def test_selection_none_trains_on_all_seen_images(tmp_path, spy, train_calls):
    views, _ = runner.prepare_split(request(tmp_path), Progress())
    _, record = run(tmp_path, selection="none")
    training = record["config"]["training"]
    assert training["selection"] == "none" and training["epochs_run"] == 1
    assert training["best_epoch"] == 1 and training["best_validation_map"] is None
    assert training["validation_curve"] == []
    assert [(images, validated) for _, images, validated in train_calls] == [(TRAIN_IMAGES, False)]
    assert spy["fit_loaded"].isdisjoint(views.val_query.tolist())  # no validation needed


def test_pretrain_epochs_run_a_reconstruction_warm_up(tmp_path, spy, train_calls):
    _, record = run(tmp_path, selection="none", pretrain_epochs=1)
    assert [label for label, _, _ in train_calls] == [
        "reconstruction warm-up before train (all seen classes)",
        "train (all seen classes)",
    ]
    assert record["config"]["pretrain_epochs"] == 1
    assert record["config"]["training"]["pretrain_epochs"] == 1
    assert record["timings"]["fit_phases"]["warmup_s"] > 0


@pytest.mark.slow
def test_diagnostics_write_a_png_listed_in_the_record(tmp_path, spy):
    progress = Recorder()
    path, record = run(tmp_path, "razh", progress=progress, diagnostics=2)
    picture = path.with_name(path.stem + "-files") / "attribute-matches.png"
    assert picture.is_file() and picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert record["artifacts"] == ["attribute-matches.png"]
    assert any("diagnostics written" in line for line in progress.lines)


@pytest.mark.slow
def test_diagnostics_for_razh_c(tmp_path, spy):
    path, record = run(tmp_path, "razh-c", diagnostics=1)
    assert record["artifacts"] == ["attribute-matches.png"]


@pytest.mark.parametrize("method", ["razh-a", "razh-d"])
def test_diagnostics_without_attribute_module_are_skipped(tmp_path, spy, method):
    progress = Recorder()
    path, record = run(tmp_path, method, progress=progress, diagnostics=2)
    assert record["artifacts"] == []  # schema 2 always lists them: none
    assert any("diagnostics" in line and "skip" in line for line in progress.lines)


@pytest.mark.parametrize(
    "given, words",
    [
        ({"losses": "cls+h+rek"}, ["losses", "cls, h, rec"]),
        ({"losses": ""}, ["losses"]),
        ({"mask_ratio": 1.0}, ["mask_ratio", "[0, 0.95]"]),
        ({"scale": "huge"}, ["scale", "cpu", "paper"]),
        ({"selection": "x"}, ["selection", "checkpoint", "retrain", "none"]),
        ({"threshold": 0.1, "replace_ratio": 0.5}, ["threshold or replace_ratio"]),
        ({"replace_ratio": 1.5}, ["replace_ratio", "[0, 1]"]),
        ({"hash_input": "half"}, ["hash_input", "masked", "full"]),
        ({"augment": "warp"}, ["augment", "crop"]),
        ({"epochs": 0}, ["epochs", "whole number ≥ 1"]),
        ({"epochs": True}, ["epochs", "whole number"]),
        ({"epochs": 2.7}, ["epochs", "whole number"]),
        ({"mask_ratio": "half"}, ["mask_ratio", "number"]),
        ({"selection_window": 2}, ["selection_window", "odd"]),
        ({"weights": "w.pth", "pretrained": True}, ["not both"]),
        ({"epoch": 3}, ["no option epoch"]),
    ],
)
def test_bad_options_are_one_line_errors(given, words):
    with pytest.raises(ZshbenchError) as info:
        RAZH(16, **given)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_bad_option_fails_before_any_data_is_loaded(tmp_path, spy):
    with pytest.raises(ZshbenchError, match="losses"):
        runner.run(request(tmp_path, "razh-c", losses="cls+x"))
    assert spy["fits"] == 0 and list(iter_records(tmp_path)) == []


@pytest.mark.parametrize("cause", ["lr", "nan-loss"])
def test_diverging_loss_is_a_training_error_and_writes_no_record(tmp_path, spy, monkeypatch, cause):
    given = {"selection": "none"}
    if cause == "lr":
        given["lr"] = 1e30
    else:
        from plugins.razh import objective

        monkeypatch.setattr(
            objective, "classification_loss", lambda logits, labels: logits.sum() * float("nan")
        )
    with pytest.raises(TrainingError) as info:
        runner.run(request(tmp_path, **given))
    message = str(info.value)
    assert "\n" not in message
    assert "the loss became nan" in message and "Lower the learning rate" in message
    assert list(iter_records(tmp_path)) == []
    assert not list(tmp_path.rglob("bits16-seed0.json"))


@pytest.fixture
def finetunes(monkeypatch):
    """RAZH-F's fine-tuning runs: (images, classes, whether the encoder's weights moved)."""
    seen = []
    real = razh_method.train

    def spy_train(objective, images, *args, label="train", **kwargs):
        if not label.startswith("class-supervised fine-tuning"):
            return real(objective, images, *args, label=label, **kwargs)
        net = objective.network
        before = net.encoder.blocks[0].attn.qkv.weight.detach().clone()
        result = real(objective, images, *args, label=label, **kwargs)
        after = net.encoder.blocks[0].attn.qkv.weight.detach()
        seen.append((len(images), objective.head.out_features, not torch.equal(before, after)))
        return result

    monkeypatch.setattr(razh_method, "train", spy_train)
    return seen


def test_razh_f_fine_tunes_the_encoder_first(tmp_path, spy, finetunes):
    _, record = run(tmp_path, "razh-f", finetune_epochs=1, selection="none")
    assert record["config"]["training"]["finetune_epochs"] == 1
    assert finetunes == [(TRAIN_IMAGES, 8, True)]  # all seen images, 8 classes, weights moved
    assert record["config"]["training"]["history"]["final"]  # then RAZH's own training


@pytest.mark.slow
def test_razh_f_fine_tunes_every_network_on_the_images_it_trains_on(tmp_path, spy, finetunes):
    """Selecting the epoch, the held-out validation classes are never seen with their labels;
    the retrained network is fine-tuned too, on all seen classes."""
    run(tmp_path / "checkpoint", "razh-f", finetune_epochs=1, selection="checkpoint")
    assert [images for images, _, _ in finetunes] == [FIT_IMAGES]
    finetunes.clear()
    run(tmp_path / "retrain", "razh-f", finetune_epochs=1)
    assert [images for images, _, _ in finetunes] == [FIT_IMAGES, TRAIN_IMAGES]


def test_razh_f_fine_tunes_by_default_at_cpu_scale():
    settings = razh_method.RAZHFineTuned(16).resolve_settings(_digits_train_data())
    assert settings["finetune_epochs"] == razh_method.RAZHFineTuned.CPU_FINETUNE_EPOCHS > 0
    assert RAZH(16).resolve_settings(_digits_train_data())["finetune_epochs"] == 0


def _digits_train_data() -> TrainData:
    views, _ = runner.prepare_split(
        runner.RunRequest(method="razh", dataset="digits", bits=[16]),
        Progress(),
        write_manifest=False,
    )
    return views.train_data(5000)


@pytest.mark.slow
def test_record_has_a_log_file_with_the_epoch_figures(tmp_path, spy):
    path, record = run(tmp_path, epochs=2, selection="none")
    log = path.with_suffix(".log")
    assert record["log_file"] == log.name and log.is_file()
    text = log.read_text()
    assert "train (all seen classes) epoch 1/2" in text and "epoch 2/2" in text
    assert "cls=" in text and "replaced=" in text


# --------------------------------------------------------------------------- which α/β, and why


def test_a_data_set_file_says_which_paper_row_its_loss_weights_follow(tmp_path):
    """A user's 100-class CUB subset named ``cub100``: without paper_family it used to get
    α = β = 1 silently; with ``paper_family = "cub"`` it takes Table VIII's CUB row."""
    from zshbench.datasets.spec_file import spec_from_toml

    cub_24 = (1.0, 0.5)  # Table VIII, CUB, 24 bits (paper_alpha_beta.csv)
    family = razh_config.resolve(options(), "cub100", 24, native_size=64, family="cub")
    assert (family["alpha"], family["beta"]) == cub_24
    assert "paper_family" in family["alpha_beta_source"]
    silent = razh_config.resolve(options(), "cub100", 24, native_size=64)
    assert (silent["alpha"], silent["beta"]) == (1.0, 1.0)
    assert "paper_family" in silent["alpha_beta_source"]  # says how to choose a row
    inferred = razh_config.resolve(options(), "cub-mini64", 24, native_size=64)
    assert (inferred["alpha"], inferred["beta"]) == cub_24
    assert "inferred" in inferred["alpha_beta_source"]
    given = razh_config.resolve(options(alpha=0.3), "cub100", 24, native_size=64, family="cub")
    assert (given["alpha"], given["beta"]) == (0.3, 0.5)
    assert given["alpha_beta_source"].startswith("alpha given")

    text = tmp_path / "mine.toml"
    body = (
        'name = "cub100"\ntitle = "t"\nloader = "cub"\nnum_classes = 4\npaper_family = "{}"\n'
        "[protocol]\nnum_seen = 3\nnum_unseen = 1\ntrain_per_seen_class = 1\n"
        "query_per_unseen_class = 1\n"
    )
    text.write_text(body.format("cub"))
    assert spec_from_toml(text).paper_family == "cub"
    text.write_text(body.format("../cub"))
    with pytest.raises(DatasetError, match="paper_family") as info:
        spec_from_toml(text)
    assert "\n" not in str(info.value)


def test_cls_h_skips_the_reconstruction_warm_up_and_its_log_names_the_variant(
    tmp_path, spy, train_calls
):
    """Table IV's cls+h is the same-encoder baseline without reconstruction: no warm-up whose
    only objective is reconstruction, and its log lines say razh[losses=cls+h], not razh."""
    assert razh_config.resolve(options(), "digits", 16, 8)["pretrain_epochs"] == 5
    skipped = razh_config.resolve(options(losses="cls+h"), "digits", 16, 8)
    assert skipped["pretrain_epochs"] == 0 and "reconstruction" in skipped["pretrain_epochs_source"]
    asked = razh_config.resolve(options(losses="cls+h", pretrain_epochs=2), "digits", 16, 8)
    assert asked["pretrain_epochs"] == 2 and asked["pretrain_epochs_source"] == "given"

    progress = Recorder()
    _, record = run(
        tmp_path, progress=progress, selection="none", losses="cls+h", pretrain_epochs=None
    )
    assert [label for label, _, _ in train_calls] == ["train (all seen classes)"]
    assert record["config"]["training"]["pretrain_epochs"] == 0
    assert record["config"]["resolved"]["alpha_beta_source"].startswith("chosen on digits")
    named = [line for line in progress.lines if "16 bits:" in line]  # the method's own lines
    assert named and all(line.startswith("razh[losses=cls+h] ") for line in named)


def test_paper_scale_follows_the_authors_code_where_cpu_scale_keeps_its_measured_choices():
    paper = razh_config.resolve(options(scale="paper"), "cub", 24, native_size=None)
    assert paper["warmup_epochs"] == 0.0  # the authors warm up none
    assert paper["decoder_pos_embed"] == "sincos" and paper["aux_hash_loss"] is True
    cpu = razh_config.resolve(options(), "cub-mini64", 24, native_size=64)
    assert cpu["decoder_pos_embed"] == "learned" and cpu["aux_hash_loss"] is False
