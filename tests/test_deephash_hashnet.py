"""HashNet (plugins/deephash/hashnet.py): the weighted pairwise loss on tanh(βz) worked out by hand,
the continuation schedule, the mutations of its key terms, learning on the separable set, and a
run on digits."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")

from deephash_fixture import (  # noqa: E402
    LEARN,
    check_record,
    lsh_map,
    retrieval_map,
    run_on_digits,
    separable_set,
)

from plugins.deep.engine import Batch  # noqa: E402
from plugins.deephash import hashnet  # noqa: E402
from zshbench.errors import ZshbenchError  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

Z = [[0.5, -1.0], [1.0, 0.25], [-0.5, 0.5]]
LABELS = [0, 0, 1]
ALPHA = 0.5
# β = (1 + γ T (e − 1)/E)^p with γ = 0.03, T = 100, p = 0.5: epoch 2 of a 1-epoch horizon → 2
SCHEDULE = {"gamma": 0.03, "power": 0.5, "iterations": 100.0}


class FixedNetwork(torch.nn.Module):
    bits = 2

    def hash_logits(self, images):
        return torch.tensor(Z)


def by_hand(beta: float) -> float:
    h = [[math.tanh(beta * v) for v in row] for row in Z]
    total = 0.0
    # ordered pairs i ≠ j: 2 similar (w = 6/2 = 3), 4 dissimilar (w = 6/4 = 1.5)
    for i in range(3):
        for j in range(3):
            if i == j:
                continue
            similar = LABELS[i] == LABELS[j]
            x = ALPHA * (h[i][0] * h[j][0] + h[i][1] * h[j][1])
            term = math.log(1 + math.exp(x)) - (x if similar else 0.0)
            total += (3.0 if similar else 1.5) * term
    return total / 6


def session(epoch: int, epochs: int, schedule_epochs: int | None = None) -> SimpleNamespace:
    return SimpleNamespace(
        epoch=epoch, settings=SimpleNamespace(epochs=epochs, schedule_epochs=schedule_epochs)
    )


def objective_loss(epoch: int = 2, epochs: int = 1) -> float:
    objective = hashnet.HashNetObjective(FixedNetwork(), ALPHA, **SCHEDULE)
    objective.start_epoch(session(epoch, epochs))
    batch = Batch(torch.zeros(3, 3, 4, 4), torch.tensor(LABELS), torch.arange(3), None, epoch)
    parts = objective(batch)
    assert float(parts["beta"]) == pytest.approx(objective.beta)
    return float(parts["loss"])


def test_weighted_loss_on_tanh_beta_z_equals_the_hand_computation():
    assert objective_loss(epoch=2, epochs=1) == pytest.approx(by_hand(2.0), rel=1e-6)
    assert objective_loss(epoch=1, epochs=1) == pytest.approx(by_hand(1.0), rel=1e-6)


def test_continuation_follows_the_authors_curve_over_the_schedule_horizon():
    authors = {"gamma": 0.005, "power": 0.5, "iterations": 10000}
    objective = hashnet.HashNetObjective(FixedNetwork(), ALPHA, **authors)
    betas = []
    for epoch in (1, 11, 21):
        objective.start_epoch(session(epoch, 20))
        betas.append(objective.beta)
    # β = (1 + 0.005 · 10,000 · (e − 1)/20)^0.5: 1, √26, √51 (the authors' β after 10,000 steps)
    assert betas == pytest.approx([1.0, math.sqrt(26.0), math.sqrt(51.0)])
    # a retrain stopping at epoch 7 of a 40-epoch schedule has that schedule's β
    objective.start_epoch(session(7, 7, schedule_epochs=40))
    assert objective.beta == pytest.approx(math.sqrt(1 + 50 * 6 / 40))


@pytest.mark.parametrize("mutation", ["similarity inverted", "no continuation"])
def test_a_mutated_key_term_changes_the_loss(mutation, monkeypatch):
    if mutation == "similarity inverted":
        real = hashnet.same_class
        monkeypatch.setattr(hashnet, "same_class", lambda labels: ~real(labels))
    else:
        monkeypatch.setattr(hashnet, "continuation_beta", lambda *args: 1.0)
    assert objective_loss(epoch=2, epochs=1) != pytest.approx(by_hand(2.0), rel=1e-3)


def test_bad_options_are_one_line_errors():
    with pytest.raises(ZshbenchError, match="HashNet option alpha must be a number > 0 or null"):
        hashnet.HashNet(16, alpha=0.0)  # a zero sigmoid parameter flattens the loss
    with pytest.raises(ZshbenchError, match="HashNet option beta_power must be a number ≥ 0"):
        hashnet.HashNet(16, beta_power=-1)


@pytest.mark.slow
def test_it_learns_and_beats_lsh_on_the_separable_set():
    fixture = separable_set(seed=0)
    learned = retrieval_map(hashnet.HashNet(16, **LEARN), fixture)
    assert learned > lsh_map(fixture) + 0.15, learned


def test_end_to_end_on_digits(tmp_path):
    record = run_on_digits(tmp_path, "hashnet")
    training = check_record(record, "hashnet", accuracy_by="nearest class-centre code")
    assert record["config"]["resolved"]["alpha"] == pytest.approx(10 / 16)  # the authors' 10/K
    # β per epoch in the record: epoch 1 of any schedule has β = 1
    assert [epoch["beta"] for epoch in training["history"]["final"]] == [1.0]
    assert 0.0 <= training["final_losses"]["saturation"] <= 1.0
