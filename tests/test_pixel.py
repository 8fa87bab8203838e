"""PIXEL: its three loss terms by hand (CosFace, L_align, L_reg), the mutation of its key term
(the alignment of visual to α-scaled text differences), the attribute prompts, the authors'
per-data-set weights, its registration, learning, and digits end to end."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from deephash_fixture import (  # noqa: E402
    EASY_TRAINING,
    TINY_ENCODER,
    check_record,
    easy_set,
    lsh_map,
    run_on_digits,
)

from plugins.pixel import losses, method, model  # noqa: E402
from zshbench.errors import ZshbenchError  # noqa: E402
from zshbench.method import RunContext  # noqa: E402
from zshbench.plugin_manager import load_plugins  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---------------------------------------------------------------------- L_cls (CosFace)


def test_cosine_logits_by_hand():
    h = torch.tensor([[3.0, 4.0]])
    prototypes = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert losses.cosine_logits(h, prototypes)[0].tolist() == pytest.approx([0.6, 0.8])


def test_cosface_takes_the_margin_off_the_true_class_only():
    cosines = torch.tensor([[0.8, 0.6]])
    # true class 0: logits 10 (0.8 − 0.2) = 6 and 10 · 0.6 = 6 → log 2
    assert float(losses.cosface_loss(cosines, torch.tensor([0]), 10, 0.2)) == pytest.approx(
        math.log(2.0)
    )
    # true class 1: logits 8 and 4 → −4 + log(e^8 + e^4) = 4 + log(1 + e^−4)
    assert float(losses.cosface_loss(cosines, torch.tensor([1]), 10, 0.2)) == pytest.approx(
        4.0 + math.log1p(math.exp(-4.0))
    )
    # without the margin it would be log(1 + e^−2) for class 0
    assert float(losses.cosface_loss(cosines, torch.tensor([0]), 10, 0.0)) == pytest.approx(
        math.log1p(math.exp(-2.0))
    )


# ---------------------------------------------------------------------- L_align


def _align(v, t, labels, alpha=1.0, weight=4.0):
    return float(
        losses.alignment_loss(
            torch.tensor(v), torch.tensor(t), torch.tensor(labels), torch.tensor([alpha]), weight
        )
    )


def test_alignment_by_hand_for_two_images_of_different_classes():
    # ΔV = (1, −1), ΔT = (−1, 1): mean((ΔV − ΔT)²) = mean(4, 4) = 4
    v, t = [[[1.0, 0.0]], [[0.0, 1.0]]], [[[0.0, 1.0]], [[1.0, 0.0]]]
    assert _align(v, t, [0, 1]) == pytest.approx(4.0)
    # α = 0.5: ΔV − 0.5 ΔT = (1.5, −1.5) → 2.25
    assert _align(v, t, [0, 1], alpha=0.5) == pytest.approx(2.25)


def test_alignment_same_class_adds_the_signed_mean_of_differences():
    # same class, same text: ΔV = (0.4, −0.8), ΔT = 0; squared mean (0.16 + 0.64) / 2 = 0.4;
    # the code's same-class term 4 · (mean ΔV + mean ΔT) = 4 · (−0.2) = −0.8
    v, t = [[[1.0, 0.0]], [[0.6, 0.8]]], [[[1.0, 0.0]], [[1.0, 0.0]]]
    assert _align(v, t, [3, 3]) == pytest.approx(0.4 - 0.8)
    assert _align(v, t, [3, 4]) == pytest.approx(0.4)
    assert _align(v, t, [3, 3], weight=0.0) == pytest.approx(0.4)


def test_alignment_equals_the_authors_double_loop_over_pairs():
    """An independent reference: the loop over i < j the authors' code writes, on random data."""
    gen = torch.Generator().manual_seed(0)
    v = torch.nn.functional.normalize(torch.randn(5, 3, 4, generator=gen), dim=-1)
    t = torch.nn.functional.normalize(torch.randn(5, 3, 4, generator=gen), dim=-1)
    labels = torch.tensor([0, 1, 0, 2, 1])
    alpha = 0.7
    total, count = 0.0, 0
    for i, j in itertools.combinations(range(5), 2):
        dv, dt = v[i] - v[j], t[i] - t[j]
        total += float(((dv - alpha * dt) ** 2).mean())
        if labels[i] == labels[j]:
            total += float(dv.mean() + dt.mean()) * 4
        count += 1
    got = losses.alignment_loss(v, t, labels, torch.tensor([alpha]))
    assert float(got) == pytest.approx(total / count, rel=1e-5)


