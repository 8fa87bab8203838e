"""CSQ (plugins/deephash/csq.py): hash centres (Hadamard rows at K/2 bits apart, Bernoulli where
Hadamard cannot serve), the loss worked out by hand, the mutations of its key terms, learning on
the separable set, and a run on digits."""

from __future__ import annotations

import itertools
import math

import numpy as np
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
from plugins.deephash import csq  # noqa: E402
from zshbench.errors import ZshbenchError  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def hamming_distances(centres: np.ndarray) -> list[int]:
    return [int((a != b).sum()) for a, b in itertools.combinations(centres, 2)]


def test_hadamard_centres_are_k_over_2_apart_and_their_negations_follow():
    centres, kind = csq.hash_centres(num_classes=16, bits=16, seed=0)
    assert kind == "hadamard" and centres.shape == (16, 16)
    assert set(np.unique(centres).tolist()) == {-1.0, 1.0}
    assert set(hamming_distances(centres)) == {8}  # every pair of rows: K/2 bits apart
    more, kind = csq.hash_centres(num_classes=20, bits=16, seed=0)
    assert kind == "hadamard"
    assert np.array_equal(more[16:], -more[:4])  # rows of −H_K after H_K
    assert set(hamming_distances(more)) == {8, 16}


@pytest.mark.parametrize("classes, bits", [(7, 24), (40, 16), (150, 48)])
@pytest.mark.slow
def test_bernoulli_centres_where_hadamard_cannot_serve(classes, bits):
    centres, kind = csq.hash_centres(num_classes=classes, bits=bits, seed=3)
    assert kind == "bernoulli" and centres.shape == (classes, bits)
    assert set(np.unique(centres).tolist()) == {-1.0, 1.0}
    again, _ = csq.hash_centres(num_classes=classes, bits=bits, seed=3)
    assert np.array_equal(centres, again)  # seeded
    other, _ = csq.hash_centres(num_classes=classes, bits=bits, seed=4)
    assert not np.array_equal(centres, other)
    # the best of the draws is at least as far apart as a single fair draw
    single = np.where(np.random.default_rng(3).random((classes, bits)) < 0.5, -1.0, 1.0)
    assert min(hamming_distances(centres)) >= min(hamming_distances(single))
    assert np.mean(hamming_distances(centres)) == pytest.approx(bits / 2, rel=0.15)


Z = [[0.5, -1.0], [2.0, 0.0]]
CENTRES = [[1.0, -1.0], [-1.0, -1.0]]
LABELS = [0, 1]
LAM = 0.5


class FixedNetwork(torch.nn.Module):
    bits = 2

    def hash_logits(self, images):
        return torch.tensor(Z)


def by_hand() -> dict[str, float]:
    central, quantisation = 0.0, 0.0
    for row, label in zip(Z, LABELS, strict=True):
        for z, c in zip(row, CENTRES[label], strict=True):
            h = math.tanh(z)
            h01, c01 = (h + 1) / 2, (c + 1) / 2
            central += -(c01 * math.log(h01) + (1 - c01) * math.log(1 - h01))
            quantisation += math.log(math.cosh(abs(h) - 1))
    central, quantisation = central / 4, quantisation / 4  # means over 2 images × 2 bits
    return {"central": central, "quantisation": quantisation, "loss": central + LAM * quantisation}


def objective_parts(centres=CENTRES) -> dict[str, float]:
    objective = csq.CSQObjective(FixedNetwork(), torch.tensor(centres), LAM)
    batch = Batch(torch.zeros(2, 3, 4, 4), torch.tensor(LABELS), torch.arange(2), None, 1)
    return {k: float(v) for k, v in objective(batch).items()}


def test_loss_equals_the_hand_computation():
    measured, expected = objective_parts(), by_hand()
    for key, value in expected.items():
        assert measured[key] == pytest.approx(value, rel=1e-6), key


@pytest.mark.parametrize("mutation", ["centres inverted", "one centre for every class"])
def test_a_mutated_key_term_changes_the_loss(mutation):
    if mutation == "centres inverted":  # BCE towards the opposite of each class's centre
        centres = [[-v for v in row] for row in CENTRES]
    else:
        centres = [CENTRES[0], CENTRES[0]]
    assert objective_parts(centres)["loss"] != pytest.approx(by_hand()["loss"], rel=1e-3)


def test_saturated_codes_keep_the_loss_finite():
    z = torch.tensor([[40.0, -40.0]], requires_grad=True)
    parts = csq.csq_loss(z, torch.tensor([[-1.0, 1.0]]), 0.05)
    parts["loss"].backward()
    assert torch.isfinite(parts["loss"]) and torch.isfinite(z.grad).all()


@pytest.mark.slow
def test_it_learns_and_beats_lsh_on_the_separable_set():
    fixture = separable_set(seed=0)
    learned = retrieval_map(csq.CSQ(16, **LEARN), fixture)
    assert learned > lsh_map(fixture) + 0.15, learned


def test_bad_options_are_one_line_errors():
    with pytest.raises(ZshbenchError, match="CSQ option lam must be a number ≥ 0"):
        csq.CSQ(16, lam=-0.1)


def test_end_to_end_on_digits(tmp_path):
    record = run_on_digits(tmp_path, "csq")
    training = check_record(record, "csq", accuracy_by="nearest class-centre code")
    # digits has 7 seen classes: 16 bits is a power of two, so Hadamard rows, K/2 apart
    assert training["hash_centres"] == {"kind": "hadamard", "min_distance": 8.0,
                                        "mean_distance": 8.0}  # fmt: skip
    assert {"loss", "central", "quantisation"} <= set(training["final_losses"])
