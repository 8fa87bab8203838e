"""TSK, AH and OPZH: objectives written out here independently, never increasing along the real
alternation and equal to what each method records per iteration (``objective_history_``);
exact steps against hand computation; class semantics from attributes or from the run's text
encoder; each beats LSH on the unseen classes of a separable fixture."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
from linear_fixture import make_fixture, unseen_map
from scipy.linalg import orthogonal_procrustes

from plugins.features.class_semantics import class_semantic_vectors, readable_class_name
from plugins.linear.ah import AH
from plugins.linear.common.kernel_hashing import RBFAnchorMap, ridge_for
from plugins.linear.common.knn_graph import knn_laplacian
from plugins.linear.opzh import OPZH, update_class_codes
from plugins.linear.tsk import TSK
from zshbench.errors import ZshbenchError
from zshbench.method import RunContext


@pytest.fixture(scope="module")
def fixture():
    return make_fixture()


@pytest.fixture(scope="module")
def phi(fixture):
    x = fixture.train.images.load_stack().reshape(len(fixture.train.labels), -1) / 255.0
    return RBFAnchorMap(60, bias=True).fit(x, np.random.default_rng(0))


def unit_rows(matrix):
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


# ----------------------------------------------------------------------------- semantics


def test_class_semantics_from_attributes_are_the_unit_attribute_rows(fixture):
    vectors = class_semantic_vectors(fixture.train, RunContext(), "attributes")
    assert np.allclose(vectors, unit_rows(fixture.attributes[:6]))
    assert np.allclose(class_semantic_vectors(fixture.train, RunContext(), "auto"), vectors)


def test_class_semantics_from_word_vectors_use_the_runs_encoder(fixture):
    context = RunContext(encoder="hashing", encoder_options={"n_features": 64})
    vectors = class_semantic_vectors(fixture.train, context, "word-vectors")
    expected = context.encode_texts([f"class {c}" for c in range(6)])
    assert vectors.shape == (6, 64)
    assert np.allclose(vectors, unit_rows(expected.astype(np.float64)))
    assert readable_class_name("006.Least_Auklet") == "Least Auklet"
    assert readable_class_name("persian+cat") == "persian cat"


def test_class_semantics_errors_are_one_line(fixture):
    from dataclasses import replace

    with pytest.raises(ZshbenchError, match="semantics must be one of"):
        class_semantic_vectors(fixture.train, RunContext(), "glove")
    bare = replace(fixture.train, class_attributes=None)
    with pytest.raises(ZshbenchError, match="semantics=word-vectors"):
        class_semantic_vectors(bare, RunContext(), "attributes")


# ----------------------------------------------------------------------------- TSK


def test_tsk_objective_never_increases_and_r_is_the_procrustes_rotation(fixture, phi):
    method = TSK(12, semantics="attributes", nu=0.01, iterations=6)
    ys = unit_rows(fixture.attributes[:6])[fixture.train.labels]
    lam, nu, eps = 0.01, 0.01, ridge_for(0.01, len(phi))
    values = []

    def record(t, step, b, w, p, r):
        assert np.allclose(r.T @ r, np.eye(len(r)), atol=1e-10)
        if step == "r":
            # Procrustes: no orthogonal matrix fits B W better (random ones as witnesses).
            best = np.sum((ys @ r - b @ w) ** 2)
            rng = np.random.default_rng(t)
            for _ in range(20):
                q = np.linalg.qr(rng.standard_normal(r.shape))[0]
                assert np.sum((ys @ q - b @ w) ** 2) >= best - 1e-9
            assert np.allclose(r, orthogonal_procrustes(ys, b @ w)[0])
        if t == 0 and step == "p":
            return  # W and R are still their random initial values here
        values.append(
            np.sum((ys @ r - b @ w) ** 2)
            + lam * np.sum(w**2)
            + nu * np.sum((b - phi @ p) ** 2)
            + eps * np.sum(p**2)
        )

    method.learn(phi, fixture.train, RunContext(), np.random.default_rng(0), callback=record)
    assert np.all(np.diff(values) <= 1e-9 * values[0]), values
    assert values[-1] < values[0]
    # Each iteration ends with the W-step: the 4th value of every iteration (the 3rd in the first).
    iteration_ends = values[2::4]
    assert np.allclose(method.objective_history_, iteration_ends, rtol=1e-10, atol=0)


def test_tsk_laplacian_term_is_constant_for_orthogonal_r(fixture, phi):
    """Why the released code's δ tr(RᵀYₛᵀLYₛR) term is left out: it does not depend on R."""
    ys = unit_rows(fixture.attributes[:6])[fixture.train.labels]
    laplacian = knn_laplacian(phi, 5)
    rng = np.random.default_rng(0)
    values = []
    for _ in range(5):
        r = np.linalg.qr(rng.standard_normal((ys.shape[1], ys.shape[1])))[0]
        values.append(np.trace(r.T @ ys.T @ (laplacian @ ys) @ r))
    assert np.allclose(values, values[0])


