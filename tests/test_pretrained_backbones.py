"""Pretrained backbones: files written here in timm's real format (a tiny EfficientNet CNN and a
tiny ViT as .safetensors, each with a ``<stem>.pretrained_cfg.json``), loaded through the one
loader every deep method and the timm extractor use."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
safetensors_torch = pytest.importorskip("safetensors.torch")

from plugins.deep import scales  # noqa: E402
from plugins.deep.backbones import build_backbone, weights_supervision  # noqa: E402
from plugins.features.image_extractors import TimmExtractor  # noqa: E402
from plugins.features.pretrained_cfg import weights_provenance  # noqa: E402
from zshbench.errors import ZshbenchError  # noqa: E402
from zshbench.method import RunContext  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "pretrained"
MOBILENET = SHARED / "mobilenetv2_100.coral_in1k.safetensors"
MEAN, STD = [0.25, 0.5, 0.75], [0.125, 0.25, 0.5]


def _save(model, path: Path, cfg: dict | None) -> Path:
    safetensors_torch.save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path)
    if cfg is not None:
        path.with_name(path.stem + ".pretrained_cfg.json").write_text(json.dumps(cfg))
    return path


@pytest.fixture(scope="module")
def cnn_file(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = timm.create_model("test_efficientnet", num_classes=10)
    cfg = {"mean": MEAN, "std": STD, "interpolation": "bilinear", "input_size": [3, 64, 64],
           "tag": "toy_in1k", "model_args": {}}  # fmt: skip
    return _save(model, tmp_path_factory.mktemp("cnn") / "test_efficientnet.toy.safetensors", cfg)


@pytest.fixture(scope="module")
def vit_file(tmp_path_factory) -> Path:
    torch.manual_seed(1)
    model = timm.create_model("test_vit", num_classes=0)
    cfg = {"mean": MEAN, "std": STD, "supervision": "self-supervised", "pretrained_on": "toys"}
    return _save(model, tmp_path_factory.mktemp("vit") / "test_vit.toy.safetensors", cfg)


def _settings(weights, backbone="test_efficientnet", **extra):
    options = {k: o.default for k, o in scales.ENGINE_OPTIONS.items()}
    options.update(backbone=backbone, weights=str(weights), **extra)
    return scales.resolve(options, {}, "cub-mini64", 64)


def test_hybrid_tokens_from_the_trunk_cells_and_the_files_mean_std(cnn_file):
    settings = _settings(cnn_file)
    # 64 px: the deepest level with at least a 4×4 map is stride 16 (level 3, 48 channels).
    assert (settings["img_size"], settings["trunk_level"], settings["patch_size"]) == (64, 3, 16)
    encoder, mean, std = build_backbone(settings)
    assert (mean, std) == (tuple(MEAN), tuple(STD))
    assert encoder.patch_embed.num_patches == 16
    tokens = encoder.patch_embed(torch.zeros(2, 3, 64, 64))
    assert tokens.shape == (2, 16, 64)
    # The trunk holds the file's weights.
    saved = safetensors_torch.load_file(str(cnn_file))
    trunk = encoder.patch_embed.trunk.state_dict()
    assert torch.equal(trunk["conv_stem.weight"], saved["conv_stem.weight"])
    assert torch.equal(trunk["blocks.3.0.conv_pw.weight"], saved["blocks.3.0.conv_pw.weight"])


def test_batchnorm_of_a_pretrained_trunk_stays_frozen_while_fine_tuning(cnn_file):
    encoder, _, _ = build_backbone(_settings(cnn_file))
    encoder.train()
    norms = [m for m in encoder.patch_embed.trunk.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and not any(m.training for m in norms)
    before = [m.running_mean.clone() for m in norms]
    optimizer = torch.optim.SGD(encoder.parameters(), lr=0.1)
    loss = encoder.forward_features(torch.randn(4, 3, 64, 64) * 3 + 1).square().mean()
    loss.backward()
    optimizer.step()
    assert all(torch.equal(b, m.running_mean) for b, m in zip(before, norms, strict=True))
    assert encoder.patch_embed.trunk.conv_stem.weight.grad is not None  # still fine-tuned


def test_random_trunk_keeps_training_batchnorm(cnn_file):
    options = {k: o.default for k, o in scales.ENGINE_OPTIONS.items()}
    options.update(backbone="test_efficientnet")
    encoder, _, _ = build_backbone(scales.resolve(options, {}, "cub-mini64", 64))
    encoder.train()
    assert any(
        m.training
        for m in encoder.patch_embed.trunk.modules()
        if isinstance(m, torch.nn.BatchNorm2d)
    )


def test_vit_backbone_from_a_file_with_its_cfg(vit_file):
    settings = _settings(vit_file, backbone="test_vit")
    assert settings["model"] == "test_vit" and settings["patch_size"] == 16
    encoder, mean, std = build_backbone(settings)
    assert (mean, std) == (tuple(MEAN), tuple(STD))
    saved = safetensors_torch.load_file(str(vit_file))
    assert torch.equal(
        encoder.state_dict()["blocks.0.attn.qkv.weight"], saved["blocks.0.attn.qkv.weight"]
    )
    assert weights_supervision(settings) == "self-supervised"


def test_provenance_sha256_cfg_and_overlap(cnn_file, vit_file):
    block = weights_provenance(
        "test_efficientnet", "cub-mini64", str(cnn_file), resolved_cfg={"mean": MEAN}
    )
    assert block["sha256"] == hashlib.sha256(cnn_file.read_bytes()).hexdigest()
    assert block["pretrained_cfg"] == {"mean": MEAN}
    assert block["pretrained_on"] == "ImageNet-1k"  # the tag's in1k
    assert block["supervision"] == "class-supervised"
    assert block["pretraining_overlaps_unseen"] is True  # ImageNet labels vs CUB
    ssl = weights_provenance("test_vit", "cub-mini64", str(vit_file))
    assert (ssl["pretrained_on"], ssl["pretraining_overlaps_unseen"]) == ("toys", False)
    assert weights_provenance("x", "cub", None) is None


def test_class_supervised_file_is_refused_by_razh_and_taken_by_razh_f(cnn_file):
    from plugins.razh.method import RAZH, RAZHFineTuned

    settings = _settings(cnn_file)
    assert weights_supervision(settings) == "class-supervised"
    with pytest.raises(ZshbenchError, match="razh-f"):
        RAZH(24)._check_supervision(settings)
    warnings = RAZHFineTuned(24)._check_supervision(settings)
    assert any("ImageNet class labels" in w for w in warnings)


def test_a_zero_shot_baseline_refuses_them_naming_the_backbone_given(cnn_file):
    """SitNet and PIXEL have no class-supervised variant: the refusal names the backbone the
    user gave (not the scale's default ViT) and offers no razh-f."""
    from plugins.deephash.sitnet import SitNet
    from plugins.pixel.method import PIXEL

    for method in (SitNet(24), PIXEL(24)):
        with pytest.raises(ZshbenchError) as error:
            method._check_supervision(_settings(cnn_file))
        text = str(error.value)
        assert "'test_efficientnet' carries weights trained on ImageNet class labels" in text
        assert "razh-f" not in text and "zshbench pretrain" in text


def test_wrong_architecture_is_one_line_with_key_counts(vit_file):
    settings = _settings(vit_file)  # a ViT's file for an EfficientNet trunk
    with pytest.raises(ZshbenchError) as error:
        build_backbone(settings)
    text = str(error.value)
    expected_missing = len(timm.create_model("test_efficientnet", num_classes=0).state_dict())
    unexpected = len(safetensors_torch.load_file(str(vit_file)))
    assert "\n" not in text.split("\n")[0] and text.count("\n") <= 1
    assert f"{expected_missing} missing keys" in text
    assert f"{unexpected} unexpected keys" in text
    assert "conv_stem.weight" in text


def test_malformed_cfg_is_one_line(tmp_path, cnn_file):
    copy = tmp_path / "net.safetensors"
    copy.write_bytes(cnn_file.read_bytes())
    cfg = tmp_path / "net.pretrained_cfg.json"
    for text, words in (
        ('{"mean": [0.5, 0.5', "not valid JSON"),
        ('{"std": [0.5, 0, 0.5]}', "std must be 3 positive numbers"),
        ("[1, 2]", "not an object"),
    ):
        cfg.write_text(text)
        with pytest.raises(ZshbenchError, match=words) as error:
            build_backbone(_settings(copy))
        assert "\n" not in error.value.message


def test_timm_extractor_normalises_with_the_files_mean_std(cnn_file):
    extractor = TimmExtractor(model="test_efficientnet", weights=str(cnn_file), image_size=8)
    model = extractor.build(RunContext())
    value = np.full((8, 8, 3), 51, np.uint8)  # 0.2 after scaling
    inputs = extractor.preprocess([value], model)
    expected = [(0.2 - m) / s for m, s in zip(MEAN, STD, strict=True)]
    np.testing.assert_allclose(inputs[0, :, 0, 0], expected, rtol=1e-5)
    block = extractor.provenance("digits")
    assert block["sha256"] == hashlib.sha256(cnn_file.read_bytes()).hexdigest()
    assert block["pretrained_cfg"]["mean"] == MEAN
    assert block["pretraining_overlaps_unseen"] is None  # digits: ImageNet overlap unknown


@pytest.mark.skipif(not MOBILENET.is_file(), reason="../shared/data/pretrained is absent")
def test_shared_mobilenetv2_through_both_paths():
    extractor = TimmExtractor(
        model="mobilenetv2_100", weights=str(MOBILENET), model_kwargs={"pad_type": "same"},
        image_size=64,
    )  # fmt: skip
    inputs = extractor.preprocess(
        [np.full((4, 4, 3), 255, np.uint8)], extractor.build(RunContext())
    )
    np.testing.assert_allclose(inputs, 1.0)  # (1 − 0.5) / 0.5, not ImageNet's mean/std
    settings = _settings(MOBILENET, backbone="mobilenetv2_100", model_args={"pad_type": "same"})
    encoder, mean, std = build_backbone(settings)
    assert (mean, std) == ((0.5,) * 3, (0.5,) * 3) and encoder.patch_embed.num_patches == 16


def test_pretrained_features_are_reused_only_for_the_same_pixels(cnn_file, monkeypatch):
    from plugins.features import image_extractors
    from zshbench.datasets.base import ArrayImageSource
    from zshbench.method import ImageView

    calls = []
    original = TimmExtractor._transform

    def counted(self, images, context):
        calls.append(len(images))
        return original(self, images, context)

    monkeypatch.setattr(TimmExtractor, "_transform", counted)
    monkeypatch.setattr(image_extractors, "_FEATURE_MEMO", {})
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (3, 8, 8, 3), dtype=np.uint8)
    view = ImageView(ArrayImageSource(pixels), np.arange(3))
    options = {"model": "test_efficientnet", "weights": str(cnn_file), "image_size": 8}
    first = TimmExtractor(**options).transform(view, RunContext())
    second = TimmExtractor(**options)
    again = second.transform(view, RunContext(seed=5))
    np.testing.assert_array_equal(first, again)
    assert second.provenance("cub")["sha256"]  # a served extractor still says what it used
    other = pixels.copy()
    other[0, 0, 0, 0] ^= 1
    TimmExtractor(**options).transform(
        ImageView(ArrayImageSource(other), np.arange(3)), RunContext()
    )
    assert calls == [3, 3]  # the second call was served, the changed pixel was not


