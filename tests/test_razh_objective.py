"""The whole of Eq. 16 on a 2-image batch, against arithmetic written out by hand.

A deterministic stand-in network returns fixed outputs (h, h^a, class scores, both
reconstructions, the masked and the replaced patches), so the expected loss is a handful of
numbers worked out below. Each wiring error a review found possible changes the value, and the
test says which:

* S inverted in L_h;
* α and β swapped;
* g_x scored on the visible patches instead of the masked ones;
* g_z scored on the reconstruction branch's mask instead of the replaced patches;
* h^a compared with itself (or h with h) in L_hal.
"""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from plugins.razh.model import TrainOutputs  # noqa: E402
from plugins.razh.objective import razh_loss_parts  # noqa: E402

ALPHA, BETA = 0.3, 2.0


class FixedNetwork(torch.nn.Module):
    """Returns the same TrainOutputs for any input: 2 images of one class, 4 patches, 2 pixels
    per patch, 2 bits, 2 classes."""

    def forward(self, images, labels, generator=None, reconstruct=True) -> TrainOutputs:
        return TrainOutputs(
            h=torch.tensor([[0.5, -0.5], [0.8, 0.6]]),
            h_aux=torch.tensor([[0.1, -0.5], [0.8, 0.2]]),
            logits=torch.tensor([[2.0, 0.0], [0.0, 1.0]]),
            target=torch.zeros(2, 4, 2),
            # per-patch errors chosen so that every selection of patches gives another mean
            reconstruction=torch.tensor(
                [
                    [[1.0, 1.0], [2.0, 0.0], [0.0, 3.0], [1.0, 0.0]],
                    [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [0.0, 4.0]],
                ]
            ),
            masked=torch.tensor([[True, False, True, False], [False, True, False, True]]),
            aux_reconstruction=torch.tensor(
                [
                    [[3.0, 0.0], [0.0, 0.0], [1.0, 1.0], [0.0, 2.0]],
                    [[1.0, 0.0], [0.0, 2.0], [2.0, 0.0], [1.0, 1.0]],
                ]
            ),
            aux_selected=torch.tensor([[True, True, False, False], [False, False, True, True]]),
        )


def softplus(x: float) -> float:
    return math.log(1.0 + math.exp(x))


def logcosh(x: float) -> float:
    return math.log(math.cosh(x))


def by_hand() -> dict[str, float]:
    # L_cls: labels (0, 0); softmax cross-entropy of [2, 0] and [0, 1] for class 0
    cls = (-math.log(math.exp(2) / (math.exp(2) + 1)) - math.log(1 / (1 + math.e))) / 2
    # L_h: one class, N = 2: the ordered pairs (1,2), (2,1) are both similar, θ = 2/2 = 1.
    # h1ᵀh2 = 0.4 - 0.3 = 0.1, x = 0.05; term log(1 + e^x) - x; L_h = (1/(2·2)) · 2 · term
    x = 0.05
    h = 2 * (softplus(x) - x) / 4
    # L_r, reconstruction branch: mean squared pixel error per patch, averaged over the masked
    # patches: image 1 patches 1, 3: (1+1)/2 = 1, (0+9)/2 = 4.5; image 2 patches 2, 4:
    # (1+1)/2 = 1, (0+16)/2 = 8 → (1 + 4.5 + 1 + 8) / 4
    r_masked = (1 + 4.5 + 1 + 8) / 4
    # mixing branch, over the replaced patches: image 1 patches 1, 2: (9+0)/2 = 4.5, 0;
    # image 2 patches 3, 4: (4+0)/2 = 2, (1+1)/2 = 1 → (4.5 + 0 + 2 + 1) / 4
    r_replaced = (4.5 + 0 + 2 + 1) / 4
    # L_hal = (1/2N) Σ logcosh(h^a - h): differences (-0.4, 0), (0, -0.4)
    hal = (logcosh(-0.4) + logcosh(0.0) + logcosh(0.0) + logcosh(-0.4)) / 4
    r = r_masked + r_replaced
    return {
        "cls": cls,
        "h": h,
        "r": r,
        "hal": hal,
        "loss": cls + ALPHA * h + BETA * (r + hal),
    }


def parts(losses=frozenset({"cls", "h", "rec"})) -> dict[str, float]:
    images = torch.zeros(2, 3, 4, 4)
    labels = torch.tensor([0, 0])
    out = razh_loss_parts(FixedNetwork(), images, labels, None, ALPHA, BETA, losses)
    return {k: float(v) for k, v in out.items()}


def test_eq16_on_two_images_equals_the_hand_computation():
    expected = by_hand()
    measured = parts()
    for key, value in expected.items():
        assert measured[key] == pytest.approx(value, rel=1e-6), key


