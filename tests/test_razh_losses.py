"""RAZH losses (plugins/razh/losses.py) against values worked out by hand on tiny tensors.

Every expected value is written as explicit scalar arithmetic (math.log / math.exp / math.cosh)
from the paper's equations, not by calling the functions under test:

* Eq. 11  θ_ij = N²/s_p (s_ij = 1) or N²/s_n (s_ij = 0), s_p, s_n counting ordered pairs, i = j
  included.
* Eq. 17  L_h = (1/N²) Σ_ij θ_ij (log(1 + exp(x_ij)) − s_ij x_ij), x_ij = ½ h_iᵀh_j.
* Eq. 18  L_hal = (1/2N) Σ_i Σ_k logcosh(h^a_ik − h_ik).
* L_r     mean over selected patches of the per-patch mean squared pixel error.
* L_cls   mean softmax cross-entropy.
* Eq. 16  L = L_cls + α L_h + β (L_r + L_hal), restricted to the subset ``use``.
"""

from __future__ import annotations

import math

import pytest
import torch

from plugins.razh.losses import (
    classification_loss,
    hash_alignment_loss,
    logcosh,
    pair_weights,
    pairwise_hash_loss,
    reconstruction_loss,
    total_loss,
)


def softplus(x: float) -> float:
    """log(1 + e^x) for a Python float (only used with |x| small enough not to overflow)."""
    return math.log(1.0 + math.exp(x))


def similarity(labels: list[int]) -> torch.Tensor:
    """s_ij = 1 if labels i and j agree, else 0 (float)."""
    return torch.tensor([[float(a == b) for b in labels] for a in labels])


# --- Eq. 11: pair weights ---------------------------------------------------------------------


def test_pair_weights_three_samples_two_classes():
    # labels (0, 0, 1): S = [[1,1,0],[1,1,0],[0,0,1]]
    # s_p = 4 (top-left block) + 1 (bottom-right) = 5, s_n = 9 - 5 = 4, N² = 9
    # θ_p = 9/5 = 1.8, θ_n = 9/4 = 2.25
    similar = similarity([0, 0, 1])
    p, n = 9 / 5, 9 / 4
    expected = torch.tensor([[p, p, n], [p, p, n], [n, n, p]])
    torch.testing.assert_close(pair_weights(similar), expected)
    # a boolean S gives the same weights
    torch.testing.assert_close(pair_weights(similar.bool()), expected)


def test_pair_weights_single_class():
    # all 4 ordered pairs similar: s_p = 4, θ = 4/4 = 1 everywhere (no dissimilar pair)
    weights = pair_weights(similarity([7, 7]))
    torch.testing.assert_close(weights, torch.ones(2, 2))


def test_pair_weights_all_distinct():
    # labels (0, 1, 2, 3): s_p = 4 (the diagonal), s_n = 12, N² = 16: θ_p = 4, θ_n = 16/12
    weights = pair_weights(similarity([0, 1, 2, 3]))
    expected = torch.full((4, 4), 16 / 12)
    expected.fill_diagonal_(4.0)
    torch.testing.assert_close(weights, expected)


# --- Eq. 17: pairwise hash loss ---------------------------------------------------------------


