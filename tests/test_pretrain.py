"""``zshbench pretrain`` (zshbench/pretraining.py, plugins/pretrain): MAE on an image folder.

* the MAE loss against a hand computation (masked patches only, norm-pix targets), the
  masking, the pixel-space masking that keeps masked pixels out of the visible tokens, the
  fixed sin-cos decoder positions, the patch order;
* the probes: weighted k-NN by hand and on a separable toy set, the linear probe;
* end to end on a tiny image folder in Tiny-ImageNet's and ImageNet's layouts: weights with the
  CPU-scale encoder's exact keys (loaded back through ``weights=``, and by RAZH on digits), the
  pretrained_cfg and the provenance; an interrupted run keeps its last complete checkpoint,
  writes no weights and, resumed, ends exactly where the uninterrupted run ends;
* bad input: a missing folder, an unknown class list, a class that is not a folder.
"""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")
pytest.importorskip("safetensors")

from PIL import Image  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from plugins.deep.backbones import build_backbone  # noqa: E402
from plugins.pretrain import trainer  # noqa: E402
from plugins.pretrain.mae import (  # noqa: E402
    MAE,
    encode_visible,
    masked_patch_loss,
    patchify,
    sincos_positions,
)
from plugins.pretrain.probes import knn_accuracy, linear_probe_accuracy  # noqa: E402
from zshbench.cli import main  # noqa: E402
from zshbench.errors import ZshbenchError  # noqa: E402
from zshbench.method import Progress  # noqa: E402
from zshbench.pretraining import PretrainRequest  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# The CPU-scale encoder RAZH builds on digits (8 px, 2 px patches) with tests/razh_tiny.py's
# width and depth, and the smallest decoder.
TINY = {
    "img_size": 8, "patch_size": 2, "embed_dim": 16, "depth": 1, "num_heads": 2,
    "decoder_dim": 8, "decoder_depth": 1, "batch_size": 8, "warmup_epochs": 0.5,
    "bn_images": 16,
}  # fmt: skip
CLASSES = ["n0001", "n0002", "n0003"]


def write_folder(root, layout: str = "tiny", per_class: int = 10, val_per_class: int = 3):
    """A tiny image folder: class c's images are noise around gray level 60·c + 30."""
    rng = np.random.default_rng(0)
    annotations = []

    def image(c: int) -> Image.Image:
        pixels = rng.integers(0, 40, (16, 16, 3)) + 60 * c + 10
        return Image.fromarray(pixels.astype(np.uint8))

    for c, name in enumerate(CLASSES):
        folder = root / "train" / name / ("images" if layout == "tiny" else "")
        folder.mkdir(parents=True)
        for i in range(per_class):
            image(c).save(folder / f"{name}_{i}.{'JPEG' if layout == 'tiny' else 'jpg'}")
        for i in range(val_per_class):
            if layout == "tiny":
                (root / "val" / "images").mkdir(parents=True, exist_ok=True)
                file = f"val_{c}_{i}.JPEG"
                image(c).save(root / "val" / "images" / file)
                annotations.append(f"{file}\t{name}\t0\t0\t15\t15")
            else:
                (root / "val" / name).mkdir(parents=True, exist_ok=True)
                image(c).save(root / "val" / name / f"{i}.jpg")
    if layout == "tiny":
        (root / "val" / "val_annotations.txt").write_text("\n".join(annotations) + "\n")
    return root


def request(tmp_path, out_name="w.safetensors", **given) -> PretrainRequest:
    classes = tmp_path / "classes.txt"
    if not classes.exists():
        classes.write_text("n0001\nn0003\n")
    fields = {"data": tmp_path / "data", "classes": classes, "out": tmp_path / "out" / out_name,
              "epochs": 2, "device": "cpu", "options": dict(TINY)}  # fmt: skip
    fields.update(given)
    return PretrainRequest(**fields)


# --------------------------------------------------------------------------- the objective


