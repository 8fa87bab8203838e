"""DRMH: its weighted pair and quantisation losses by hand, the mutation of its hard-pair weight,
masked self-attention, the detector's weights (refused without them, read with weights_only),
regions detected once per image, learning with a small saved detector, and digits end to end.

The detector is a Faster R-CNN assembled from torchvision's parts on a MobileNetV3-small FPN
backbone with a 32-wide box head, random weights, saved to a temporary file: a real detector
file's layout at a size that runs in seconds.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

torch = pytest.importorskip("torch")

from deephash_fixture import (  # noqa: E402
    EASY_TRAINING,
    check_record,
    easy_set,
    lsh_map,
    run_on_digits,
)

from plugins.deephash import detector as detection  # noqa: E402
from plugins.deephash import drmh  # noqa: E402
from zshbench.errors import ZshbenchError  # noqa: E402
from zshbench.method import RunContext  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# few regions and proposals: the detector's cost is per box (RoIAlign on 256 channels)
SMALL = {"detector": "fasterrcnn", "detector_backbone": "mobilenet_v3_small", "regions": 3,
         "proposals": 5, "detector_size": 32}  # fmt: skip


@pytest.fixture(scope="module")
def detector_file(tmp_path_factory):
    torch.manual_seed(0)
    model = detection.compose_faster_rcnn("mobilenet_v3_small", num_classes=3, representation=32)
    path = tmp_path_factory.mktemp("detector") / "small-detector.pt"
    torch.save(model.state_dict(), path)
    return path


def test_weighted_pair_loss_by_hand_and_its_hard_pair_weight_matters():
    h = torch.tensor([[1.0, 0.0], [0.6, 0.8], [-1.0, 0.0]])
    s = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    # pair (1,2): h1ᵀh2 = 0.6 = cos, w = |1 − 0.8| = 0.2, term 0.2·((0.6 + 2)/2 − 2)² = 0.098
    # pair (1,3): h1ᵀh3 = −1 = cos, w = |0 − 0| = 0 (already right), term 0
    # pair (2,3): h2ᵀh3 = −0.6 = cos, w = |0 − 0.2| = 0.2, term 0.2·((−0.6 + 2)/2)² = 0.098
    expected = 2 * (0.098 + 0.0 + 0.098) / 6
    assert float(drmh.weighted_pair_loss(h, s)) == pytest.approx(expected)
    # mutation of the key term: every pair weighted 1 (no hard-pair weighting) is caught:
    # 2·(0.49 + 0.25 + 0.49) / 6
    unweighted = 2 * (0.49 + 0.25 + 0.49) / 6
    assert unweighted != pytest.approx(expected)
    bits = 2
    terms = ((h @ h.T + bits) / 2 - s * bits).pow(2)
    off = ~torch.eye(3, dtype=torch.bool)
    assert float(terms[off].mean()) == pytest.approx(unweighted)


def test_exponential_quantisation_and_the_whole_loss_by_hand():
    h = torch.tensor([[0.5, -1.0], [1.0, 1.0]])
    # hhᵀ = [[1.25, −0.5], [−0.5, 2]], bbᵀ = [[2, 0], [0, 2]]: |diff| = 0.75, 0.5, 0.5, 0
    quant = (math.exp(0.375) + 2 * math.exp(0.25) + 1.0) / 4
    assert float(drmh.exponential_quantisation_loss(h)) == pytest.approx(quant)
    logits = torch.tensor([[2.0, -1.0], [0.0, 0.0]])
    rows = torch.tensor([[1.0, 0.0], [0.0, 1.0]])

    def bce(x, y):
        return -(y * math.log(1 / (1 + math.exp(-x))) + (1 - y) * math.log(1 / (1 + math.exp(x))))

    cls = (bce(2.0, 1) + bce(-1.0, 0) + bce(0.0, 0) + bce(0.0, 1)) / 4
    # different labels, s = 0: h1ᵀh2 = −0.5, cos = −0.5/(√1.25·√2), w = (1 + cos)/2
    cos = -0.5 / (math.sqrt(1.25) * math.sqrt(2))
    pair = (1 + cos) / 2 * ((-0.5 + 2) / 2) ** 2
    parts = drmh.drmh_loss(h, logits, rows, 1.0, 0.01, 1e-4)
    assert float(parts["cls"]) == pytest.approx(cls)
    assert float(parts["hash"]) == pytest.approx(pair)
    assert float(parts["loss"]) == pytest.approx(cls + 0.01 * pair + 1e-4 * quant)


def test_single_attention_ignores_masked_tokens():
    torch.manual_seed(0)
    attention = drmh.SingleAttention(4)
    tokens = torch.randn(1, 3, 4)
    mask = torch.tensor([[True, True, False]])
    masked = attention(tokens, mask)
    alone = attention(tokens[:, :2], torch.ones(1, 2, dtype=torch.bool))
    assert torch.allclose(masked[:, :2], alone, atol=1e-6)
    c = attention.weight(tokens[0, :2])  # c = W e; softmax(c cᵀ/√d) c, by hand
    expected = torch.softmax(c @ c.T / 2.0, dim=-1) @ c
    assert torch.allclose(alone[0], expected, atol=1e-6)


def test_missing_or_unreadable_weights_are_one_line_errors(tmp_path, detector_file):
    with pytest.raises(ZshbenchError, match="never downloads") as error:
        drmh.DRMH(16)
    assert "detector_weights=hub" in error.value.hint and "checkpoints" in error.value.hint
    with pytest.raises(ZshbenchError, match="does not exist"):
        drmh.DRMH(16, detector_weights=str(tmp_path / "none.pt"))
    with pytest.raises(ZshbenchError, match="detector_backbone"):
        drmh.DRMH(16, detector="fasterrcnn", detector_weights=str(detector_file))
    with pytest.raises(ZshbenchError, match="DRMH option detector must be one of"):
        drmh.DRMH(16, detector="yolo", detector_weights=str(detector_file))
    with pytest.raises(ZshbenchError, match="DRMH option regions must be a whole number ≥ 1"):
        drmh.DRMH(16, regions=0, detector_weights=str(detector_file))
    with pytest.raises(ZshbenchError, match="DRMH option cls_weight must be a number ≥ 0"):
        drmh.DRMH(16, cls_weight=-1, detector_weights=str(detector_file))
    with pytest.raises(ZshbenchError, match="hub"):
        drmh.DRMH(16, **{**SMALL, "detector_weights": "hub"})
    not_a_detector = tmp_path / "other.pt"
    torch.save({"weight": torch.zeros(2)}, not_a_detector)
    with pytest.raises(ZshbenchError, match="not a Faster R-CNN"):
        detection.load_detector("fasterrcnn", "mobilenet_v3_small", not_a_detector)
    pickled = tmp_path / "pickled.pt"
    torch.save({"model": {"weights": Fraction(1, 3)}}, pickled)  # not a tensor: refused
    with pytest.raises(ZshbenchError, match="cannot read"):
        detection.load_detector("fasterrcnn", "mobilenet_v3_small", pickled)
    with pytest.raises(ZshbenchError, match="does not fit"):
        detection.load_detector("fasterrcnn", "resnet18", detector_file)


def test_regions_are_detected_once_per_image(detector_file):
    model = detection.load_detector("fasterrcnn", "mobilenet_v3_small", detector_file)
    assert not any(p.requires_grad for p in model.parameters()) and not model.training
    extractor = detection.RegionExtractor(model, regions=4, size=32, proposals=6)
    images = torch.rand(3, 3, 8, 8)
    keys = [detection.image_key(image) for image in images]
    features, boxes, mask = extractor(images, keys)
    assert features.shape == (3, 4, 32) and boxes.shape == (3, 4, 4) and mask.shape == (3, 4)
    assert mask[:, 0].all() and boxes[:, 0].tolist() == [[0.0, 0.0, 1.0, 1.0]] * 3
    assert ((boxes >= 0) & (boxes <= 1)).all() and extractor.detected == 3
    again = extractor(images[[2, 0]], [keys[2], keys[0]])  # from the cache, in the asked order
    assert extractor.detected == 3 and torch.equal(again[0], features[[2, 0]])
    extractor.caching = False
    extractor(torch.rand(2, 3, 8, 8), [b"a", b"b"])
    assert extractor.detected == 5 and len(extractor.cache) == 3


def test_drmh_learns_the_easy_set_better_than_lsh(detector_file):
    easy = easy_set()
    torch.manual_seed(0)
    method = drmh.DRMH(16, detector_weights=str(detector_file), **SMALL, **EASY_TRAINING)
    context = RunContext(seed=0)
    method.fit(easy.train, context)
    # every training image was detected once, for all ten epochs
    assert method.extractor_.detected == len(easy.train.labels)
    learned, baseline = easy.map(method, context), lsh_map(easy, 16)
    assert learned > 0.8 and learned > baseline + 0.2


@pytest.mark.slow  # the detector runs once on each of digits' ~2,000 images (~20 ms each)
def test_drmh_end_to_end_on_digits(tmp_path, detector_file):
    record = run_on_digits(tmp_path, "drmh", detector_weights=str(detector_file), **SMALL)
    training = check_record(record, "drmh")
    assert {"cls", "hash", "quant"} <= set(training["final_losses"])
    assert training["train_accuracy_by"] == "classifier on h"
    assert training["detector"]["builder"] == "fasterrcnn"
    assert training["detector"]["regions"] == 3 and training["detector"]["detection_s"] > 0
    assert training["detector"]["images_detected"] > 400  # training and validation images
    assert any("not a strict zero-shot result" in w for w in training["warnings"])


def test_training_regions_are_cached_on_disk_by_detector_and_images(
    tmp_path, monkeypatch, detector_file
):
    """A second fit on the same images with the same detector reads the training images'
    regions from disk (no detection); a damaged file is detected again with one line."""
    from zshbench.method import Progress

    monkeypatch.setenv("ZSHBENCH_IMAGE_CACHE", str(tmp_path / "cache"))
    easy = easy_set()
    options = {**SMALL, **EASY_TRAINING, "epochs": 1}
    lines: list[str] = []

    class Lines(Progress):
        def log(self, message: str) -> None:
            lines.append(message)

    def fit() -> tuple[drmh.DRMH, torch.Tensor]:
        torch.manual_seed(0)
        method = drmh.DRMH(16, detector_weights=str(detector_file), **options)
        method.fit(easy.train, RunContext(seed=0, progress=Lines()))
        return method, method.encode(easy.train.images, RunContext(seed=0))

    first, codes = fit()
    assert first.extractor_.detected == len(easy.train.labels)
    stored = list((tmp_path / "cache" / "drmh-regions").glob("*.pt"))
    assert len(stored) == 1
    second, again = fit()
    assert second.extractor_.detected == 0  # regions from disk, training accuracy included
    assert (codes == again).all()  # the same regions, hence the same training and codes
    stored[0].write_bytes(b"not a torch file")
    lines.clear()
    third, _ = fit()
    assert third.extractor_.detected == len(easy.train.labels)
    assert sum("region cache" in line and "detecting again" in line for line in lines) == 1
