"""ADSH: its loss by hand, the V-step against brute force, the mutation of its asymmetric term,
the training-set-only database, learning, and digits end to end."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from deephash_fixture import (  # noqa: E402
    DIGITS_DATABASE,
    DIGITS_TRAIN,
    EASY_TRAINING,
    check_record,
    easy_set,
    lsh_map,
    run_on_digits,
)

from plugins.deephash import adsh  # noqa: E402
from zshbench.errors import ZshbenchError  # noqa: E402
from zshbench.method import RunContext  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

U = torch.tensor([[0.5, -1.0], [1.0, 0.0]])  # the batch: Ω images 0 and 2 of V
V = torch.tensor([[1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])  # database codes, n = 3, c = 2
S = torch.tensor([[1.0, -1.0, -1.0], [-1.0, -1.0, 1.0]])


def loss_by_hand() -> float:
    # ũ1ᵀv = (0.5 + 1, 0.5 - 1, -0.5 - 1) = (1.5, -0.5, -1.5); targets c·S = (2, -2, -2)
    # ũ2ᵀv = (1, 1, -1); targets (-2, -2, 2)
    fit = (1.5 - 2) ** 2 + (-0.5 + 2) ** 2 + (-1.5 + 2) ** 2
    fit += (1 + 2) ** 2 + (1 + 2) ** 2 + (-1 - 2) ** 2
    # own codes v_0 = (1, -1) for ũ1, v_2 = (-1, 1) for ũ2: ‖v − ũ‖² = 0.25 + 0 and 4 + 1
    quantisation = 0.25 + 0.0 + 4.0 + 1.0
    gamma, n, batch, c = 3.0, 3, 2, 2
    return (fit + gamma * quantisation) / (n * batch * c**2)


def test_loss_by_hand_and_its_asymmetric_term_matters():
    value = adsh.adsh_loss(U, V, S, V[[0, 2]], bits=2, gamma=3.0)
    assert float(value) == pytest.approx(loss_by_hand())
    # mutation of the key term: the database side hashed by the network too (symmetric: ũᵀũ
    # instead of ũᵀv) is caught by the hand computation
    symmetric = adsh.adsh_loss(U, torch.cat([U, U[:1]]), S, V[[0, 2]], bits=2, gamma=3.0)
    assert float(symmetric) != pytest.approx(loss_by_hand())


def objective(v: np.ndarray, u: np.ndarray, s: np.ndarray, omega: list, bits: int, gamma: float):
    """J(V) of the paper, written out: Σ_{i∈Ω,j} (ũ_iᵀv_j − c·S_ij)² + γ Σ_i ‖v_Ω(i) − ũ_i‖²."""
    total = 0.0
    for a, i in enumerate(omega):
        for j in range(len(v)):
            total += (u[a] @ v[j] - bits * s[a, j]) ** 2
        total += gamma * np.sum((v[i] - u[a]) ** 2)
    return total


def random_case(seed: int, n: int = 5, m: int = 3, bits: int = 3):
    rng = np.random.default_rng(seed)
    u = np.tanh(rng.normal(size=(m, bits)))
    s = np.where(rng.random((m, n)) < 0.4, 1.0, -0.5)
    omega = sorted(rng.choice(n, m, replace=False).tolist())
    v = np.where(rng.random((n, bits)) < 0.5, -1.0, 1.0)
    return u, s, omega, v


@pytest.mark.parametrize("seed", range(4))
def test_v_step_column_is_the_brute_force_minimiser(seed):
    u, s, omega, v = random_case(seed, bits=1)  # one column: the update is the whole V-step
    new = adsh.adsh_database_codes(
        torch.tensor(v), torch.tensor(u), torch.tensor(s), torch.tensor(omega), 1, 2.0
    ).numpy()
    best = min(
        itertools.product([-1.0, 1.0], repeat=len(v)),
        key=lambda col: objective(np.array(col)[:, None], u, s, omega, 1, 2.0),
    )
    assert new[:, 0].tolist() == list(best)


@pytest.mark.parametrize("seed", range(4))
def test_v_step_minimises_the_last_column_and_never_increases_j(seed):
    u, s, omega, v = random_case(seed)
    gamma, bits = 2.0, 3
    new = adsh.adsh_database_codes(
        torch.tensor(v), torch.tensor(u), torch.tensor(s), torch.tensor(omega), bits, gamma
    ).numpy()
    assert objective(new, u, s, omega, bits, gamma) <= objective(v, u, s, omega, bits, gamma)
    values = []
    for col in itertools.product([-1.0, 1.0], repeat=len(v)):
        trial = new.copy()
        trial[:, -1] = col
        values.append(objective(trial, u, s, omega, bits, gamma))
    assert objective(new, u, s, omega, bits, gamma) == pytest.approx(min(values))


def test_mutated_v_step_is_caught():
    # Ω = {0, 1}; image 1 is dissimilar to image 0, so the fit term alone wants v_0 = −1
    # ((0.2·v − 1)² + (0.9·v + 1)²: 4.25 at +1, 1.45 at −1), while γ‖v_0 − ũ_0‖² with γ = 50
    # wants v_0 = +1 (32 + 4.25 against 72 + 1.45)
    u = np.array([[0.2], [0.9]])
    s = np.array([[1.0, -1.0, 1.0], [-1.0, 1.0, -1.0]])
    omega, v = [0, 1], np.ones((3, 1))
    best = min(
        itertools.product([-1.0, 1.0], repeat=3),
        key=lambda col: objective(np.array(col)[:, None], u, s, omega, 1, 50.0),
    )
    assert best[0] == 1.0
    args = (torch.tensor(v), torch.tensor(u), torch.tensor(s), torch.tensor(omega), 1)
    assert adsh.adsh_database_codes(*args, 50.0)[:, 0].tolist() == list(best)
    # mutation: the quantisation coupling γŪ dropped from Q is caught
    assert adsh.adsh_database_codes(*args, 0.0)[:, 0].tolist() != list(best)


def test_bad_options_are_one_line_errors():
    with pytest.raises(ZshbenchError, match="num_samples"):
        adsh.ADSH(16, num_samples=0)
    with pytest.raises(ZshbenchError, match="gamma"):
        adsh.ADSH(16, gamma=-1)
    with pytest.raises(ZshbenchError, match="ADSH option inner_epochs must be a whole number ≥ 1"):
        adsh.ADSH(16, inner_epochs=0)
    with pytest.raises(ZshbenchError, match="ADSH option balance must be true or false"):
        adsh.ADSH(16, balance="maybe")


@pytest.mark.slow
def test_adsh_learns_the_easy_set_better_than_lsh():
    easy = easy_set()
    torch.manual_seed(0)
    method = adsh.ADSH(16, **EASY_TRAINING)
    context = RunContext(seed=0)
    method.fit(easy.train, context)
    learned, baseline = easy.map(method, context), lsh_map(easy, 16)
    assert learned > 0.9 and learned > baseline + 0.2


@pytest.mark.slow
def test_adsh_end_to_end_on_digits_learns_codes_for_training_images_only(tmp_path, monkeypatch):
    sizes = []
    real = adsh.ADSHObjective.__init__

    def spy(self, network, bits, num_images, *args, **kwargs):
        sizes.append(num_images)
        real(self, network, bits, num_images, *args, **kwargs)

    monkeypatch.setattr(adsh.ADSHObjective, "__init__", spy)
    record = run_on_digits(tmp_path, "adsh")
    training = check_record(record, "adsh")
    assert {"loss", "code_agreement"} <= set(training["final_losses"])
    # V has one row per training image of each phase (seen classes minus validation, then all
    # seen classes), never one per image of the evaluation database
    assert len(sizes) == 2 and sizes[1] == DIGITS_TRAIN and sizes[0] < DIGITS_TRAIN
    assert DIGITS_DATABASE not in sizes