def test_mutation_of_the_alignment_term_fails():
    """The key term aligns visual differences with α-scaled *text* differences: V_i = T_i for
    every image is a zero-loss alignment (different classes); dropping the text side, or
    comparing absolute embeddings instead of differences, is not."""
    v = torch.tensor([[[0.6, 0.8]], [[1.0, 0.0]], [[0.0, 1.0]]])
    labels = torch.tensor([0, 1, 2])
    assert float(losses.alignment_loss(v, v.clone(), labels, torch.tensor([1.0]))) == pytest.approx(
        0.0, abs=1e-7
    )
    without_text = losses.alignment_loss(v, torch.zeros_like(v), labels, torch.tensor([1.0]))
    assert float(without_text) > 0.1
    # a constant offset between V and T leaves differences unchanged: still zero
    shifted = losses.alignment_loss(v + 0.3, v, labels, torch.tensor([1.0]))
    assert float(shifted) == pytest.approx(0.0, abs=1e-6)


def test_alignment_of_one_image_is_zero_and_keeps_the_graph():
    v = torch.ones(1, 2, 3, requires_grad=True)
    value = losses.alignment_loss(v, torch.ones(1, 2, 3), torch.tensor([0]), torch.tensor([1.0]))
    assert float(value.detach()) == 0.0 and value.requires_grad


# ---------------------------------------------------------------------- L_reg and its inputs


def test_regression_targets_and_strengths_by_hand():
    values = np.array([[3.0, 4.0, -1.0], [0.0, 4.0, 2.0], [6.0, 4.0, 4.0]])
    targets = model.regression_targets(values)
    assert targets[0] == pytest.approx([0.6, 0.8, 0.0])  # −1 (missing) counts as 0
    assert targets[1] == pytest.approx(np.array([0.0, 4.0, 2.0]) / math.sqrt(20.0))
    strengths = model.attribute_strengths(values)
    assert strengths[:, 0] == pytest.approx([0.5, 0.0, 1.0])
    assert strengths[:, 1] == pytest.approx([0.0, 0.0, 0.0])  # a constant column
    assert strengths[:, 2] == pytest.approx([0.0, 0.0, 1.0])  # missing → 0; 2..4 scaled


def test_regression_loss_by_hand():
    scores = torch.tensor([[0.5, 0.5], [0.0, 1.0]])
    targets = torch.tensor([[0.6, 0.8], [0.0, 1.0]])
    # squared errors 0.01, 0.09, 0, 0 → mean 0.025
    assert float(losses.regression_loss(scores, targets)) == pytest.approx(0.025)


def test_the_authors_weights_per_data_set():
    assert losses.paper_weights("cub") == ("cub", (2.5, 0.5))
    assert losses.paper_weights("cub-mini64") == ("cub", (2.5, 0.5))
    assert losses.paper_weights("awa2") == ("awa2", (3.0, 0.4))
    assert losses.paper_weights("sun") == ("sun", (2.0, 0.3))
    assert losses.paper_weights("digits") == ("cub", (2.5, 0.5))


def test_readable_attribute_text():
    assert model.readable_attribute("has_bill_shape::curved_(up_or_down)") == (
        "has bill shape curved (up or down)"
    )


# ---------------------------------------------------------------------- network and objective


def test_text_embeddings_blend_present_and_absent_prompts():
    from plugins.deep.backbones import build_backbone
    from plugins.deep.scales import resolve

    settings = resolve({"scale": "cpu", **TINY_ENCODER, "img_size": 8, "patch_size": 2}, {}, "t", 8)
    encoder, _, _ = build_backbone(settings)
    prompts = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]])
    strengths = torch.tensor([[1.0, 0.5], [0.0, 0.25]])
    net = model.PIXELNet(encoder, 4, model.count_tokens(encoder, 8), prompts, strengths,
                         strengths, 2)  # fmt: skip
    with torch.no_grad():
        net.text_proj.weight.copy_(torch.eye(2))
        net.text_proj.bias.zero_()
    text = net.text_embeddings(torch.tensor([0, 1]))
    # class 0: slot 0 = u⁺_0 = (1, 0); slot 1 = 0.5 (0, 1) + 0.5 (1, 0) → normalised (1, 1)/√2
    root2 = 1 / math.sqrt(2)
    assert text[0].flatten().tolist() == pytest.approx([1.0, 0.0, root2, root2])
    # class 1: slot 0 = u⁻_0 = (0, 1); slot 1 = 0.25 (0, 1) + 0.75 (1, 0) → (3, 1)/√10
    assert text[1].flatten().tolist() == pytest.approx(
        [0.0, 1.0, 3 / math.sqrt(10), 1 / math.sqrt(10)]
    )
    dropped = net.text_embeddings(torch.tensor([0, 1]), 1.0, torch.Generator().manual_seed(0))
    assert torch.allclose(dropped, torch.zeros_like(dropped))  # every slot masked, zero bias
    h, visual = net.forward_all(torch.zeros(3, 3, 8, 8))
    assert h.shape == (3, 4) and visual.shape == (3, 2, 2)