def test_timm_extractor_rebuilds_a_conv_stem_vit_from_zshbench_pretrain(tmp_path):
    """A `zshbench pretrain` file (conv stem, 32 px) feeds the linear methods: the extractor
    rebuilds the same network, so its output equals the saved encoder's on the same input."""
    from plugins.features.conv_stem import ConvStem

    options = {k: o.default for k, o in scales.ENGINE_OPTIONS.items()}
    torch.manual_seed(3)
    encoder, _, _ = build_backbone(scales.resolve(options, {}, "cub-mini64", 64))
    grid = encoder.patch_embed.grid_size[0]
    side = grid * encoder.patch_embed.patch_size[0]
    cfg = {"architecture": "vit_tiny_patch16_224", "input_size": [3, side, side],
           "mean": MEAN, "std": STD, "supervision": "self-supervised",
           "model_args": {"patch_size": encoder.patch_embed.patch_size[0],
                          "embed_dim": encoder.embed_dim, "depth": len(encoder.blocks),
                          "num_heads": encoder.blocks[0].attn.num_heads},
           "zshbench_stem": "conv"}  # fmt: skip
    path = _save(encoder, tmp_path / "vit-cpu-mae.safetensors", cfg)
    extractor = TimmExtractor(model="vit_tiny_patch16_224", weights=str(path))
    model = extractor.build(RunContext())
    assert isinstance(model.patch_embed, ConvStem)
    encoder.eval()
    x = torch.randn(2, 3, side, side)
    with torch.no_grad():
        expected = encoder.forward_head(encoder.forward_features(x), pre_logits=True)
        got = model.forward_head(model.forward_features(x), pre_logits=True)
    torch.testing.assert_close(got, expected)
    assert tuple(extractor.options["model_kwargs"]) == ()  # nothing the user had to give