class MutatedNetwork(FixedNetwork):
    """FixedNetwork with one output rewired the way a wiring error would."""

    def __init__(self, mutation: str):
        super().__init__()
        self.mutation = mutation

    def forward(self, images, labels, generator=None, reconstruct=True) -> TrainOutputs:
        out = super().forward(images, labels, generator, reconstruct)
        if self.mutation == "g_x on the visible patches":
            out.masked = ~out.masked
        elif self.mutation == "g_z on the mask":
            out.aux_selected = out.masked
        return out


@pytest.mark.parametrize(
    "mutation", ["S inverted", "alpha and beta swapped", "g_x on the visible patches",
                 "g_z on the mask", "h^a with itself"],
)  # fmt: skip
def test_each_wiring_error_changes_the_loss(mutation, monkeypatch):
    from plugins.razh import objective

    alpha, beta, network = ALPHA, BETA, MutatedNetwork(mutation)
    if mutation == "S inverted":
        real = objective.pairwise_hash_loss
        monkeypatch.setattr(objective, "pairwise_hash_loss", lambda h, s: real(h, ~s))
    if mutation == "alpha and beta swapped":
        alpha, beta = BETA, ALPHA
    if mutation == "h^a with itself":
        real_hal = objective.hash_alignment_loss
        monkeypatch.setattr(
            objective, "hash_alignment_loss", lambda h_aux, h: real_hal(h_aux, h_aux)
        )
    images, labels = torch.zeros(2, 3, 4, 4), torch.tensor([0, 0])
    use = frozenset({"cls", "h", "rec"})
    mutated = razh_loss_parts(network, images, labels, None, alpha, beta, use)
    assert float(mutated["loss"]) != pytest.approx(by_hand()["loss"], rel=1e-4)


def test_table_iv_subsets_keep_only_their_terms():
    hand = by_hand()
    assert parts(frozenset({"cls"}))["loss"] == pytest.approx(hand["cls"], rel=1e-6)
    assert parts(frozenset({"h"}))["loss"] == pytest.approx(ALPHA * hand["h"], rel=1e-6)
    assert parts(frozenset({"cls", "h"}))["loss"] == pytest.approx(
        hand["cls"] + ALPHA * hand["h"], rel=1e-6
    )


def test_training_accuracy_is_reported_only_when_l_cls_trains_the_classifier():
    from plugins.razh.objective import RAZHObjective

    assert "acc" in parts(frozenset({"cls", "h"})) and "acc" in parts()
    assert "acc" not in parts(frozenset({"h"})) and "acc" not in parts(frozenset({"h", "rec"}))
    assert RAZHObjective(FixedNetwork(), ALPHA, BETA, frozenset({"cls"})).classifier_trained
    assert not RAZHObjective(FixedNetwork(), ALPHA, BETA, frozenset({"h"})).classifier_trained


class NetworkWithClassifier(FixedNetwork):
    """FixedNetwork with an identity classifier on the 2 bits (scores = h)."""

    def __init__(self):
        super().__init__()
        self.classifier = torch.nn.Linear(2, 2)
        with torch.no_grad():
            self.classifier.weight.copy_(torch.eye(2))
            self.classifier.bias.zero_()


def test_authors_aux_hash_loss_on_h_aux_by_hand():
    images, labels = torch.zeros(2, 3, 4, 4), torch.tensor([0, 0])
    losses = frozenset({"cls", "h", "rec"})
    out = razh_loss_parts(NetworkWithClassifier(), images, labels, None, ALPHA, BETA, losses,
                          aux_hash_loss=True)  # fmt: skip
    # h^a = (0.1, -0.5), (0.8, 0.2), class 0: each cross-entropy is softplus(-0.6)
    cls_aux = softplus(-0.6)
    # h^a_1ᵀh^a_2 = 0.08 - 0.1 = -0.02, x = θ·inner/2 = -0.01; L_h = 2·(softplus(x) - x)/4
    h_aux = 2 * (softplus(-0.01) + 0.01) / 4
    assert float(out["cls_aux"]) == pytest.approx(cls_aux, rel=1e-6)
    assert float(out["h_aux"]) == pytest.approx(h_aux, rel=1e-6)
    assert float(out["loss"]) == pytest.approx(
        by_hand()["loss"] + cls_aux + ALPHA * h_aux, rel=1e-6
    )
    plain = razh_loss_parts(NetworkWithClassifier(), images, labels, None, ALPHA, BETA, losses)
    assert "cls_aux" not in plain and float(plain["loss"]) == pytest.approx(by_hand()["loss"])