def test_pairwise_hash_loss_hand_example():
    # h1 = (1, 0.5), h2 = (0.5, -1), h3 = (-1, -2); labels (0, 0, 1)
    # h_iᵀh_j: 11 = 1.25, 12 = 0.5 - 0.5 = 0, 13 = -1 - 1 = -2,
    #          22 = 1.25, 23 = -0.5 + 2 = 1.5, 33 = 1 + 4 = 5
    # x = ½ hᵀh: x11 = x22 = 0.625, x12 = 0, x13 = -1, x23 = 0.75, x33 = 2.5
    # similar pairs (θ = 9/5): (1,1), (1,2), (2,1), (2,2), (3,3): term log(1+e^x) - x
    # dissimilar (θ = 9/4): (1,3), (3,1), (2,3), (3,2): term log(1+e^x)
    # L = (1/9) [9/5 Σ_sim + 9/4 Σ_dis] = Σ_sim / 5 + Σ_dis / 4
    h = torch.tensor([[1.0, 0.5], [0.5, -1.0], [-1.0, -2.0]])
    sum_similar = (
        2 * (softplus(0.625) - 0.625)  # (1,1), (2,2)
        + 2 * (softplus(0.0) - 0.0)  # (1,2), (2,1)
        + (softplus(2.5) - 2.5)  # (3,3)
    )
    sum_dissimilar = 2 * softplus(-1.0) + 2 * softplus(0.75)
    expected = sum_similar / 5 + sum_dissimilar / 4
    loss = pairwise_hash_loss(h, similarity([0, 0, 1]))
    assert loss.ndim == 0
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_pairwise_hash_loss_hand_gradient():
    # Two samples, 1-bit codes h1 = a, h2 = b, different labels: θ = 4/2 = 2 for both kinds.
    # L = (1/4) * 2 * [sp(a²/2) - a²/2 + sp(b²/2) - b²/2 + 2 sp(ab/2)]
    # dL/da = ½ [σ(a²/2) a - a + 2 σ(ab/2) b/2] = ½ [a (σ(a²/2) - 1) + b σ(ab/2)]
    a, b = 0.8, -0.3
    h = torch.tensor([[a], [b]], requires_grad=True)
    pairwise_hash_loss(h, similarity([0, 1])).backward()

    def sigmoid(x: float) -> float:
        return 1.0 / (1.0 + math.exp(-x))

    grad_a = 0.5 * (a * (sigmoid(a * a / 2) - 1) + b * sigmoid(a * b / 2))
    grad_b = 0.5 * (b * (sigmoid(b * b / 2) - 1) + a * sigmoid(a * b / 2))
    torch.testing.assert_close(h.grad, torch.tensor([[grad_a], [grad_b]]))


def test_pairwise_hash_loss_single_class():
    # h1 = (1, 0.5), h2 = (0.5, -1), same label: s_p = 4, s_n = 0, θ = 1 everywhere.
    # x11 = x22 = 0.625, x12 = x21 = 0; all similar: L = (1/4) Σ (log(1+e^x) - x)
    h = torch.tensor([[1.0, 0.5], [0.5, -1.0]], requires_grad=True)
    expected = (2 * (softplus(0.625) - 0.625) + 2 * math.log(2.0)) / 4
    loss = pairwise_hash_loss(h, similarity([3, 3]))
    assert math.isfinite(loss.item())
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    assert torch.isfinite(h.grad).all()


def test_pairwise_hash_loss_huge_inner_products_exact():
    # 128-bit ±1 code v scaled by c = 10: h1 = c v, h2 = -c v.
    # x11 = x22 = ½ c² 128 = 6400, x12 = x21 = -6400 (e^6400 overflows any float).
    # Different labels, θ = 2 for both kinds:
    #   L = (1/4) 2 [2 (log(1+e^6400) - 6400) + 2 log(1+e^-6400)] = log(1+e^-6400) * 2 ≈ 0
    # Same label, θ = 1:
    #   L = (1/4) [2 log(1+e^-6400) + 2 (log(1+e^-6400) + 6400)] ≈ 6400 / 2 = 3200
    g = torch.Generator().manual_seed(0)
    v = torch.randint(0, 2, (128,), generator=g).float() * 2 - 1
    h = torch.stack([10 * v, -10 * v]).requires_grad_(True)

    apart = pairwise_hash_loss(h, similarity([0, 1]))
    assert math.isfinite(apart.item())
    assert apart.item() == pytest.approx(0.0, abs=1e-6)
    apart.backward()
    assert torch.isfinite(h.grad).all()

    h.grad = None
    together = pairwise_hash_loss(h, similarity([0, 0]))
    assert together.item() == pytest.approx(3200.0, rel=1e-6)
    together.backward()
    assert torch.isfinite(h.grad).all()
    # Same label: L = (1/4) Σ_ij log(1 + e^{-x_ij}), d/dx log(1 + e^{-x}) = -σ(-x).
    # dL/dh1: (1,1) term (1/4)(-σ(-6400)) h1 = 0; (1,2) and (2,1) terms, dx12/dh1 = ½ h2:
    #   2 · (1/4) · (-σ(6400)) · ½ · (-10 v) = 2 · ¼ · (-1) · (-5 v) = 2.5 v; by symmetry -2.5 v.
    torch.testing.assert_close(h.grad[0], 2.5 * v)
    torch.testing.assert_close(h.grad[1], -2.5 * v)


