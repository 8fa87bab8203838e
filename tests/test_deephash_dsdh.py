"""DSDH (plugins/deephash/dsdh.py): the W-step against a ridge regression solved another way, the
B-step (DCC) against brute force over every code of a row, the network's terms worked out by
hand, the mutations of its key terms, learning on the separable set, and a run on digits."""

from __future__ import annotations

import itertools
import math
from types import SimpleNamespace

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
from plugins.deephash import dsdh  # noqa: E402
from zshbench.errors import ZshbenchError  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MU, NU, ETA = 1.0, 0.1, 55.0


def problem(seed: int, bits: int = 3, images: int = 5, classes: int = 2):
    """A random B (K × N) in ±1, U (K × N), one-hot Y (C × N) and W (K × C)."""
    rng = np.random.default_rng(seed)
    codes = np.where(rng.random((bits, images)) < 0.5, -1.0, 1.0)
    outputs = rng.normal(0, 0.05, (bits, images))  # small: the η term does not decide alone
    labels = rng.integers(0, classes, images)
    targets = np.eye(classes)[labels].T
    weights = rng.normal(0, 1, (bits, classes))
    return codes, outputs, targets, weights


def test_w_step_is_the_ridge_regression_of_the_labels_on_the_codes():
    codes, _, targets, _ = problem(0)
    weights = dsdh.classifier_step(torch.tensor(codes), torch.tensor(targets), MU, NU).numpy()
    # min_W μ‖Y − WᵀB‖² + ν‖W‖², one class at a time, as least squares on the stacked system
    # [Bᵀ; √(ν/μ) I] w_c = [y_c; 0]
    stacked = np.vstack([codes.T, math.sqrt(NU / MU) * np.eye(codes.shape[0])])
    for c in range(targets.shape[0]):
        rhs = np.concatenate([targets[c], np.zeros(codes.shape[0])])
        expected, *_ = np.linalg.lstsq(stacked, rhs, rcond=None)
        assert weights[:, c] == pytest.approx(expected, abs=1e-9)


def brute_force_sweep(codes, outputs, targets, weights, mu, eta):
    """Each row of B in turn set to the best of all 2^N sign vectors, the others fixed."""
    codes = codes.copy()

    def objective(b):
        return mu * ((targets - weights.T @ b) ** 2).sum() + eta * ((b - outputs) ** 2).sum()

    for k in range(codes.shape[0]):
        best = None
        for row in itertools.product([-1.0, 1.0], repeat=codes.shape[1]):
            candidate = codes.copy()
            candidate[k] = row
            value = objective(candidate)
            if best is None or value < best[0] - 1e-12:
                best = (value, candidate)
        codes = best[1]
    return codes


def dcc_matches_brute_force(seeds=range(5)) -> bool:
    for seed in seeds:
        codes, outputs, targets, weights = problem(seed)
        expected = brute_force_sweep(codes, outputs, targets, weights, MU, ETA)
        measured = dsdh.code_step(
            torch.tensor(codes), torch.tensor(outputs), torch.tensor(weights),
            torch.tensor(targets), MU, ETA,
        ).numpy()  # fmt: skip
        if not np.array_equal(measured, expected):
            return False
    return True


def test_b_step_sets_each_row_to_its_best_code_given_the_others():
    assert dcc_matches_brute_force()


def test_a_mutated_b_step_misses_the_best_codes(monkeypatch):
    real = dsdh.hard_sign
    monkeypatch.setattr(dsdh, "hard_sign", lambda x: -real(x))  # b_k = −sgn(p_k − B'ᵀW'w_k)
    assert not dcc_matches_brute_force()


class FixedNetwork(torch.nn.Module):
    bits = 2

    def hash_images(self, images):
        return torch.tensor([[0.5, -1.0], [1.5, 0.5]])


CODES = [[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0]]  # B, one row per training image
WEIGHTS = [[0.5, -0.25], [0.0, 0.75]]  # W, K × C


def objective_parts(reference_images: int = 0) -> dict[str, float]:
    objective = dsdh.DSDHObjective(FixedNetwork(), 3, 2, MU, NU, ETA, 1, reference_images)
    session = SimpleNamespace(
        labels=torch.tensor([0, 1, 0]),
        encode_training_set=lambda: torch.tensor([[0.2, 0.3], [-0.4, 0.1], [1.0, -2.0]]),
    )
    objective.start_epoch(session)
    objective.codes, objective.weights = torch.tensor(CODES), torch.tensor(WEIGHTS)
    batch = Batch(torch.zeros(2, 3, 4, 4), torch.tensor([0, 0]), torch.tensor([2, 0]), None, 1)
    return {k: float(v) for k, v in objective(batch).items()}


