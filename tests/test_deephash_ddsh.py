"""DDSH: its feature loss by hand, its bit-wise discrete step against the squared objective it
expands and against brute force, the mutation of its key term, learning, and digits end to end.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from deephash_fixture import (  # noqa: E402
    DIGITS_TRAIN,
    EASY_TRAINING,
    check_record,
    easy_set,
    lsh_map,
    run_on_digits,
)

from plugins.deep.engine import Batch, Session, TrainSettings  # noqa: E402
from plugins.deephash import ddsh  # noqa: E402
from plugins.deephash.label_similarity import balanced_similarity, label_rows  # noqa: E402
from zshbench.errors import ZshbenchError  # noqa: E402
from zshbench.method import RunContext  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_balanced_similarity_by_hand():
    # labels (0, 0, 1) against (0, 1): similar pairs (0,0), (1,0), (2,1) → 3 of 6, r = 3/3 = 1
    rows = label_rows(torch.tensor([0, 0, 1]), 2)
    s = balanced_similarity(rows, rows[[0, 2]])
    assert s.tolist() == [[1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]]
    # labels (0, 1, 2) against all: 3 similar of 9, r = 3/6 = 0.5
    rows = label_rows(torch.tensor([0, 1, 2]), 3)
    s = balanced_similarity(rows, rows)
    assert s.tolist() == [[1.0, -0.5, -0.5], [-0.5, 1.0, -0.5], [-0.5, -0.5, 1.0]]


def feature_loss_by_hand() -> float:
    # q = 2; u1 = (0.5, -1), u2 = (1, 1); Ω codes b1 = (1, 1), b2 = (1, -1); S = [[1, -1], [-1, 1]]
    # u1ᵀb1 = -0.5, u1ᵀb2 = 1.5, u2ᵀb1 = 2, u2ᵀb2 = 0
    # (qS − uᵀb)²: (2 + 0.5)² = 6.25, (-2 - 1.5)² = 12.25, (-2 - 2)² = 16, (2 - 0)² = 4
    return (6.25 + 12.25 + 16 + 4) / 4 / 2**2


def feature_loss(similarity_sign: float = 1.0) -> float:
    u = torch.tensor([[0.5, -1.0], [1.0, 1.0]])
    codes = torch.tensor([[1.0, 1.0], [1.0, -1.0]])
    s = torch.tensor([[1.0, -1.0], [-1.0, 1.0]]) * similarity_sign
    return float(ddsh.ddsh_feature_loss(u, codes, s, bits=2))


def test_feature_loss_by_hand_and_its_similarity_sign_matters():
    assert feature_loss() == pytest.approx(feature_loss_by_hand())
    # mutation: the similarity's sign flipped is caught by the hand computation
    assert feature_loss(similarity_sign=-1.0) != pytest.approx(feature_loss_by_hand())


def squared_objective(r_gamma, r_omega, g, b) -> float:
    """Σ_{i∈Γ,j∈Ω} (R_ij − g_i b_j)² + Σ_{i≠j∈Ω} (R_ij − b_i b_j)², written out."""
    total = 0.0
    for i in range(len(g)):
        for j in range(len(b)):
            total += (r_gamma[i, j] - g[i] * b[j]) ** 2
    for i in range(len(b)):
        for j in range(len(b)):
            if i != j:
                total += (r_omega[i, j] - b[i] * b[j]) ** 2
    return total


def test_bit_problem_is_the_squared_objective_up_to_a_constant():
    rng = np.random.default_rng(0)
    r_gamma = torch.tensor(rng.normal(size=(3, 4)))
    r_omega = torch.tensor(rng.normal(size=(4, 4)))
    r_omega = (r_omega + r_omega.T) / 2  # S and the bits' outer products are symmetric
    g = torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64)
    q, p = ddsh.bit_problem(r_gamma, r_omega, g)
    gaps = []
    for signs in itertools.product([-1.0, 1.0], repeat=4):
        b = np.array(signs)
        direct = squared_objective(r_gamma.numpy(), r_omega.numpy(), g.numpy(), b)
        gaps.append(direct - ddsh.quadratic_objective(q, p, b))
    assert np.ptp(gaps) < 1e-9


@pytest.mark.parametrize("seed", range(5))
def test_solver_ends_in_a_one_flip_minimum_no_worse_than_its_start(seed):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(9, 9))
    q = q + q.T
    np.fill_diagonal(q, 0.0)
    p = rng.normal(size=9) * 3
    b = ddsh.solve_binary_quadratic(q, p)
    value = ddsh.quadratic_objective(q, p, b)
    start = np.where(p > 0, -1.0, 1.0)
    assert value <= ddsh.quadratic_objective(q, p, start) + 1e-12
    for i in range(9):
        flipped = b.copy()
        flipped[i] *= -1
        assert ddsh.quadratic_objective(q, p, flipped) >= value - 1e-12
    best = min(
        ddsh.quadratic_objective(q, p, np.array(s))
        for s in itertools.product([-1.0, 1.0], repeat=9)
    )
    assert value >= best - 1e-12  # sanity: brute force is the floor


def class_codes_case():
    """Γ codes that fit S exactly (two classes, r = 1: bᵢᵀbⱼ = ±q, antipodal class codes);
    Ω images of both classes."""
    labels = torch.tensor([0, 0, 1, 1, 0, 1, 1, 0])  # the last four are Ω
    rows = label_rows(labels, 2)
    code = {0: [1.0, -1.0, 1.0], 1: [-1.0, 1.0, -1.0]}
    gamma_codes = torch.tensor([code[int(c)] for c in labels[:4]])
    s = balanced_similarity(rows, rows[4:])
    return gamma_codes, s[:4], s[4:], [code[int(c)] for c in labels[4:]]


def test_discrete_step_gives_omega_the_codes_of_their_classes():
    gamma_codes, s_gamma, s_omega, expected = class_codes_case()
    omega_codes = ddsh.ddsh_discrete_codes(gamma_codes, s_gamma, s_omega, bits=3)
    assert omega_codes.tolist() == expected


def test_mutated_bit_problem_is_caught(monkeypatch):
    # mutation of the key term: the sign of the Γ–Ω coupling p (the supervision of Ω's codes)
    real = ddsh.bit_problem

    def mutated(r_gamma, r_omega, g):
        q, p = real(r_gamma, r_omega, g)
        return q, -p

    monkeypatch.setattr(ddsh, "bit_problem", mutated)
    gamma_codes, s_gamma, s_omega, expected = class_codes_case()
    omega_codes = ddsh.ddsh_discrete_codes(gamma_codes, s_gamma, s_omega, bits=3)
    assert omega_codes.tolist() != expected


class LinearHash(torch.nn.Module):
    bits = 3

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)

    def hash_images(self, x):
        return torch.tanh(self.linear(x.flatten(1)))


def test_omega_images_are_not_trained_on_and_omega_is_resampled():
    torch.manual_seed(0)
    network = LinearHash()
    objective = ddsh.DDSHObjective(network, 3, sample_columns=3, rounds_per_sample=2, balance=True)
    images = torch.randint(0, 255, (8, 1, 2, 2), dtype=torch.uint8)
    labels = torch.tensor([0, 0, 1, 1, 0, 1, 1, 0])

    class Identity:
        def __call__(self, x, device):
            return x.float().to(device) / 255

    session = Session(
        network, images, labels, Identity(), RunContext(), TrainSettings(1, 8, 1e-3, 0.0)
    )
    session.epoch = 1
    objective.start_epoch(session)
    omega = objective.omega.tolist()
    assert len(omega) == 3 and objective.in_omega.sum() == 3
    assert objective.omega_codes.shape == (3, 3)
    assert set(objective.omega_codes.unique().tolist()) <= {-1.0, 1.0}

    def batch(index):
        index = torch.tensor(index)
        x = images[index].float() / 255
        return Batch(x, labels[index], index, torch.Generator(), 1)

    only_omega = objective(batch(omega))
    assert float(only_omega["loss"].detach()) == 0.0
    gamma = [i for i in range(8) if i not in omega]
    loss = objective(batch(gamma))["loss"]
    loss.backward()
    assert float(loss.detach()) > 0 and network.linear.weight.grad.abs().sum() > 0
    session.epoch = 2  # same round: Ω kept
    objective.start_epoch(session)
    assert objective.omega.tolist() == omega
    session.epoch = 3  # a new round: Ω resampled (seeded by epoch)
    objective.start_epoch(session)
    assert objective.omega.tolist() != omega


def test_bad_options_are_one_line_errors():
    with pytest.raises(ZshbenchError, match="sample_columns"):
        ddsh.DDSH(16, sample_columns=0)
    with pytest.raises(ZshbenchError, match="balance"):
        ddsh.DDSH(16, balance="maybe")
    with pytest.raises(ZshbenchError, match="DDSH option rounds_per_sample must be a whole number"):
        ddsh.DDSH(16, rounds_per_sample=1.5)


def test_ddsh_learns_the_easy_set_better_than_lsh():
    easy = easy_set()
    torch.manual_seed(0)
    method = ddsh.DDSH(16, **EASY_TRAINING)
    context = RunContext(seed=0)
    method.fit(easy.train, context)
    learned, baseline = easy.map(method, context), lsh_map(easy, 16)
    assert learned > 0.9 and learned > baseline + 0.2


def test_ddsh_end_to_end_on_digits(tmp_path):
    record = run_on_digits(tmp_path, "ddsh")
    training = check_record(record, "ddsh")
    assert {"loss", "fit"} <= set(training["final_losses"])
    assert training["train_accuracy_by"] == "nearest class-centre code"
    assert record["config"]["sample_columns"] == 100 <= DIGITS_TRAIN


def test_a_training_set_no_larger_than_sample_columns_still_trains_the_network():
    """With |Ω| = n, Γ is empty and every step's loss is 0: Ω takes at most half the images."""
    easy = easy_set()  # 160 training images
    method = ddsh.DDSH(16, sample_columns=500, **{**EASY_TRAINING, "epochs": 1})
    method.fit(easy.train, RunContext(seed=0))
    assert method.training_["final_losses"]["loss"] > 0
