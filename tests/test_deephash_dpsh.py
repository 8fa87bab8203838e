"""DPSH (plugins/deephash/dpsh.py): its loss against the memory of training codes worked out by
hand, the mutations of its key terms, learning on the separable set, and a run on digits."""

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
from plugins.deephash import common, dpsh  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# Three training images (labels 0, 1, 0) whose untrained outputs fill the memory; a batch of
# images 2 and 0 (both label 0) whose outputs the network now gives.
TRAIN_LABELS = [0, 1, 0]
INITIAL = [[0.2, 0.3], [-0.4, 0.1], [1.0, -2.0]]
BATCH_INDEX = [2, 0]
BATCH_U = [[0.5, -1.0], [1.5, 0.5]]
ETA = 10.0


class FixedNetwork(torch.nn.Module):
    bits = 2

    def hash_images(self, images):
        return torch.tensor(BATCH_U)


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def by_hand(reference_images: int) -> dict[str, float]:
    # the memory after the batch is written: row 2 ← (0.5, −1), row 0 ← (1.5, 0.5)
    # Θ = ½ u·U_j, s = 1 for the label-0 rows 0 and 2:
    # u = (0.5, −1):  U_0 → ½(0.75 − 0.5) = 0.125,  U_1 → ½(−0.2 − 0.1) = −0.15,
    #                 U_2 → ½(0.25 + 1) = 0.625
    # u = (1.5, 0.5): U_0 → ½(2.25 + 0.25) = 1.25,   U_1 → ½(−0.6 + 0.05) = −0.275,
    #                 U_2 → ½(0.75 − 0.5) = 0.125
    pairs = [(0.125, 1), (-0.15, 0), (0.625, 1), (1.25, 1), (-0.275, 0), (0.125, 1)]
    likelihood = sum(softplus(theta) - s * theta for theta, s in pairs) / (3 * 2)
    # b = sgn(u) = (1, −1) and (1, 1): ‖b − u‖² = 0.25 + 0 and 0.25 + 0.25
    divisor = (reference_images or 3) * 2
    quantisation = (0.25 + 0.5) / divisor
    return {
        "likelihood": likelihood,
        "quantisation": quantisation,
        "loss": likelihood + ETA * quantisation,
    }


def session() -> SimpleNamespace:
    return SimpleNamespace(
        labels=torch.tensor(TRAIN_LABELS), encode_training_set=lambda: torch.tensor(INITIAL)
    )


def objective_parts(reference_images: int = 0) -> dict[str, float]:
    objective = dpsh.DPSHObjective(FixedNetwork(), 3, ETA, reference_images)
    objective.start_epoch(session())
    batch = Batch(torch.zeros(2, 3, 4, 4), torch.tensor([0, 0]), torch.tensor(BATCH_INDEX), None, 1)
    return {k: float(v) for k, v in objective(batch).items()}


@pytest.mark.parametrize("reference_images", [0, 5000])
def test_loss_against_the_memory_equals_the_hand_computation(reference_images):
    measured, expected = objective_parts(reference_images), by_hand(reference_images)
    for key, value in expected.items():
        assert measured[key] == pytest.approx(value, rel=1e-6), key


@pytest.mark.parametrize("mutation", ["similarity inverted", "memory not written"])
def test_a_mutated_key_term_changes_the_loss(mutation, monkeypatch):
    if mutation == "similarity inverted":
        real = dpsh.same_class
        monkeypatch.setattr(dpsh, "same_class", lambda a, b: ~real(a, b))
    else:  # pairs against stale codes: the batch's own rows keep the untrained outputs
        monkeypatch.setattr(common.CodeMemory, "write", lambda self, index, values: None)
    assert objective_parts()["loss"] != pytest.approx(by_hand(0)["loss"], rel=1e-3)


def test_memory_is_filled_once_then_follows_the_batches():
    objective = dpsh.DPSHObjective(FixedNetwork(), 3, ETA, 0)
    objective.start_epoch(session())
    torch.testing.assert_close(objective.memory.values, torch.tensor(INITIAL))
    objective(Batch(torch.zeros(2, 3, 4, 4), torch.tensor([0, 0]), torch.tensor([2, 0]), None, 1))
    objective.start_epoch(session())  # a later epoch keeps what the batches wrote
    expected = torch.tensor([BATCH_U[1], INITIAL[1], BATCH_U[0]])
    torch.testing.assert_close(objective.memory.values, expected)


@pytest.mark.slow
def test_it_learns_and_beats_lsh_on_the_separable_set():
    fixture = separable_set(seed=0)
    learned = retrieval_map(dpsh.DPSH(16, **LEARN), fixture)
    assert learned > lsh_map(fixture) + 0.15, learned


def test_end_to_end_on_digits(tmp_path):
    record = run_on_digits(tmp_path, "dpsh")
    training = check_record(record, "dpsh", accuracy_by="nearest class-centre code")
    assert {"loss", "likelihood", "quantisation"} <= set(training["final_losses"])
