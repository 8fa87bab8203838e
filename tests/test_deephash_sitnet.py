"""SitNet: its semantic embedding and regularized center losses by hand, the discrete layer's
forward and backward, the mutation of its key term, the class semantic vectors, its
registration as a zero-shot method, learning, and digits end to end."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from deephash_fixture import (  # noqa: E402
    EASY_TRAINING,
    check_record,
    easy_set,
    lsh_map,
    run_on_digits,
)

from plugins.deephash import sitnet  # noqa: E402
from zshbench.errors import ZshbenchError  # noqa: E402
from zshbench.method import RunContext  # noqa: E402
from zshbench.plugin_manager import load_plugins  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

EMBEDDING = torch.tensor([[1.0, 0.0], [0.2, 0.5]])
CLASS_VECTORS = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
LABELS = torch.tensor([0, 2])


def semantic_by_hand() -> float:
    # scores: image 1: (1, 0, 0.6), own class 0; image 2: (0.2, 0.5, 0.52), own class 2
    # image 1: max(0, 0.1 + 0 - 1) + max(0, 0.1 + 0.6 - 1) = 0
    # image 2: max(0, 0.1 + 0.2 - 0.52) + max(0, 0.1 + 0.5 - 0.52) = 0 + 0.08
    return (0.0 + 0.08) / 2


def test_semantic_embedding_loss_by_hand_and_its_ranking_direction_matters():
    value = sitnet.semantic_embedding_loss(EMBEDDING, CLASS_VECTORS, LABELS, margin=0.1)
    assert float(value) == pytest.approx(semantic_by_hand())
    # mutation of the key term: the own class's score and the others' swapped in the hinge
    scores = EMBEDDING @ CLASS_VECTORS.T
    own = scores.gather(1, LABELS.view(-1, 1))
    others = torch.ones_like(scores, dtype=torch.bool).scatter_(1, LABELS.view(-1, 1), False)
    swapped = ((0.1 + own - scores).clamp_min(0) * others).sum(1).mean()
    assert float(swapped) != pytest.approx(semantic_by_hand())


def test_discrete_layer_is_the_sign_forward_and_hardtanh_backward():
    z = torch.tensor([-2.0, -0.5, 0.0, 0.3, 1.5], requires_grad=True)
    b = sitnet.discrete_codes(z)
    assert b.tolist() == [-1.0, -1.0, 1.0, 1.0, 1.0]
    b.sum().backward()
    assert z.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


def test_regularized_center_loss_by_hand():
    codes = torch.tensor([[1.0, -1.0], [1.0, 1.0]])
    centres = torch.tensor([[0.5, -1.0], [0.0, 0.5], [-1.0, 1.0]])
    labels = torch.tensor([0, 1])
    center, separation = sitnet.regularized_center_loss(codes, centres, labels)
    # ‖(1, -1) − (0.5, -1)‖² = 0.25, ‖(1, 1) − (0, 0.5)‖² = 1.25; mean / 2 bits
    assert float(center) == pytest.approx((0.25 + 1.25) / 2 / 2)
    # centre inner products: c1c2 = -0.5, c1c3 = -1.5, c2c3 = 0.5; mean over the 6 ordered
    # pairs (each twice) / 2 bits
    assert float(separation) == pytest.approx((-0.5 - 1.5 + 0.5) / 3 / 2)


def test_class_semantic_vectors_from_names_or_attributes():
    easy = easy_set()
    data = easy.train
    context = RunContext(encoder="hashing")
    names = sitnet.class_semantic_vectors(data, context, "class-names")
    expected = context.encode_texts(["pattern 0", "pattern 1", "pattern 2", "pattern 3"])
    assert np.allclose(names, expected)
    attributes = sitnet.class_semantic_vectors(data, context, "attributes")
    assert np.array_equal(attributes, data.class_attributes.astype(np.float32))
    without = easy_set(class_attributes=False).train
    with pytest.raises(ZshbenchError, match="semantics=class-names"):
        sitnet.class_semantic_vectors(without, context, "attributes")


def test_sitnet_is_registered_as_a_zero_shot_deep_method():
    spec = load_plugins().methods.get("sitnet")
    assert spec.zero_shot and spec.family == "deep" and "IJCAI 2017" in spec.citation
    assert spec.load() is sitnet.SitNet
    with pytest.raises(ZshbenchError, match="semantics"):
        sitnet.SitNet(16, semantics="glove")
    with pytest.raises(ZshbenchError, match="SitNet option margin must be a number ≥ 0"):
        sitnet.SitNet(16, margin=-0.1)


def test_sitnet_learns_the_easy_set_better_than_lsh():
    easy = easy_set()
    torch.manual_seed(0)
    method = sitnet.SitNet(16, semantics="attributes", **EASY_TRAINING)
    context = RunContext(seed=0)
    method.fit(easy.train, context)
    learned, baseline = easy.map(method, context), lsh_map(easy, 16)
    assert learned > 0.9 and learned > baseline + 0.2


def test_sitnet_end_to_end_on_digits(tmp_path):
    record = run_on_digits(tmp_path, "sitnet", encoder="hashing")
    training = check_record(record, "sitnet")
    assert {"sem", "center", "separation"} <= set(training["final_losses"])
    assert record["config"]["semantics"] == "class-names" and record["encoder"] == "hashing"
