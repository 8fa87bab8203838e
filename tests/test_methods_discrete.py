"""SDH, FSSH, SCDH, ASZH and SASH: their objectives written out independently here (with the
n × n similarity matrix the methods avoid forming), checked to never increase along the real
alternation and to equal the objective each method records per iteration
(``objective_history_``); closed-form steps checked against hand computation or brute force."""

from __future__ import annotations

import numpy as np
import pytest
from linear_fixture import make_fixture, unseen_map
from sklearn.linear_model import Ridge

from plugins.linear.aszh import ASZH
from plugins.linear.common.kernel_hashing import RBFAnchorMap
from plugins.linear.fssh import FSSH, similarity_term
from plugins.linear.sash import SASH, adaptive_similarity_step, feature_class_similarity
from plugins.linear.scdh import SCDH, pairwise_loss
from plugins.linear.sdh import SDH, sdh_objective
from zshbench.errors import ZshbenchError
from zshbench.method import RunContext


@pytest.fixture(scope="module")
def fixture():
    return make_fixture()


@pytest.fixture(scope="module")
def kernel(fixture):
    """φ of the fixture's training images (60 anchors), labels and one-hot Y."""
    x = fixture.train.images.load_stack().reshape(len(fixture.train.labels), -1) / 255.0
    phi = RBFAnchorMap(60).fit(x, np.random.default_rng(0))
    labels = fixture.train.labels
    y = np.eye(fixture.train.num_classes)[labels]
    return phi, labels, y


def pairwise_similarity(labels, same=1.0, different=-1.0):
    """The n × n label similarity the methods never form."""
    return np.where(labels[:, None] == labels[None, :], same, different)


# ----------------------------------------------------------------------------- SDH


