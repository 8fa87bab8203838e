"""RAZH losses (plugins/razh/losses.py, Eq. 11's θ in plugins/deep/pairs.py, which HashNet and
DCH share) against values worked out by hand on tiny tensors.

Every expected value is written as explicit scalar arithmetic (math.log / math.exp / math.cosh)
from the paper's equations, not by calling the functions under test:

* Eq. 11  θ_ij = N(N−1)/s_p (s_ij = 1) or N(N−1)/s_n (s_ij = 0), s_p, s_n counting the ordered
  pairs i ≠ j; θ_ii = 0.
* Eq. 17  L_h = (1/2N) Σ_{i≠j} θ_ij (log(1 + exp(x_ij)) − s_ij x_ij), x_ij = ½ h_iᵀh_j (the
  authors' scale, which Table VIII's α/β assume).
* Eq. 18  L_hal = (1/2N) Σ_i Σ_k logcosh(h^a_ik − h_ik).
* L_r     mean over selected patches of the per-patch mean squared pixel error.
* L_cls   mean softmax cross-entropy.
* Eq. 16  L = L_cls + α L_h + β (L_r + L_hal), restricted to the subset ``use``.
"""

from __future__ import annotations

import math

import pytest
import torch

from plugins.deep.pairs import pair_weights
from plugins.razh.losses import (
    classification_loss,
    hash_alignment_loss,
    logcosh,
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
    # labels (0, 0, 1): the ordered pairs i ≠ j are (1,2), (2,1) similar, and (1,3), (3,1),
    # (2,3), (3,2) dissimilar: s_p = 2, s_n = 4, N(N - 1) = 6; θ_p = 6/2 = 3, θ_n = 6/4 = 1.5,
    # and θ_ii = 0 (an image is not a pair with itself)
    similar = similarity([0, 0, 1])
    p, n = 3.0, 1.5
    expected = torch.tensor([[0, p, n], [p, 0, n], [n, n, 0]])
    torch.testing.assert_close(pair_weights(similar), expected)
    # a boolean S gives the same weights
    torch.testing.assert_close(pair_weights(similar.bool()), expected)


def test_pair_weights_single_class():
    # both ordered pairs similar: s_p = 2 = N(N - 1), θ = 1 off the diagonal
    weights = pair_weights(similarity([7, 7]))
    torch.testing.assert_close(weights, torch.tensor([[0.0, 1.0], [1.0, 0.0]]))


def test_pair_weights_all_distinct():
    # labels (0, 1, 2, 3): s_p = 0, s_n = 12 = N(N - 1): θ_n = 1 off the diagonal
    weights = pair_weights(similarity([0, 1, 2, 3]))
    expected = torch.ones(4, 4)
    expected.fill_diagonal_(0.0)
    torch.testing.assert_close(weights, expected)


# --- Eq. 17: pairwise hash loss ---------------------------------------------------------------


def test_pairwise_hash_loss_hand_example():
    # h1 = (1, 0.5), h2 = (0.5, -1), h3 = (-1, -2); labels (0, 0, 1)
    # h_iᵀh_j (i ≠ j): 12 = 0.5 - 0.5 = 0, 13 = -1 - 1 = -2, 23 = -0.5 + 2 = 1.5
    # x = ½ hᵀh: x12 = 0, x13 = -1, x23 = 0.75
    # similar (θ = 3): (1,2), (2,1): term log(1+e^x) - x = log 2
    # dissimilar (θ = 1.5): (1,3), (3,1), (2,3), (3,2): term log(1+e^x)
    # L = (1/2N) Σ θ term = (1/6) [3 · 2 log 2 + 1.5 (2 sp(-1) + 2 sp(0.75))]
    h = torch.tensor([[1.0, 0.5], [0.5, -1.0], [-1.0, -2.0]])
    weighted = 3 * 2 * math.log(2.0) + 1.5 * (2 * softplus(-1.0) + 2 * softplus(0.75))
    expected = weighted / 6
    loss = pairwise_hash_loss(h, similarity([0, 0, 1]))
    assert loss.ndim == 0
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # with S inverted the similar pair loses its -x term and the dissimilar ones gain theirs
    inverted = pairwise_hash_loss(h, 1 - similarity([0, 0, 1]))
    assert inverted.item() != pytest.approx(expected, rel=1e-3)


def test_pairwise_hash_loss_is_the_authors_scale_not_a_mean():
    # Table VIII's α was tuned for (1/2N) Σ_{i≠j} θ ℓ = (N - 1)/2 · (mean over similar pairs +
    # mean over dissimilar pairs): 7.5 times the per-kind means at the paper's batch of 16.
    g = torch.Generator().manual_seed(5)
    h = torch.tanh(torch.randn(16, 24, generator=g))
    labels = [i % 4 for i in range(16)]
    x = 0.5 * (h @ h.T).double()
    same = similarity(labels).bool()
    off = ~torch.eye(16, dtype=torch.bool)
    similar_terms = (torch.log1p(torch.exp(x)) - x)[same & off]
    dissimilar_terms = torch.log1p(torch.exp(x))[~same & off]
    means = similar_terms.mean() + dissimilar_terms.mean()
    loss = pairwise_hash_loss(h, similarity(labels))
    assert loss.item() == pytest.approx(7.5 * means.item(), rel=1e-5)


def test_pairwise_hash_loss_hand_gradient():
    # Two samples, 1-bit codes h1 = a, h2 = b, different labels: s_n = 2, θ = 2/2 = 1.
    # L = (1/4) · 2 · sp(ab/2) = sp(ab/2) / 2
    # dL/da = ½ σ(ab/2) · b/2 = b σ(ab/2) / 4, dL/db = a σ(ab/2) / 4
    a, b = 0.8, -0.3
    h = torch.tensor([[a], [b]], requires_grad=True)
    pairwise_hash_loss(h, similarity([0, 1])).backward()

    def sigmoid(x: float) -> float:
        return 1.0 / (1.0 + math.exp(-x))

    grad_a = b * sigmoid(a * b / 2) / 4
    grad_b = a * sigmoid(a * b / 2) / 4
    torch.testing.assert_close(h.grad, torch.tensor([[grad_a], [grad_b]]))


def test_pairwise_hash_loss_single_class():
    # h1 = (1, 0.5), h2 = (0.5, -1), same label: θ = 1 off the diagonal; x12 = x21 = 0.
    # L = (1/4) · 2 (log(1 + e^0) - 0) = log(2) / 2
    h = torch.tensor([[1.0, 0.5], [0.5, -1.0]], requires_grad=True)
    expected = math.log(2.0) / 2
    loss = pairwise_hash_loss(h, similarity([3, 3]))
    assert math.isfinite(loss.item())
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    assert torch.isfinite(h.grad).all()


def test_pairwise_hash_loss_huge_inner_products_exact():
    # 128-bit ±1 code v scaled by c = 10: h1 = c v, h2 = -c v; x12 = x21 = -½ c² 128 = -6400.
    # Different labels, θ = 1: L = (1/4) · 2 log(1 + e^-6400) ≈ 0
    # Same label, θ = 1:       L = (1/4) · 2 (log(1 + e^-6400) + 6400) ≈ 3200
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
    # Same label: L = (1/4) · 2 (sp(x12) - x12), dx12/dh1 = ½ h2:
    # dL/dh1 = ½ (σ(-6400) - 1) · ½ h2 = -¼ h2 = 2.5 v; by symmetry dL/dh2 = -2.5 v.
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
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    s_p = sum(1 for i, j in pairs if labels[i] == labels[j])
    s_n = len(pairs) - s_p
    total = 0.0
    for i, j in pairs:
        x = 0.5 * sum(float(a) * float(b) for a, b in zip(codes[i], codes[j], strict=True))
        s = 1.0 if labels[i] == labels[j] else 0.0
        theta = len(pairs) / s_p if s else len(pairs) / s_n
        total += theta * (math.log1p(math.exp(x)) - s * x)
    expected = total / (2 * n)

    h = torch.tensor(codes, dtype=torch.float32, requires_grad=True)
    loss = pairwise_hash_loss(h, similarity(labels))
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    loss.backward()
    assert torch.isfinite(h.grad).all()


def test_pairwise_hash_loss_inner_products_in_fp32_under_bf16_autocast():
    # bf16 keeps 8 bits of mantissa: 128-bit inner products of tanh codes would be rounded
    g = torch.Generator().manual_seed(2)
    h = torch.tanh(torch.randn(8, 128, generator=g) * 3)
    labels = similarity([0, 1, 0, 2, 1, 1, 3, 3])
    reference = pairwise_hash_loss(h, labels)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = pairwise_hash_loss(h, labels)
    assert under_autocast.dtype == torch.float32
    assert under_autocast.item() == pytest.approx(reference.item(), rel=1e-6)


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


# ------------------------------------------------------------------ L_h's scale and the batch


class CodesOnly(torch.nn.Module):
    """A stand-in RAZH network: h = 0.9 · the Hadamard row of each image's class, uniform
    logits, no reconstruction; enough for L_cls and L_h."""

    ROWS = torch.tensor([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]]).float()

    def forward(self, images, labels, generator=None, reconstruct=True):
        from plugins.razh.model import TrainOutputs

        count = len(labels)
        return TrainOutputs(
            h=0.9 * self.ROWS[labels],
            logits=torch.zeros(count, 4),
            target=torch.zeros(count, 1, 1),
            reconstruction=None,
            masked=torch.zeros(count, 1, dtype=torch.bool),
        )