def test_pairwise_hash_loss_128_bits_matches_float64_naive():
    # ±1 codes of 128 bits: x = ½ hᵀh ∈ [-64, 64], where float64 exp does not overflow, so the
    # naive formula with explicit pair counting (Python loops, float64) is a valid reference.
    g = torch.Generator().manual_seed(1)
    n, bits = 6, 128
    codes = (torch.randint(0, 2, (n, bits), generator=g) * 2 - 1).tolist()
    codes[1] = list(codes[0])  # an identical pair: x = 64
    codes[2] = [-c for c in codes[0]]  # an opposite pair: x = -64
    labels = [0, 1, 0, 2, 1, 1]
    s_p = sum(1 for a in labels for b in labels if a == b)
    s_n = n * n - s_p
    total = 0.0
    for i in range(n):
        for j in range(n):
            x = 0.5 * sum(float(a) * float(b) for a, b in zip(codes[i], codes[j], strict=True))
            s = 1.0 if labels[i] == labels[j] else 0.0
            theta = n * n / s_p if s else n * n / s_n
            total += theta * (math.log1p(math.exp(x)) - s * x)
    expected = total / (n * n)

    h = torch.tensor(codes, dtype=torch.float32, requires_grad=True)
    loss = pairwise_hash_loss(h, similarity(labels))
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    loss.backward()
    assert torch.isfinite(h.grad).all()


# --- L_r: reconstruction ----------------------------------------------------------------------


def reconstruction_example() -> tuple[torch.Tensor, torch.Tensor]:
    # B = 2 images, M = 3 patches, 2 pixels per patch
    prediction = torch.tensor(
        [
            [[1.0, 2.0], [0.0, 0.0], [3.0, 1.0]],
            [[1.0, 1.0], [2.0, 2.0], [0.0, 0.0]],
        ]
    )
    target = torch.tensor(
        [
            [[0.0, 0.0], [0.0, 1.0], [1.0, 1.0]],
            [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]],
        ]
    )
    return prediction, target


def test_reconstruction_loss_selected_patches():
    # per-patch MSE: image 0: (1+4)/2 = 2.5, (0+1)/2 = 0.5, (4+0)/2 = 2
    #                image 1: (1+1)/2 = 1,   (4+4)/2 = 4,   0
    # selected: image 0 patches 0 and 2, image 1 patch 1 → (2.5 + 2 + 4) / 3
    prediction, target = reconstruction_example()
    selected = torch.tensor([[True, False, True], [False, True, False]])
    loss = reconstruction_loss(prediction, target, selected)
    assert loss.item() == pytest.approx((2.5 + 2.0 + 4.0) / 3, rel=1e-6)
    # all selected: (2.5 + 0.5 + 2 + 1 + 4 + 0) / 6 = 10 / 6
    all_selected = reconstruction_loss(prediction, target, torch.ones(2, 3, dtype=torch.bool))
    assert all_selected.item() == pytest.approx(10 / 6, rel=1e-6)


def test_reconstruction_loss_nothing_selected_is_zero():
    prediction, target = reconstruction_example()
    prediction.requires_grad_(True)
    loss = reconstruction_loss(prediction, target, torch.zeros(2, 3, dtype=torch.bool))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(prediction.grad, torch.zeros_like(prediction))