def test_mae_loss_counts_masked_patches_only_against_a_hand_computation():
    prediction = torch.zeros(1, 2, 3)
    target = torch.tensor([[[1.0, 2.0, 3.0], [5.0, 5.0, 8.0]]])
    masked = torch.tensor([[True, False]])
    # raw pixels: only patch 0 counts, (1² + 2² + 3²) / 3
    assert float(masked_patch_loss(prediction, target, masked, norm_pix=False)) == pytest.approx(
        14 / 3
    )
    # norm-pix: patch 0 → (x − 2) / sqrt(1 + 1e-6) (mean 2, unbiased variance 1)
    assert float(masked_patch_loss(prediction, target, masked)) == pytest.approx(
        (2 / 3) / (1 + 1e-6), rel=1e-6
    )
    # both patches masked: patch 1 (mean 6, variance 3) → (−1, −1, 2)/sqrt(3): mean square 2/3
    both = torch.tensor([[True, True]])
    assert float(masked_patch_loss(prediction, target, both)) == pytest.approx(
        ((2 / 3) / (1 + 1e-6) + (2 / 3) * 3 / (3 + 1e-6)) / 2, rel=1e-6
    )


def test_patchify_order_is_row_major_patches_of_row_col_channel_pixels():
    image = torch.arange(2 * 4 * 4, dtype=torch.float32).view(1, 2, 4, 4)  # C=2, 4×4
    patches = patchify(image, 2)
    assert patches.shape == (1, 4, 8)
    # patch 1: rows 0-1, columns 2-3; pixel (0, 2) of channel 0 is 2, of channel 1 is 18
    assert patches[0, 1].tolist() == [2, 18, 3, 19, 6, 22, 7, 23]


def test_sincos_positions_by_hand():
    positions = sincos_positions(2, 4)[0]  # one frequency (1): rows, then columns
    assert positions[0].tolist() == [0.0, 1.0, 0.0, 1.0]
    assert positions[1].tolist() == pytest.approx([0.0, 1.0, math.sin(1), math.cos(1)])
    assert positions[2].tolist() == pytest.approx([math.sin(1), math.cos(1), 0.0, 1.0])


def mae_model(stem: str = "conv") -> MAE:
    torch.manual_seed(0)
    encoder, _, _ = trainer.build_encoder(
        trainer.resolve_settings(PretrainRequest(None, None, None, options={**TINY, "stem": stem}))
    )
    return MAE(encoder, 0.75, decoder_dim=8, decoder_depth=1)


def test_masking_keeps_a_quarter_and_the_pixel_mask_hides_exactly_the_masked_patches():
    model = mae_model()
    keep, masked = model.random_masking(5, torch.Generator().manual_seed(1))
    assert keep.shape == (5, 4) and masked.sum(1).tolist() == [12] * 5  # 16 patches, 75 %
    assert all(not masked[i, keep[i]].any() for i in range(5))
    pixels = model.pixel_mask(masked, 8)
    back = patchify(pixels.expand(-1, 3, -1, -1), 2)  # (B, 16, 12)
    assert torch.equal(back.amin(-1) == 0, masked) and torch.equal(back.amax(-1) == 1, ~masked)


@pytest.mark.parametrize("stem", ["conv", "patch"])
def test_masked_pixels_do_not_reach_the_visible_tokens(stem):
    """Pixel-space masking: changing the masked patches changes no encoder output, although
    the conv stem's receptive field spans neighbouring patches."""
    model = mae_model(stem).eval()
    keep, masked = model.random_masking(2, torch.Generator().manual_seed(3))
    images = torch.randn(2, 3, 8, 8)
    other = torch.where(model.pixel_mask(masked, 8).bool(), images, torch.randn(2, 3, 8, 8))

    def visible_output(x):
        hidden = x * model.pixel_mask(masked, 8)
        return encode_visible(model.encoder, model.encoder.patch_embed(hidden), keep)

    assert torch.allclose(visible_output(images), visible_output(other), atol=1e-6)
    if stem == "conv":  # without the pixel mask the masked content leaks in
        leaked = [
            encode_visible(model.encoder, model.encoder.patch_embed(x), keep)
            for x in (images, other)
        ]
        assert not torch.allclose(*leaked, atol=1e-3)


def test_encoding_all_patches_matches_the_whole_image_forward():
    model = mae_model().eval()
    images = torch.randn(2, 3, 8, 8)
    everything = torch.arange(16).expand(2, -1)
    sequence = encode_visible(model.encoder, model.encoder.patch_embed(images), everything)
    assert torch.allclose(sequence, model.encoder.forward_features(images), atol=1e-5)