def test_sdh_objective_by_hand_on_a_three_by_two_toy():
    b = np.array([[1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
    y = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    phi = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    w = p = np.eye(2)
    # ‖Y − B‖² = 3, λ‖W‖² = 0.5·2, ν‖B − φ‖² = 2·6, νδ‖P‖² = 2·0.25·2: 3 + 1 + 12 + 1.
    assert sdh_objective(b, w, p, phi, y, lam=0.5, nu=2.0, delta=0.25) == pytest.approx(17.0)


def test_sdh_objective_never_increases_and_is_the_one_recorded(fixture, kernel):
    phi, _, y = kernel
    lam, nu, delta = 1.0, 0.1, 0.01
    method = SDH(16, lam=lam, nu=nu, delta=delta, iterations=6, dcc_sweeps=2)
    values = []

    def objective(t, b, w, p):
        values.append(
            np.sum((y - b @ w) ** 2)
            + lam * np.sum(w**2)
            + nu * np.sum((b - phi @ p) ** 2)
            + nu * delta * np.sum(p**2)
        )

    method.learn(phi, fixture.train, RunContext(), np.random.default_rng(0), callback=objective)
    assert np.all(np.diff(values) <= 1e-9 * values[0]), values
    assert values[-1] < values[0]
    assert np.allclose(method.objective_history_, values, rtol=1e-10, atol=0)
    assert method.config()["objective"] == method.objective_history_[-1]


def test_sdh_hash_function_is_the_ridge_fit_of_its_codes(fixture):
    method = SDH(16, anchors=60, delta=0.5)
    method.fit(fixture.train, RunContext(seed=1))
    phi = method.kernel_features(fixture.train.images, RunContext())
    reference = Ridge(alpha=0.5, fit_intercept=False).fit(phi, method.codes_).coef_.T
    assert np.allclose(method.projection_, reference, atol=1e-8)
    # The G-step: W solves the normal equations of ‖Y − BW‖² + λ‖W‖² for the last codes' B.
    assert method.weights_.shape == (16, fixture.train.num_classes)


# ----------------------------------------------------------------------------- FSSH


def test_fssh_similarity_term_equals_the_explicit_product(kernel):
    phi, labels, y = kernel
    s = pairwise_similarity(labels)
    assert np.allclose(similarity_term(phi, y), phi.T @ s @ y)


def test_fssh_objective_never_increases(fixture, kernel):
    phi, labels, y = kernel
    method = FSSH(12, mu=10.0, theta=1.0, iterations=8)
    s = pairwise_similarity(labels)
    r = 12
    values = []

    def objective(t, b, w, g):
        values.append(
            np.sum((r * s - phi @ w @ g.T @ y.T) ** 2)
            + 10.0 * np.sum((b - y @ g) ** 2)
            + 1.0 * np.sum((b - phi @ w) ** 2)
            + method.eps_ * np.sum(w**2)
        )

    method.learn(phi, fixture.train, RunContext(), np.random.default_rng(0), callback=objective)
    # Values are taken after the W-step; B, G and W steps are each exact, so every full
    # iteration ends no higher than the one before.
    assert np.all(np.diff(values) <= 1e-9 * values[0]), values
    assert values[-1] < values[0]
    assert np.allclose(method.objective_history_, values, rtol=1e-10, atol=0)


def test_fssh_two_step_refits_the_codes_by_ridge_regression(fixture, kernel):
    phi, _, _ = kernel
    method = FSSH(12, two_step=True)
    method.learn(phi, fixture.train, RunContext(), np.random.default_rng(0))
    reference = Ridge(alpha=1.0, fit_intercept=False).fit(phi, method.codes_).coef_.T
    assert np.allclose(method.projection_, reference, atol=1e-8)


# ----------------------------------------------------------------------------- SCDH family


def scdh_family_objective(state, phi, y, labels, weights, k, same, different):
    s = pairwise_similarity(labels, same, different)
    value = (
        np.sum((k * s - state.b @ state.z.T) ** 2)
        + weights.alpha * np.sum((state.b - state.z) ** 2)
        + weights.lam * np.sum((phi @ state.p - state.b) ** 2)
        + weights.beta * np.sum(state.p**2)
    )
    if state.w is not None:
        value += weights.gamma * np.sum((y @ state.w - state.b) ** 2)
        value += weights.mu * np.sum(state.w**2)
    return value


def test_scdh_pairwise_loss_equals_the_explicit_one(kernel):
    _, labels, y = kernel
    rng = np.random.default_rng(3)
    b = np.where(rng.random((len(y), 8)) < 0.5, -1.0, 1.0)
    z = rng.standard_normal((len(y), 8))
    a = np.array([[1.5, -0.5], [-0.5, 2.0]])[np.ix_([0, 1] * 3, [0, 1] * 3)][:6, :6]
    a = 0.5 * (a + a.T)
    explicit = np.sum((8 * (y @ a @ y.T) - b @ z.T) ** 2)
    assert pairwise_loss(y, a, b, z, 8) == pytest.approx(explicit, rel=1e-12)


@pytest.mark.parametrize(
    "cls, options, same, different",
    [
        (SCDH, {}, 1.0, -1.0),
        (SCDH, {"alpha": 0.3, "lam": 2.0}, 1.0, -1.0),
        (ASZH, {}, 2.0, -1.0),
        (ASZH, {"similar": 5.0, "dissimilar": -1.0, "gamma": 3.0}, 5.0, -1.0),
    ],
)
def test_scdh_and_aszh_objective_never_increases_step_by_step(
    fixture, kernel, cls, options, same, different
):
    phi, labels, y = kernel
    bits = 12
    method = cls(bits, iterations=6, **options)
    weights = method.weights(len(phi), fixture.train.num_classes)
    values, steps, iteration_end = [], [], {}

    def record(t, step, state):
        if t == 0 and step == "z":
            return  # Z starts at 0, outside the constraint set: count from the first Z
        steps.append((t, step))
        values.append(scdh_family_objective(state, phi, y, labels, weights, bits, same, different))
        iteration_end[t] = values[-1]  # the last step of iteration t overwrites the others
        assert np.allclose(state.z.sum(axis=0), 0, atol=1e-8)
        assert np.allclose(state.z.T @ state.z, len(phi) * np.eye(bits), atol=1e-6)

    method.learn(phi, fixture.train, RunContext(), np.random.default_rng(0), callback=record)
    values = np.array(values)
    assert np.all(np.diff(values) <= 1e-9 * abs(values[0])), list(zip(steps, values, strict=True))
    assert values[-1] < values[0]
    recorded = [iteration_end[t] for t in range(6)]
    assert np.allclose(method.objective_history_, recorded, rtol=1e-10, atol=0)


@pytest.mark.parametrize("cls", [SCDH, ASZH])
def test_scdh_b_step_leaves_no_improving_single_bit_flip(fixture, kernel, cls):
    phi, labels, y = kernel
    bits = 8
    method = cls(bits, iterations=2)
    weights = method.weights(len(phi), fixture.train.num_classes)
    same, different = (2.0, -1.0) if cls is ASZH else (1.0, -1.0)
    checked = []

    def check(t, step, state):
        if step != "b" or t != 1:
            return
        base = scdh_family_objective(state, phi, y, labels, weights, bits, same, different)
        rng = np.random.default_rng(0)
        for i, k in zip(rng.integers(0, len(phi), 25), rng.integers(0, bits, 25), strict=True):
            state.b[i, k] *= -1
            flipped = scdh_family_objective(state, phi, y, labels, weights, bits, same, different)
            state.b[i, k] *= -1
            assert flipped >= base - 1e-9 * abs(base)
        checked.append(True)

    method.learn(phi, fixture.train, RunContext(), np.random.default_rng(0), callback=check)
    assert checked


def test_aszh_ratio_acts_only_through_its_difference(fixture):
    """r_s = 2, r_d = −1 and r_s = 1.5, r_d = −1.5 give the same codes (1ᵀZ = 0 removes r_d·11ᵀ)."""
    first = ASZH(16, similar=2.0, dissimilar=-1.0)
    second = ASZH(16, similar=1.5, dissimilar=-1.5)
    first.fit(fixture.train, RunContext(seed=0))
    second.fit(fixture.train, RunContext(seed=0))
    assert np.array_equal(first.state_.b, second.state_.b)
    third = ASZH(16, similar=4.0, dissimilar=-1.0)
    third.fit(fixture.train, RunContext(seed=0))
    assert not np.allclose(third.projection_, first.projection_)


def test_aszh_rejects_a_ratio_that_is_not_asymmetric_upwards(fixture):
    with pytest.raises(ZshbenchError, match="larger than dissimilar"):
        ASZH(16, similar=-1.0, dissimilar=1.0).fit(fixture.train, RunContext())


def test_sash_similarity_step_is_the_exact_minimiser(kernel):
    phi, labels, y = kernel
    rng = np.random.default_rng(4)
    b = np.where(rng.random((len(y), 8)) < 0.5, -1.0, 1.0)
    z = rng.standard_normal((len(y), 8))
    prior = feature_class_similarity(phi, labels, y.shape[1])
    assert np.allclose(np.diag(prior), 1) and np.allclose(prior, prior.T)

    class State:
        pass

    state = State()
    state.b, state.z = b, z
    eta, k = 50.0, 8.0
    a = adaptive_similarity_step(state, y, prior, k, eta)

    def loss(matrix):
        return np.sum((k * y @ matrix @ y.T - b @ z.T) ** 2) + eta * np.sum((matrix - prior) ** 2)

    best = loss(a)
    assert np.allclose(a, a.T)
    for _ in range(30):
        e = rng.standard_normal(a.shape) * 1e-3
        assert loss(a + 0.5 * (e + e.T)) >= best - 1e-9 * best


def test_sash_objective_with_its_similarity_term_never_increases(fixture, kernel):
    phi, labels, y = kernel
    bits = 12
    method = SASH(bits, iterations=6)
    weights = method.weights(len(phi), fixture.train.num_classes)
    values, iteration_end = [], {}

    def record(t, step, state):
        if t == 0 and step == "z":
            return
        s = y @ state.a @ y.T
        iteration_end[t] = len(values)
        values.append(
            np.sum((bits * s - state.b @ state.z.T) ** 2)
            + weights.alpha * np.sum((state.b - state.z) ** 2)
            + weights.lam * np.sum((phi @ state.p - state.b) ** 2)
            + weights.beta * np.sum(state.p**2)
            + method.eta_ * np.sum((state.a - method.prior_) ** 2)
        )

    method.learn(phi, fixture.train, RunContext(), np.random.default_rng(0), callback=record)
    assert np.all(np.diff(values) <= 1e-9 * abs(values[0])), values
    assert values[-1] < values[0]
    assert not np.allclose(method.state_.a, method.prior_)  # the similarity did adapt
    recorded = [values[iteration_end[t]] for t in range(6)]
    assert np.allclose(method.objective_history_, recorded, rtol=1e-10, atol=0)


# ----------------------------------------------------------------------------- all five


@pytest.mark.parametrize("cls", [SDH, FSSH, SCDH, ASZH, SASH])
def test_beats_lsh_on_unseen_classes_of_a_separable_fixture(fixture, cls):
    from plugins.linear.lsh import LSH

    lsh = np.mean([unseen_map(LSH(16), fixture, seed) for seed in (0, 1)])
    score = np.mean([unseen_map(cls(16), fixture, seed) for seed in (0, 1)])
    assert score > lsh + 0.1, (cls.__name__, score, lsh)


@pytest.mark.parametrize("cls", [SDH, FSSH, SCDH, ASZH, SASH])
def test_codes_are_signs_deterministic_and_per_image(fixture, cls):
    method = cls(16)
    method.fit(fixture.train, RunContext(seed=2))
    codes = method.encode(fixture.database, RunContext())
    assert codes.dtype == np.int8 and set(np.unique(codes).tolist()) <= {-1, 1}
    again = cls(16)
    again.fit(fixture.train, RunContext(seed=2))
    assert np.array_equal(again.encode(fixture.database, RunContext()), codes)
    part = np.arange(0, len(fixture.database), 3)
    assert np.array_equal(method.encode(fixture.database.subset(part), RunContext()), codes[part])


@pytest.mark.parametrize(
    "cls, option, value",
    [(SDH, "lam", -1.0), (FSSH, "iterations", 0), (SCDH, "lam", "x"), (SASH, "eta", 0.0)],
)
def test_bad_option_values_are_one_line_errors(fixture, cls, option, value):
    with pytest.raises(ZshbenchError, match=option):
        cls(16, **{option: value}).fit(fixture.train, RunContext())