# ----------------------------------------------------------------------------- AH


def test_knn_laplacian_is_symmetric_with_zero_row_sums_and_heat_weights():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 4))
    laplacian = knn_laplacian(x, 3)
    dense = laplacian.toarray()
    assert np.allclose(dense, dense.T) and np.allclose(dense.sum(axis=1), 0)
    weights = -dense.copy()
    np.fill_diagonal(weights, 0)
    # Every point is linked to its 3 nearest neighbours, with exp(−d²/t) weights.
    distances = np.linalg.norm(x[:, None] - x[None], axis=2)
    for i in range(30):
        nearest = np.argsort(distances[i])[1:4]
        assert np.all(weights[i, nearest] > 0)
    edges = weights > 0
    t = np.mean(distances[edges] ** 2)
    assert np.allclose(weights[edges], np.exp(-(distances[edges] ** 2) / t))


def ah_terms(b, u, p, phi, y, c, laplacian, rho, lam, nu, eps, delta):
    fitted = phi @ p
    return (
        np.sum((y - b @ u @ c.T) ** 2)
        + rho * np.sum((y @ c - b @ u) ** 2)
        + lam * np.sum(u**2)
        + nu * np.sum((b - fitted) ** 2)
        + eps * np.sum(p**2)
        + delta * np.trace(fitted.T @ (laplacian @ fitted))
    )


def test_ah_objective_never_increases_and_u_step_solves_its_normal_equations(fixture, phi):
    rho, lam, nu, delta = 0.5, 2.0, 0.01, 0.002
    method = AH(10, rho=rho, lam=lam, nu=nu, delta=delta, iterations=6)
    eps = ridge_for(nu, len(phi))
    c = unit_rows(fixture.attributes[:6])
    y = np.eye(6)[fixture.train.labels]
    laplacian = knn_laplacian(phi, 5)
    values = []

    def record(t, step, b, u, p):
        if step == "u":
            # Independent check of the U-step: the gradient of the objective in U vanishes.
            gradient = (
                -2 * b.T @ (y - b @ u @ c.T) @ c - 2 * rho * b.T @ (y @ c - b @ u) + 2 * lam * u
            )
            assert np.allclose(gradient, 0, atol=1e-8)
        values.append(ah_terms(b, u, p, phi, y, c, laplacian, rho, lam, nu, eps, delta))

    method.learn(phi, fixture.train, RunContext(), np.random.default_rng(0), callback=record)
    assert scipy.sparse.issparse(method.laplacian_)
    assert np.all(np.diff(values) <= 1e-9 * values[0]), values
    assert values[-1] < values[0]
    # Each iteration ends with the B-step: every 3rd value (the first U-step has no P to report).
    iteration_ends = values[1::3]
    assert np.allclose(method.objective_history_, iteration_ends, rtol=1e-10, atol=0)


# ----------------------------------------------------------------------------- OPZH


def opzh_terms(h, q, p, phi, y, c, alpha, beta, nu, kappa):
    r = h.shape[1]
    return (
        np.sum((h @ h.T - r * np.eye(len(h))) ** 2)
        + alpha * np.sum((h - c @ q) ** 2)
        + beta * np.sum(q**2)
        + nu * np.sum((y @ h - phi @ p) ** 2)
        + nu * kappa * np.sum(p**2)
    )


@pytest.mark.parametrize("scale", [3.0, 40.0])  # the orthogonality or the linear term leads
def test_opzh_class_code_step_leaves_no_improving_flip(scale):
    rng = np.random.default_rng(1)
    classes, r = 7, 8
    h = np.where(rng.random((classes, r)) < 0.5, -1.0, 1.0)
    linear = scale * rng.standard_normal((classes, r))

    def objective(codes):
        return np.sum((codes @ codes.T - r * np.eye(classes)) ** 2) - 2 * np.sum(codes * linear)

    start = objective(h)
    out = update_class_codes(h, linear, sweeps=20)
    best = objective(out)
    assert best < start
    for c in range(classes):
        for k in range(r):
            trial = out.copy()
            trial[c, k] *= -1
            assert objective(trial) >= best - 1e-9


