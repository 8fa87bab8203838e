"""DCH (plugins/deephash/dch.py): Eq. 7 on three unit codes worked out by hand, the mutations of
its key terms, learning on the separable set, and a run on digits."""

from __future__ import annotations

import math

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
from plugins.deephash import dch  # noqa: E402
from zshbench.errors import ZshbenchError  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

H = [[0.8, -0.6], [0.6, 0.8], [-0.8, 0.6]]  # unit vectors: cos is the inner product
LABELS = [0, 0, 1]
GAMMA, LAM = 2.0, 0.5


class FixedNetwork(torch.nn.Module):
    bits = 2

    def hash_images(self, images):
        return torch.tensor(H)


def by_hand() -> dict[str, float]:
    # cos: h1·h2 = 0.48 − 0.48 = 0, h1·h3 = −0.64 − 0.36 = −1, h2·h3 = 0
    # d = (K/2)(1 − cos), K = 2: d12 = 1, d13 = 2, d23 = 1
    # ordered pairs i ≠ j: 2 similar (1,2), (2,1); 4 dissimilar → w = 6/2 = 3 and 6/4 = 1.5
    # similar: s log(d/γ) + log(1 + γ/d) = log(1/2) + log(3) = log 1.5
    # dissimilar: log(1 + γ/d) = log 2 (d = 2), log 3 (d = 1)
    cauchy = (3 * 2 * math.log(1.5) + 1.5 * (2 * math.log(2) + 2 * math.log(3))) / 6
    # |h| = (0.8, 0.6) or (0.6, 0.8): cos with (1, 1) = 1.4/√2 for every image
    distance_to_ones = 1 - 1.4 / math.sqrt(2)
    quantisation = math.log(1 + distance_to_ones / GAMMA)
    return {"cauchy": cauchy, "quantisation": quantisation, "loss": cauchy + LAM * quantisation}


def objective_parts() -> dict[str, float]:
    objective = dch.DCHObjective(FixedNetwork(), GAMMA, LAM)
    batch = Batch(torch.zeros(3, 3, 4, 4), torch.tensor(LABELS), torch.arange(3), None, 1)
    return {k: float(v) for k, v in objective(batch).items()}


def test_eq7_on_three_codes_equals_the_hand_computation():
    measured, expected = objective_parts(), by_hand()
    for key, value in expected.items():  # 1 − cos(|h|, 1) ≈ 0.01 loses digits in fp32
        assert measured[key] == pytest.approx(value, rel=1e-5), key


@pytest.mark.parametrize("mutation", ["similarity inverted", "pairs not balanced"])
def test_a_mutated_key_term_changes_the_loss(mutation, monkeypatch):
    if mutation == "similarity inverted":
        real = dch.same_class
        monkeypatch.setattr(dch, "same_class", lambda labels: ~real(labels))
    else:
        monkeypatch.setattr(dch, "pair_weights", lambda s: 1.0 - torch.eye(s.shape[0]))
    assert objective_parts()["loss"] != pytest.approx(by_hand()["loss"], rel=1e-3)


def test_identical_codes_of_different_classes_stay_finite():
    h = torch.tensor([[0.5, 0.5], [0.5, 0.5]], requires_grad=True)
    parts = dch.dch_loss(h, torch.eye(2, dtype=torch.bool), 20.0, 0.1)
    parts["loss"].backward()
    assert torch.isfinite(parts["loss"]) and torch.isfinite(h.grad).all()


@pytest.mark.slow
def test_it_learns_and_beats_lsh_on_the_separable_set():
    fixture = separable_set(seed=0)
    learned = retrieval_map(dch.DCH(16, **LEARN), fixture)
    assert learned > lsh_map(fixture) + 0.15, learned


def test_bad_options_are_one_line_errors():
    with pytest.raises(ZshbenchError, match="DCH option gamma must be a number > 0"):
        dch.DCH(16, gamma=0.0)
    with pytest.raises(ZshbenchError, match="DCH option lam must be a number ≥ 0"):
        dch.DCH(16, lam=float("nan"))


def test_end_to_end_on_digits(tmp_path):
    record = run_on_digits(tmp_path, "dch")
    training = check_record(record, "dch", accuracy_by="nearest class-centre code")
    assert {"loss", "cauchy", "quantisation"} <= set(training["final_losses"])