def by_hand(reference_images: int = 0) -> dict[str, float]:
    # the likelihood is DPSH's on the same memory (tests/test_deephash_dpsh.py): Θ and s
    pairs = [(0.125, 1), (-0.15, 0), (0.625, 1), (1.25, 1), (-0.275, 0), (0.125, 1)]
    likelihood = sum(math.log1p(math.exp(t)) - s * t for t, s in pairs) / 6
    # b from B: image 2 → (−1, −1), u = (0.5, −1): 1.5² + 0² = 2.25;
    #           image 0 → (1, 1),   u = (1.5, 0.5): 0.5² + 0.5² = 0.5
    quantisation = (2.25 + 0.5) / ((reference_images or 3) * 2)
    # ‖y − Wᵀb‖², y = (1, 0): Wᵀ(−1, −1) = (−0.5, −0.5) → 1.5² + 0.5² = 2.5;
    #                          Wᵀ(1, 1) = (0.5, 0.5)    → 0.5² + 0.5² = 0.5
    classification = (2.5 + 0.5) / 2
    return {
        "likelihood": likelihood,
        "quantisation": quantisation,
        "loss": likelihood + ETA * quantisation,
        "classification": classification,
    }


@pytest.mark.parametrize("reference_images", [0, 5000])
def test_network_terms_equal_the_hand_computation(reference_images):
    measured, expected = objective_parts(reference_images), by_hand(reference_images)
    for key, value in expected.items():
        assert measured[key] == pytest.approx(value, rel=1e-6), key


@pytest.mark.parametrize("mutation", ["similarity inverted", "codes of other images"])
def test_a_mutated_network_term_changes_the_loss(mutation, monkeypatch):
    if mutation == "similarity inverted":
        real = dsdh.same_class
        monkeypatch.setattr(dsdh, "same_class", lambda a, b: ~real(a, b))
    else:  # b_i taken from the wrong rows of B
        real_loss = dsdh.dsdh_network_loss
        monkeypatch.setattr(
            dsdh, "dsdh_network_loss",
            lambda u, m, s, codes, *rest: real_loss(u, m, s, codes.flip(0), *rest),
        )  # fmt: skip
    assert objective_parts()["loss"] != pytest.approx(by_hand()["loss"], rel=1e-3)


def test_code_update_runs_before_every_epoch_and_keeps_codes_binary():
    objective = dsdh.DSDHObjective(FixedNetwork(), 3, 2, MU, NU, ETA, 2, 0)
    session = SimpleNamespace(
        labels=torch.tensor([0, 1, 0]),
        encode_training_set=lambda: torch.tensor([[0.2, 0.3], [-0.4, 0.1], [1.0, -2.0]]),
    )
    objective.start_epoch(session)
    assert objective.weights.shape == (2, 2) and objective.codes.shape == (3, 2)
    assert set(objective.codes.unique().tolist()) <= {-1.0, 1.0}
    # with η/μ = 55 and outputs far from 0, B follows sgn(U)
    assert objective.codes.tolist() == [[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0]]


@pytest.mark.slow
def test_it_learns_and_beats_lsh_on_the_separable_set():
    fixture = separable_set(seed=0)
    learned = retrieval_map(dsdh.DSDH(16, **LEARN), fixture)
    assert learned > lsh_map(fixture) + 0.15, learned


def test_bad_options_are_one_line_errors():
    with pytest.raises(ZshbenchError, match="option dcc_iterations must be a whole number ≥ 1"):
        dsdh.DSDH(16, dcc_iterations=0)
    with pytest.raises(ZshbenchError, match="DSDH option mu must be a number > 0"):
        dsdh.DSDH(16, mu=0.0)


def test_end_to_end_on_digits(tmp_path):
    record = run_on_digits(tmp_path, "dsdh")
    training = check_record(record, "dsdh", accuracy_by="nearest class-centre code")
    assert {"loss", "likelihood", "quantisation", "classification"} <= set(training["final_losses"])