def test_objective_is_cls_plus_weighted_align_and_reg():
    easy = easy_set()
    pixel = method.PIXEL(16, **EASY_TRAINING)
    context = RunContext(seed=0, encoder="hashing")
    settings = pixel.resolve_settings(easy.train)
    assert (settings["w_align"], settings["w_reg"], settings["weights_from"]) == (2.5, 0.5, "cub")
    pixel.prepare(settings, easy.train, context)
    net, _ = pixel.build_network(settings, easy.train, context)
    objective = method.PIXELObjective(net, {**settings, "text_dropout": 0.0})
    from plugins.deep.engine import Batch

    labels = torch.tensor([0, 1, 2, 3, 0])
    batch = Batch(torch.randn(5, 3, 8, 8), labels, torch.arange(5), torch.Generator(), 1)
    parts = objective(batch)
    expected = parts["cls"] + 2.5 * parts["align"] + 0.5 * parts["reg"]
    assert float(parts["loss"].detach()) == pytest.approx(float(expected.detach()), rel=1e-6)
    h, visual = net.forward_all(batch.images)
    cos = losses.cosine_logits(h, net.prototypes)
    assert float(parts["cls"]) == pytest.approx(
        float(losses.cosface_loss(cos, labels, 10, 0.2).detach())
    )


def test_no_class_attributes_is_one_clear_error():
    easy = easy_set(class_attributes=False)
    pixel = method.PIXEL(16, **EASY_TRAINING)
    settings = pixel.resolve_settings(easy.train)
    with pytest.raises(ZshbenchError, match="no class attributes for PIXEL"):
        pixel.prepare(settings, easy.train, RunContext(encoder="hashing"))


def test_pixel_is_registered_as_a_zero_shot_deep_method():
    spec = load_plugins().methods.get("pixel")
    assert spec.zero_shot and spec.family == "deep" and "CIKM 2024" in spec.citation
    assert spec.load() is method.PIXEL
    with pytest.raises(ZshbenchError, match="m must be a number ≥ 0"):
        method.PIXEL(16, m=-0.1)


def test_pixel_learns_the_easy_set_better_than_lsh():
    easy = easy_set()
    torch.manual_seed(0)
    pixel = method.PIXEL(16, **EASY_TRAINING)
    context = RunContext(seed=0, encoder="hashing")
    pixel.fit(easy.train, context)
    learned, baseline = easy.map(pixel, context), lsh_map(easy, 16)
    assert learned > 0.9 and learned > baseline + 0.2


def test_pixel_end_to_end_on_digits(tmp_path):
    record = run_on_digits(tmp_path, "pixel", encoder="hashing")
    training = check_record(record, "pixel", accuracy_by="nearest class-centre code")
    assert {"cls", "align", "reg"} <= set(training["final_losses"])
    assert record["config"]["resolved"]["w_align"] == 2.5
    assert record["config"]["resolved"]["attribute_dim"] == 64


def test_paper_scale_settings_are_the_authors():
    pixel = method.PIXEL(64, scale="paper")
    settings = pixel.resolve_settings(easy_set().train)
    assert settings["model"] == "vit_base_patch16_224.mae" and settings["img_size"] == 224
    assert settings["attribute_dim"] == 512 and (settings["s"], settings["m"]) == (10.0, 0.2)


@pytest.mark.slow
def test_paper_scale_network_runs_on_vit_b16():
    """ViT-B/16 at 224 (no weights here): 197 tokens, V of (A, 512), one loss step."""
    easy = easy_set()
    pixel = method.PIXEL(64, scale="paper", pretrained=False)
    settings = pixel.resolve_settings(easy.train)
    context = RunContext(seed=0, encoder="hashing")
    pixel.prepare(settings, easy.train, context)
    net, _ = pixel.build_network(settings, easy.train, context)
    assert net.position_map.in_features == 197
    h, visual = net.forward_all(torch.zeros(2, 3, 224, 224))
    assert h.shape == (2, 64) and visual.shape == (2, 6, 512)