def test_opzh_codes_become_orthogonal_when_there_is_room():
    """With no other term, 4 classes in 8 bits get pairwise orthogonal codes (distance r/2)."""
    rng = np.random.default_rng(0)
    h = np.where(rng.random((4, 8)) < 0.5, -1.0, 1.0)
    out = update_class_codes(h, np.zeros((4, 8)), sweeps=50)
    gram = out @ out.T
    assert np.allclose(gram, 8 * np.eye(4))


def test_opzh_objective_never_increases(fixture, phi):
    alpha, beta, nu, kappa = 2.0, 0.5, 0.05, 1.0
    method = OPZH(12, alpha=alpha, beta=beta, nu=nu, kappa=kappa, iterations=6)
    c = unit_rows(fixture.attributes[:6])
    y = np.eye(6)[fixture.train.labels]
    values = []

    def record(t, step, h, q, p):
        values.append(opzh_terms(h, q, p, phi, y, c, alpha, beta, nu, kappa))

    method.learn(phi, fixture.train, RunContext(), np.random.default_rng(0), callback=record)
    assert np.all(np.diff(values) <= 1e-9 * values[0]), values
    assert values[-1] < values[0]
    iteration_ends = values[1::2]  # after each H-step
    assert np.allclose(method.objective_history_, iteration_ends, rtol=1e-10, atol=0)


# ----------------------------------------------------------------------------- all three


@pytest.mark.parametrize(
    "cls, options",
    [(TSK, {"semantics": "attributes"}), (AH, {}), (OPZH, {})],
)
def test_beats_lsh_on_unseen_classes_of_a_separable_fixture(fixture, cls, options):
    from plugins.linear.lsh import LSH

    lsh = np.mean([unseen_map(LSH(16), fixture, seed) for seed in (0, 1)])
    score = np.mean([unseen_map(cls(16, **options), fixture, seed) for seed in (0, 1)])
    assert score > lsh + 0.1, (cls.__name__, score, lsh)


@pytest.mark.parametrize("cls", [TSK, AH, OPZH])
def test_uses_the_class_semantics(fixture, cls):
    """Other attributes for the same classes give another hash function."""
    from dataclasses import replace

    first = cls(16, semantics="attributes")
    first.fit(fixture.train, RunContext(seed=0))
    shuffled = replace(fixture.train, class_attributes=fixture.attributes[[3, 0, 5, 1, 4, 2]])
    second = cls(16, semantics="attributes")
    second.fit(shuffled, RunContext(seed=0))
    assert not np.allclose(first.projection_, second.projection_)


@pytest.mark.parametrize("cls", [TSK, AH, OPZH])
def test_word_vector_semantics_run_through_the_encoder(fixture, cls):
    method = cls(16, semantics="word-vectors")
    method.fit(fixture.train, RunContext(seed=0, encoder="hashing"))
    assert method.semantic_.shape == (6, 256)
    codes = method.encode(fixture.query, RunContext())
    assert codes.shape == (len(fixture.query), 16) and set(np.unique(codes)) <= {-1, 1}


def test_every_method_with_class_name_semantics_declares_that_it_reads_the_encoder():
    """Else ``--encoder`` gets a false "has no effect" warning and the record names no encoder
    while MiniLM made the class vectors."""
    from zshbench.plugin_manager import load_plugins

    readers = {
        name
        for name, spec, _ in load_plugins().methods.items()
        if "semantics" in spec.load().default_options
    }
    assert {"tsk", "ah", "opzh", "sitnet"} <= readers
    for name in readers:
        assert load_plugins().methods.get(name).load().uses_text_encoder, name


@pytest.mark.slow
def test_tsk_records_the_encoder_that_made_its_class_vectors(tmp_path):
    import json

    from zshbench import runner
    from zshbench.method import Progress

    class Logged(Progress):
        def __init__(self):
            self.lines = []

        def log(self, message):
            self.lines.append(message)

    progress = Logged()
    request = runner.RunRequest(
        method="tsk", dataset="digits", bits=[16], seeds=[0], device="cpu",
        results_dir=tmp_path, encoder="hashing",
    )  # fmt: skip
    record = json.loads(runner.run(request, progress)[0].read_text())
    assert record["encoder"] == "hashing"
    assert not [line for line in progress.lines if "does not read" in line]