# --------------------------------------------------------------------------- the probes


def test_weighted_knn_by_hand_and_on_a_separable_set():
    train = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1])
    # query close to class 1's point but k=3: two class-0 votes weigh exp(cos/T) each
    query = torch.tensor([[0.5, 0.6]])
    s = torch.nn.functional.normalize(torch.cat([train, query]), dim=1)
    sims = (s[:3] @ s[3]).tolist()
    vote0 = math.exp(sims[0] / 0.07) + math.exp(sims[1] / 0.07)
    vote1 = math.exp(sims[2] / 0.07)
    expected = 0 if vote0 > vote1 else 1
    assert knn_accuracy(train, labels, query, torch.tensor([expected]), k=3) == 1.0
    assert knn_accuracy(train, labels, query, torch.tensor([1 - expected]), k=3) == 0.0
    assert knn_accuracy(train, labels, query, torch.tensor([1]), k=1) == 1.0  # nearest: class 1
    rng = torch.Generator().manual_seed(0)
    centres = torch.eye(4) * 5
    x = centres.repeat_interleave(20, 0) + 0.3 * torch.randn(80, 4, generator=rng)
    y = torch.arange(4).repeat_interleave(20)
    assert knn_accuracy(x[::2], y[::2], x[1::2], y[1::2], k=5) == 1.0
    assert linear_probe_accuracy(x[::2], y[::2], x[1::2], y[1::2]) == 1.0
    shuffled = y[1::2][torch.randperm(40, generator=rng)]
    assert knn_accuracy(x[::2], y[::2], x[1::2], shuffled, k=5) < 0.6


# --------------------------------------------------------------------------- end to end


