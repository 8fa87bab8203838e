"""DSH (plugins/deephash/dsh.py): its loss on three codes worked out by hand, the similarity
mutation, learning on the separable set, and a run on digits."""

from __future__ import annotations

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
from plugins.deephash import dsh  # noqa: E402
from zshbench.errors import ZshbenchError  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

U = [[0.5, -1.5], [1.0, -0.5], [-1.0, 2.0]]
LABELS = [0, 0, 1]
MARGIN, ALPHA = 12.0, 0.1


class FixedNetwork(torch.nn.Module):
    bits = 2

    def hash_images(self, images):
        return torch.tensor(U)


def by_hand() -> dict[str, float]:
    # pairs i < j: (1,2) similar, d² = 0.5² + 1² = 1.25 → 1.25
    # (1,3) dissimilar, d² = 1.5² + 3.5² = 14.5 → max(12 − 14.5, 0) = 0
    # (2,3) dissimilar, d² = 2² + 2.5² = 10.25 → 12 − 10.25 = 1.75
    contrastive = (1.25 + 0.0 + 1.75) / (3 * 2)
    # Σ_k ||u_k| − 1|: (0.5 + 0.5) + (0 + 0.5) + (0 + 1), per image
    regulariser = (1.0 + 0.5 + 1.0) / 3
    return {
        "contrastive": contrastive,
        "regulariser": regulariser,
        "loss": contrastive + ALPHA * regulariser,
    }


def objective_parts() -> dict[str, float]:
    objective = dsh.DSHObjective(FixedNetwork(), MARGIN, ALPHA)
    batch = Batch(torch.zeros(3, 3, 4, 4), torch.tensor(LABELS), torch.arange(3), None, 1)
    return {k: float(v) for k, v in objective(batch).items()}


def test_loss_on_three_codes_equals_the_hand_computation():
    measured, expected = objective_parts(), by_hand()
    for key, value in expected.items():
        assert measured[key] == pytest.approx(value, rel=1e-6), key


@pytest.mark.parametrize("mutation", ["similarity inverted", "margin on the wrong pairs"])
def test_a_mutated_key_term_changes_the_loss(mutation, monkeypatch):
    if mutation == "similarity inverted":
        real = dsh.same_class
        monkeypatch.setattr(dsh, "same_class", lambda labels: ~real(labels))
    else:  # the margin hinge applied to similar pairs, the squared distance to dissimilar ones
        real_loss = dsh.dsh_loss
        monkeypatch.setattr(dsh, "dsh_loss", lambda u, s, m, a: real_loss(u, ~s.bool(), m, a))
    assert objective_parts()["loss"] != pytest.approx(by_hand()["loss"], rel=1e-3)


@pytest.mark.slow
def test_it_learns_and_beats_lsh_on_the_separable_set():
    fixture = separable_set(seed=0)
    learned = retrieval_map(dsh.DSH(16, **LEARN), fixture)
    assert learned > lsh_map(fixture) + 0.15, learned


def test_bad_options_are_one_line_errors():
    with pytest.raises(ZshbenchError, match="DSH option margin must be a number ≥ 0"):
        dsh.DSH(16, margin=-1.0)
    with pytest.raises(ZshbenchError, match="DSH option alpha must be a number ≥ 0"):
        dsh.DSH(16, alpha="much")


def test_end_to_end_on_digits(tmp_path):
    record = run_on_digits(tmp_path, "dsh")
    training = check_record(record, "dsh", accuracy_by="nearest class-centre code")
    assert record["config"]["resolved"]["margin"] == 32.0  # 2k for k = 16 bits
    assert {"loss", "contrastive", "regulariser"} <= set(training["final_losses"])