def test_reconstruction_loss_gradient_only_on_selected():
    # L = (1/3) Σ_selected (1/2) Σ_pixels (p - t)² → dL/dp = 2 (p - t) / (2 · 3) on selected
    prediction, target = reconstruction_example()
    prediction.requires_grad_(True)
    selected = torch.tensor([[True, False, True], [False, True, False]])
    reconstruction_loss(prediction, target, selected).backward()
    expected = torch.zeros(2, 3, 2)
    expected[0, 0] = torch.tensor([2 * 1.0, 2 * 2.0]) / 6  # p - t = (1, 2)
    expected[0, 2] = torch.tensor([2 * 2.0, 2 * 0.0]) / 6  # p - t = (2, 0)
    expected[1, 1] = torch.tensor([2 * 2.0, 2 * 2.0]) / 6  # p - t = (2, 2)
    torch.testing.assert_close(prediction.grad, expected)
    # patches not selected receive exactly zero, even where their error is non-zero
    assert torch.equal(prediction.grad[0, 1], torch.zeros(2))
    assert torch.equal(prediction.grad[1, 0], torch.zeros(2))


# --- logcosh and Eq. 18 -----------------------------------------------------------------------


@pytest.mark.parametrize("x", [-3.0, -0.5, 0.0, 0.7, 2.0, 10.0, 30.0])
def test_logcosh_moderate(x):
    value = logcosh(torch.tensor(x))
    assert value.item() == pytest.approx(math.log(math.cosh(x)), rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("x", [1000.0, -1000.0])
def test_logcosh_large_no_overflow(x):
    # cosh(1000) overflows a float (math.cosh raises); log cosh(x) = |x| - log 2 + log(1+e^{-2|x|})
    with pytest.raises(OverflowError):
        math.cosh(x)
    t = torch.tensor(x, requires_grad=True)
    value = logcosh(t)
    assert math.isfinite(value.item())
    assert value.item() == pytest.approx(1000.0 - math.log(2.0), rel=1e-7)
    value.backward()
    # d/dx log cosh x = tanh x = ±1
    assert t.grad.item() == pytest.approx(math.copysign(1.0, x))


def test_logcosh_gradient_is_tanh():
    x = torch.tensor([-2.0, -0.3, 0.0, 0.4, 5.0], requires_grad=True)
    logcosh(x).sum().backward()
    expected = torch.tensor([math.tanh(v) for v in [-2.0, -0.3, 0.0, 0.4, 5.0]])
    torch.testing.assert_close(x.grad, expected)


def test_hash_alignment_loss_hand():
    # N = 2, 2 bits. h^a - h = [[0.5 - 0, -1 - 0.5], [1 - 1, 1 - (-1)]] = [[0.5, -1.5], [0, 2]]
    # L_hal = (1 / (2·2)) (log cosh 0.5 + log cosh 1.5 + log cosh 0 + log cosh 2)
    h_mixed = torch.tensor([[0.5, -1.0], [1.0, 1.0]])
    h = torch.tensor([[0.0, 0.5], [1.0, -1.0]])
    expected = (
        math.log(math.cosh(0.5))
        + math.log(math.cosh(-1.5))
        + math.log(math.cosh(0.0))
        + math.log(math.cosh(2.0))
    ) / 4
    assert hash_alignment_loss(h_mixed, h).item() == pytest.approx(expected, rel=1e-6)
    # identical codes: zero
    assert hash_alignment_loss(h, h).item() == 0.0


def test_hash_alignment_loss_normalised_by_2n_not_bits():
    # N = 3, 4 bits, every difference 1: (1/6) · 12 · log cosh 1 = 2 log cosh 1
    h = torch.zeros(3, 4)
    value = hash_alignment_loss(h + 1.0, h)
    assert value.item() == pytest.approx(2 * math.log(math.cosh(1.0)), rel=1e-6)


# --- Eq. 12: classification -------------------------------------------------------------------


def test_classification_loss_hand_softmax():
    # logits (1, 2, 0) label 1: -log(e² / (e¹ + e² + e⁰))
    # logits (0.5, 0.5, -1) label 2: -log(e⁻¹ / (e^0.5 + e^0.5 + e⁻¹))
    logits = torch.tensor([[1.0, 2.0, 0.0], [0.5, 0.5, -1.0]])
    labels = torch.tensor([1, 2])
    ce_1 = -math.log(math.exp(2.0) / (math.exp(1.0) + math.exp(2.0) + math.exp(0.0)))
    ce_2 = -math.log(math.exp(-1.0) / (2 * math.exp(0.5) + math.exp(-1.0)))
    loss = classification_loss(logits, labels)
    assert loss.item() == pytest.approx((ce_1 + ce_2) / 2, rel=1e-6)


def test_classification_loss_half_precision_logits():
    # logits are upcast to float32 before the softmax: same value as the float32 example
    logits = torch.tensor([[1.0, 2.0, 0.0], [0.5, 0.5, -1.0]])
    labels = torch.tensor([1, 2])
    half = classification_loss(logits.half(), labels)
    assert half.dtype == torch.float32
    assert half.item() == pytest.approx(classification_loss(logits, labels).item(), rel=1e-6)


# --- Eq. 16: total loss -----------------------------------------------------------------------

PARTS = {"cls": 0.7, "h": 0.3, "r": 0.2, "hal": 0.1}
ALPHA, BETA = 2.0, 0.5


@pytest.mark.parametrize(
    ("use", "expected"),
    [
        # Table IV: L_cls only
        (frozenset({"cls"}), 0.7),
        # α L_h = 2 · 0.3
        (frozenset({"h"}), 0.6),
        # 0.7 + 2 · 0.3
        (frozenset({"cls", "h"}), 1.3),
        # 0.7 + 2 · 0.3 + 0.5 · (0.2 + 0.1)
        (frozenset({"cls", "h", "rec"}), 1.45),
    ],
)
def test_total_loss_table_iv_subsets(use, expected):
    parts = {name: torch.tensor(value) for name, value in PARTS.items()}
    assert total_loss(parts, ALPHA, BETA, use).item() == pytest.approx(expected, rel=1e-6)


def test_total_loss_unused_terms_do_not_contribute():
    # terms outside `use` are skipped, not multiplied by 0: a NaN there does not leak through,
    # and they receive no gradient
    cls = torch.tensor(0.7, requires_grad=True)
    h = torch.tensor(0.3, requires_grad=True)
    r = torch.tensor(float("nan"), requires_grad=True)
    parts = {"cls": cls, "h": h, "r": r, "hal": torch.tensor(float("nan"))}
    loss = total_loss(parts, ALPHA, BETA, frozenset({"cls", "h"}))
    assert loss.item() == pytest.approx(1.3, rel=1e-6)
    loss.backward()
    assert cls.grad.item() == 1.0
    assert h.grad.item() == ALPHA
    assert r.grad is None


def test_total_loss_missing_parts_count_as_zero_and_gradients():
    # "rec" with only L_r present: 0.7 + 2 · 0.3 + 0.5 · (0.2 + 0) = 1.4
    cls = torch.tensor(0.7, requires_grad=True)
    h = torch.tensor(0.3, requires_grad=True)
    r = torch.tensor(0.2, requires_grad=True)
    loss = total_loss({"cls": cls, "h": h, "r": r}, ALPHA, BETA, frozenset({"cls", "h", "rec"}))
    assert loss.item() == pytest.approx(1.4, rel=1e-6)
    loss.backward()
    assert (cls.grad.item(), h.grad.item(), r.grad.item()) == (1.0, ALPHA, BETA)
    # nothing used: 0
    assert total_loss({"cls": cls}, ALPHA, BETA, frozenset()).item() == 0.0