@pytest.mark.parametrize("layout", ["tiny", "imagenet"])
def test_pretrain_writes_weights_the_cpu_scale_encoder_loads(tmp_path, layout):
    write_folder(tmp_path / "data", layout)
    figures = trainer.pretrain(request(tmp_path), Progress())
    out = tmp_path / "out" / "w.safetensors"
    assert figures["weights"] == str(out) and figures["epochs"] == 2
    assert not (tmp_path / "out" / "w.checkpoint.pt").exists()
    state = load_file(str(out))
    settings = {"model": "vit_tiny_patch16_224", "stem": "conv", "img_size": 8,
                "patch_size": 2, "embed_dim": 16, "depth": 1, "num_heads": 2}  # fmt: skip
    fresh, mean, std = build_backbone(settings)
    assert set(state) == set(fresh.state_dict())
    loaded, _, _ = build_backbone({**settings, "weights": str(out)})
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, state[key]), key
    cfg = json.loads((tmp_path / "out" / "w.pretrained_cfg.json").read_text())
    assert cfg["mean"] == list(mean) and cfg["std"] == list(std)
    assert cfg["input_size"] == [3, 8, 8] and cfg["interpolation"] == "bicubic"
    assert cfg["supervision"] == "self-supervised" and "2 classes" in cfg["pretrained_on"]
    record = json.loads((tmp_path / "out" / "w.provenance.json").read_text())
    digest = hashlib.sha256((tmp_path / "classes.txt").read_bytes()).hexdigest()
    assert record["class_list_sha256"] == digest and record["classes"] == 2
    assert record["train_images"] == 20 and record["epochs"] == 2 and record["seed"] == 0
    assert len(record["loss_curve"]) == 2 and all(v > 0 for v in record["loss_curve"])
    assert record["weights_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    probes = record["probes"]
    assert probes["val_images"] == 6
    for name in ("pretrained", "random_init"):
        assert 0 <= probes[name]["knn_percent"] <= 100
    with pytest.raises(ZshbenchError, match="already exist"):
        trainer.pretrain(request(tmp_path), Progress())


def test_supervised_objective_is_marked_class_supervised_and_images_per_class_caps(tmp_path):
    write_folder(tmp_path / "data")
    options = {**TINY, "images_per_class": 4}
    given = {"objective": "supervised", "epochs": 1, "probe": False, "options": options}
    trainer.pretrain(request(tmp_path, **given), Progress())
    cfg = json.loads((tmp_path / "out" / "w.pretrained_cfg.json").read_text())
    assert cfg["supervision"] == "class-supervised"
    record = json.loads((tmp_path / "out" / "w.provenance.json").read_text())
    assert record["train_images"] == 8  # 4 of each of the 2 listed classes


def test_interrupted_pretrain_resumes_to_the_uninterrupted_state(tmp_path, monkeypatch):
    write_folder(tmp_path / "data")
    trainer.pretrain(request(tmp_path, "whole.safetensors", epochs=3, probe=False), Progress())
    real_epoch = trainer.train_epoch

    def interrupted(model, optimizer, split, epoch, *args):
        if epoch == 2:
            raise KeyboardInterrupt
        return real_epoch(model, optimizer, split, epoch, *args)

    monkeypatch.setattr(trainer, "train_epoch", interrupted)
    part = request(tmp_path, "part.safetensors", epochs=3, probe=False)
    with pytest.raises(KeyboardInterrupt):
        trainer.pretrain(part, Progress())
    assert not (tmp_path / "out" / "part.safetensors").exists()  # never a half-done weights file
    checkpoint = torch.load(tmp_path / "out" / "part.checkpoint.pt", weights_only=True)
    assert checkpoint["epoch"] == 2 and len(checkpoint["losses"]) == 2
    monkeypatch.setattr(trainer, "train_epoch", real_epoch)
    with pytest.raises(ZshbenchError, match="other settings"):  # a checkpoint of other settings
        trainer.pretrain(request(tmp_path, "part.safetensors", epochs=4, probe=False), Progress())
    trainer.pretrain(part, Progress())
    whole = load_file(str(tmp_path / "out" / "whole.safetensors"))
    resumed = load_file(str(tmp_path / "out" / "part.safetensors"))
    assert set(whole) == set(resumed)
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    curves = [
        json.loads((tmp_path / "out" / f"{n}.provenance.json").read_text())["loss_curve"]
        for n in ("whole", "part")
    ]
    assert curves[0] == curves[1] and len(curves[0]) == 3


@pytest.mark.slow
def test_razh_at_cpu_scale_trains_from_pretrained_weights(tmp_path):
    from razh_tiny import TINY as RAZH_TINY

    from zshbench import runner

    write_folder(tmp_path / "data")
    trainer.pretrain(request(tmp_path, epochs=1, probe=False), Progress())
    weights = tmp_path / "out" / "w.safetensors"
    paths = runner.run(runner.RunRequest(
        method="razh", dataset="digits", bits=[16], seeds=[0], device="cpu",
        results_dir=tmp_path / "results", encoder="hashing",
        options={**RAZH_TINY, "weights": str(weights)},
    ))  # fmt: skip
    record = json.loads(paths[0].read_text())
    assert record["config"]["weights"] == str(weights)
    bad = tmp_path / "out" / "bad.safetensors"
    from safetensors.torch import save_file

    save_file({"patch_embed.proj.weight": torch.zeros(1)}, str(bad))
    with pytest.raises(ZshbenchError, match="missing keys"):
        runner.run(runner.RunRequest(
            method="razh", dataset="digits", bits=[16], seeds=[0], device="cpu",
            results_dir=tmp_path / "results2", encoder="hashing",
            options={**RAZH_TINY, "weights": str(bad)},
        ))  # fmt: skip


# --------------------------------------------------------------------------- bad input


def cli_error(capsys, *args) -> str:
    with pytest.raises(SystemExit) as info:
        main(["pretrain", *args])
    assert info.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def test_bad_input_is_one_line(tmp_path, capsys):
    out = str(tmp_path / "o.safetensors")
    line = cli_error(capsys, "--data", str(tmp_path / "nowhere"), "--out", out)
    assert "not found" in line and "train/<class>/images" in line
    write_folder(tmp_path / "data")
    data = str(tmp_path / "data")
    line = cli_error(capsys, "--data", data, "--classes", str(tmp_path / "none.txt"), "--out", out)
    assert "class list" in line and "not found" in line
    (tmp_path / "odd.txt").write_text("n0001\nn9999\n")
    line = cli_error(capsys, "--data", data, "--classes", str(tmp_path / "odd.txt"), "--out", out)
    assert "n9999" in line and "Expected" in line
    line = cli_error(capsys, "--data", data, "--out", out, "-o", "mask_ratio=1.5")
    assert "mask_ratio" in line
    assert not (tmp_path / "o.safetensors").exists()