@pytest.mark.parametrize("batch", [16, 32, 64])
def test_l_h_on_the_authors_batch_scale_gives_the_same_balance_at_any_batch(batch):
    """Same classes, same codes, batches of 16, 32, 64: L_cls is a mean and does not move, and
    so must α·L_h. By hand: similar pairs have x = ½·0.81·4 = 1.62, dissimilar ones x = 0
    (orthogonal rows); θ turns the pair sum into N(N−1)(t_s + t_d), so Eq. 17 is
    (N − 1)/2 · (t_s + t_d), and on the scale of 16 images 15/2 · (t_s + t_d)."""
    from plugins.razh.objective import razh_loss_parts

    labels = torch.arange(batch) % 4
    t_similar, t_dissimilar = softplus(1.62) - 1.62, math.log(2.0)
    parts = razh_loss_parts(CodesOnly(), None, labels, None, 1.0, 0.0, frozenset({"cls", "h"}), 16)
    assert float(parts["h"]) == pytest.approx(7.5 * (t_similar + t_dissimilar), rel=1e-6)
    assert float(parts["cls"]) == pytest.approx(math.log(4.0), rel=1e-6)
    raw = razh_loss_parts(CodesOnly(), None, labels, None, 1.0, 0.0, frozenset({"cls", "h"}))
    assert float(raw["h"]) == pytest.approx((batch - 1) / 2 * (t_similar + t_dissimilar), rel=1e-6)


def test_razh_refers_l_h_to_the_authors_batch_by_default():
    from plugins.razh.losses import AUTHORS_BATCH, hash_loss_batch_scale
    from plugins.razh.method import RAZH

    assert RAZH.default_options["hash_loss_batch"].default == AUTHORS_BATCH == 16
    assert hash_loss_batch_scale(32, 16) == pytest.approx(15 / 31)
    assert hash_loss_batch_scale(16, 16) == 1.0 and hash_loss_batch_scale(32, None) == 1.0
