"""AMVH: each loss term by hand, the adversarial players' gradients kept apart, the mutation of
its adversarial term, learning, and digits end to end."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from deephash_fixture import (  # noqa: E402
    EASY_TRAINING,
    check_record,
    easy_set,
    lsh_map,
    run_on_digits,
)

from plugins.deep.engine import Batch  # noqa: E402
from plugins.deephash import amvh  # noqa: E402
from plugins.deephash.label_similarity import label_rows  # noqa: E402
from zshbench.errors import ZshbenchError  # noqa: E402
from zshbench.method import RunContext  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_pair_loss_by_hand_with_multilabel_similarity():
    # three codes; labels {0}, {0, 1}, {1}: cosines s12 = 1/√2, s13 = 0, s23 = 1/√2
    h = torch.tensor([[1.0, -1.0], [0.5, 0.5], [-1.0, 0.0]])
    rows = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    # θ = ½ hᵢᵀhⱼ: θ12 = 0, θ13 = -0.5, θ23 = -0.25
    r = 1 / math.sqrt(2)
    terms = [softplus(0.0) - r * 0.0, softplus(-0.5) - 0.0, softplus(-0.25) - r * -0.25]
    expected = 2 * sum(terms) / 6  # ordered pairs: each unordered pair twice, 6 in all
    assert float(amvh.multilabel_pair_loss(h, rows)) == pytest.approx(expected)
    # single labels reduce to 1 / 0 similarity
    single = label_rows(torch.tensor([0, 0, 1]), 2)
    h2 = torch.tensor([[1.0, 1.0], [1.0, 0.0], [0.0, -1.0]])
    # θ12 = 0.5 (similar), θ13 = -0.5, θ23 = 0
    expected2 = 2 * (softplus(0.5) - 0.5 + softplus(-0.5) + softplus(0.0)) / 6
    assert float(amvh.multilabel_pair_loss(h2, single)) == pytest.approx(expected2)


def test_quantisation_and_variational_terms_by_hand():
    h = torch.tensor([[0.5, -0.8], [-0.1, 0.9]])
    # (1 - 0.5)² + (-1 + 0.8)² = 0.29; (-1 + 0.1)² + (1 - 0.9)² = 0.82; mean / 2 bits
    assert float(amvh.quantisation_loss(h)) == pytest.approx((0.29 + 0.82) / 2 / 2)
    reconstruction = torch.tensor([[1.0, 0.0]])
    target = torch.tensor([[0.0, 2.0]])
    mu = torch.tensor([[1.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(2.0)]])
    # error (1 + 4) / 2; KL = -½ Σ (1 + logσ² − μ² − σ²) = -½ ((1 + 0 − 1 − 1) + (1 + ln2 − 0 − 2))
    kl = -0.5 * ((1 + 0 - 1 - 1) + (1 + math.log(2.0) - 0 - 2))
    expected = 5 / 2 + kl / 2
    assert float(amvh.variational_loss(reconstruction, target, mu, logvar)) == pytest.approx(
        expected
    )


def test_adversarial_terms_by_hand_and_their_labels_matter():
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 1.0])
    # BCE(real, 1) = mean softplus(-x); BCE(fake, 0) = mean softplus(x)
    d = (softplus(-2.0) + softplus(0.0)) / 2 + (softplus(-1.0) + softplus(1.0)) / 2
    g = (softplus(1.0) + softplus(-1.0)) / 2
    assert float(amvh.discriminator_loss(real, fake)) == pytest.approx(d)
    assert float(amvh.generator_loss(fake)) == pytest.approx(g)
    # mutation of the key term: real and synthetic swapped for the discriminator is caught
    assert float(amvh.discriminator_loss(fake, real)) != pytest.approx(d)


class TinyEncoder(torch.nn.Module):
    embed_dim = 6

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 6)

    def forward_features(self, x):
        return self.linear(x.flatten(1))[:, None, :]


def objective_and_batch():
    torch.manual_seed(0)
    from plugins.deep.network import HashingNetwork

    network = HashingNetwork(TinyEncoder(), 4)
    objective = amvh.AMVHObjective(network, 2, latent_dim=3, hidden=5, quant_weight=0.1,
                                   vae_weight=1.0, adv_weight=0.1)  # fmt: skip
    batch = Batch(
        torch.randn(6, 1, 2, 2),
        torch.tensor([0, 0, 0, 1, 1, 1]),
        torch.arange(6),
        torch.Generator().manual_seed(0),
        1,
    )
    return objective, batch


def gradients(objective, batch, term: str) -> dict[str, bool]:
    """Which modules the gradient of one loss term reaches."""
    objective.zero_grad(set_to_none=True)
    parts = objective(batch)
    parts[term].backward()
    touched = {}
    for name, module in (
        ("generator", objective.generator),
        ("discriminator", objective.discriminator),
        ("hash", objective.network.hash_layer),
        ("backbone", objective.network.encoder),
    ):
        touched[name] = any(
            p.grad is not None and bool(p.grad.abs().sum() > 0) for p in module.parameters()
        )
    return touched


def test_each_player_is_trained_by_its_own_terms_only():
    objective, batch = objective_and_batch()
    assert gradients(objective, batch, "disc") == {
        "generator": False, "discriminator": True, "hash": False, "backbone": False,
    }  # fmt: skip
    assert gradients(objective, batch, "gen") == {
        "generator": True, "discriminator": False, "hash": False, "backbone": False,
    }  # fmt: skip
    # the variational term trains the generator only (real features are its fixed target)
    assert gradients(objective, batch, "vae") == {
        "generator": True, "discriminator": False, "hash": False, "backbone": False,
    }  # fmt: skip
    # codes of real and synthetic samples train the hashing network, not the generator
    assert gradients(objective, batch, "pair") == {
        "generator": False, "discriminator": False, "hash": True, "backbone": True,
    }  # fmt: skip
    parts = objective(batch)
    expected = (
        parts["pair"] + 0.1 * parts["quant"] + parts["vae"] + 0.1 * (parts["disc"] + parts["gen"])
    )
    assert float(parts["loss"].detach()) == pytest.approx(float(expected.detach()))


def test_bad_options_are_one_line_errors():
    with pytest.raises(ZshbenchError, match="latent_dim"):
        amvh.AMVH(16, latent_dim=0)
    with pytest.raises(ZshbenchError, match="adv_weight"):
        amvh.AMVH(16, adv_weight=-1.0)
    with pytest.raises(ZshbenchError, match="AMVH option hidden must be a whole number ≥ 1"):
        amvh.AMVH(16, hidden=0)
    with pytest.raises(ZshbenchError, match="AMVH option quant_weight must be a number ≥ 0"):
        amvh.AMVH(16, quant_weight=-0.5)


@pytest.mark.slow
def test_amvh_learns_the_easy_set_better_than_lsh():
    easy = easy_set()
    torch.manual_seed(0)
    method = amvh.AMVH(16, **EASY_TRAINING)
    context = RunContext(seed=0)
    method.fit(easy.train, context)
    learned, baseline = easy.map(method, context), lsh_map(easy, 16)
    assert learned > 0.7 and learned > baseline + 0.15


@pytest.mark.slow
def test_amvh_end_to_end_on_digits(tmp_path):
    record = run_on_digits(tmp_path, "amvh")
    training = check_record(record, "amvh")
    assert {"pair", "quant", "vae", "disc", "gen"} <= set(training["final_losses"])
