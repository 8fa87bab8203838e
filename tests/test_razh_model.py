"""The RAZH network (plugins/razh/model.py), built directly around a tiny timm ViT.

The ViT is 8×8 px with 2×2 patches (M = 16 patches), 16-d, one block; the decoder is 8-d with
one block, so every test here runs in milliseconds. What is checked:

* the shapes of every ``TrainOutputs`` field for RAZH, RAZH-C, RAZH-D and RAZH-A;
* one backward pass of Eq. 16 reaches every parameter of the full network, and F_m's gradient
  exists *only* through the AEM's straight-through estimator (argmax has no gradient);
* the AEM's forward pass is the hard top-1 choice among the image's own class attributes T^(i);
* the threshold replacement of Eq. 3, RAZH-C's one-patch clusters;
* the reconstruction branch: how many patches are kept, that the mask is random, and that the
  decoder sees the shared mask token (not the image) at the dropped positions;
* test-time hashing against timm's own ``forward_features`` (an independent reference);
* ``patchify`` against hand-written pixel layouts and against the patch embedding itself.
"""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

from plugins.razh.kmeans import cluster_means  # noqa: E402
from plugins.razh.model import AttributeEmbedding, RAZHNet  # noqa: E402
from plugins.razh.objective import razh_loss_parts  # noqa: E402

IMG, PATCH, DIM, BITS, CLASSES, ATTRIBUTES, WORD_DIM = 8, 2, 16, 12, 3, 6, 5
M = (IMG // PATCH) ** 2  # 16 patches
PIXELS = PATCH * PATCH * 3  # p²·C
CLUSTERS = 4
# T^(i): every class has at least one attribute and no two classes share a set.
SETS = torch.tensor(
    [
        [1, 1, 0, 0, 1, 0],
        [0, 1, 1, 0, 0, 0],
        [0, 0, 0, 1, 1, 1],
    ],
    dtype=torch.bool,
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_encoder(seed: int = 0, in_chans: int = 3, img_size: int = IMG, class_token: bool = True):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return timm.create_model(
            "vit_tiny_patch16_224",
            pretrained=False,
            num_classes=0,
            img_size=img_size,
            patch_size=PATCH,
            embed_dim=DIM,
            depth=1,
            num_heads=2,
            in_chans=in_chans,
            class_token=class_token,
            global_pool="token" if class_token else "avg",
        )


def tiny_aem(seed: int = 0, straight_through: bool = True, sets: torch.Tensor = SETS):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 100)
        words = torch.randn(sets.shape[1], WORD_DIM)
        return AttributeEmbedding(
            words, sets, visual_dim=DIM, attribute_dim=8, straight_through=straight_through
        )


def tiny_net(
    mixing: str | None = "aem",
    clustering: bool = True,
    seed: int = 0,
    straight_through: bool = True,
    **kwargs,
) -> RAZHNet:
    options = {
        "clusters": CLUSTERS,
        "kmeans_iterations": 3,
        "threshold": 0.1,
        "mask_ratio": 0.5,
        "decoder_dim": 8,
        "decoder_depth": 1,
        "decoder_heads": 2,
        **kwargs,
    }
    encoder = tiny_encoder(seed)
    aem = tiny_aem(seed, straight_through) if mixing == "aem" else None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 200)
        net = RAZHNet(
            encoder, BITS, CLASSES, aem=aem, mixing=mixing, clustering=clustering, **options
        )
    return net.train()


def batch(size: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(size, 3, IMG, IMG, generator=g)
    labels = torch.arange(size) % CLASSES
    return images, labels


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize(
    "mixing, clustering",
    [("aem", True), ("aem", False), ("random", True), (None, True)],
    ids=["razh", "razh-c", "razh-d", "razh-a"],
)
def test_train_outputs_shapes(mixing, clustering):
    net = tiny_net(mixing, clustering)
    images, labels = batch(4)
    out = net(images, labels, gen())
    assert out.h.shape == (4, BITS) and out.h.abs().max() < 1  # tanh
    assert out.logits.shape == (4, CLASSES)
    assert out.target.shape == out.reconstruction.shape == (4, M, PIXELS)
    assert out.masked.shape == (4, M) and out.masked.dtype == torch.bool
    assert out.masked.sum(dim=1).tolist() == [M // 2] * 4  # mask ratio 0.5
    if mixing is None:  # RAZH-A: the reconstruction branch only
        assert out.h_aux is None and out.aux_reconstruction is None
        assert out.aux_selected is None and out.mixing is None
        return
    assert out.h_aux.shape == (4, BITS)
    assert out.aux_reconstruction.shape == (4, M, PIXELS)
    assert out.aux_selected.shape == (4, M) and out.aux_selected.dtype == torch.bool
    if mixing == "random":  # RAZH-D: a second random mask, drawn independently of the first
        assert out.mixing is None
        assert out.aux_selected.sum(dim=1).tolist() == [M // 2] * 4
        assert not torch.equal(out.aux_selected, out.masked)
        return
    clusters = CLUSTERS if clustering else M
    mixing_out = out.mixing
    assert mixing_out.tokens.shape == (4, M, DIM)
    assert mixing_out.replaced.shape == mixing_out.assignment.shape == (4, M)
    assert mixing_out.attribute.shape == mixing_out.similarity.shape == (4, clusters)
    assert mixing_out.passed.shape == (4, clusters) and mixing_out.passed.dtype == torch.bool
    assert 0 <= int(mixing_out.assignment.min()) and int(mixing_out.assignment.max()) < clusters
    assert torch.equal(out.aux_selected, mixing_out.replaced)


def test_constructor_rejects_bad_switches():
    with pytest.raises(ValueError, match="mixing"):
        tiny_net(mixing="both")
    with pytest.raises(ValueError, match="AttributeEmbedding"):
        RAZHNet(tiny_encoder(), BITS, CLASSES, aem=None, mixing="aem")
    with pytest.raises(ValueError, match="mask_ratio"):
        tiny_net(mask_ratio=1.0)
    with pytest.raises(ValueError, match="clusters"):
        tiny_net(clusters=M + 1)
    with pytest.raises(ValueError, match="class token"):
        RAZHNet(tiny_encoder(class_token=False), BITS, CLASSES, mixing=None, pool="cls")
    with pytest.raises(ValueError, match="disagree"):
        AttributeEmbedding(torch.zeros(4, WORD_DIM), SETS, DIM, 8)


# --------------------------------------------------------------------------- gradients


def objective_gradients(straight_through: bool) -> tuple[RAZHNet, dict[str, torch.Tensor]]:
    """One backward pass of the full Eq. 16 with every cluster replaced (threshold −1)."""
    net = tiny_net("aem", straight_through=straight_through, threshold=-1.0)
    images, labels = batch(6)
    parts = razh_loss_parts(net, images, labels, gen(3), 1.0, 1.0, frozenset({"cls", "h", "rec"}))
    assert float(parts["replaced"]) == 1.0  # threshold −1 ≤ any cosine: all replaced
    assert set(parts) >= {"cls", "h", "r", "hal", "loss"}
    parts["loss"].backward()
    return net, dict(net.named_parameters())


def test_one_backward_reaches_every_parameter():
    net, parameters = objective_gradients(straight_through=True)
    # the modules the brief names, spelled out so a renamed module cannot slip through
    expected = [
        "encoder.patch_embed.proj.weight",
        "encoder.patch_embed.proj.bias",
        "encoder.cls_token",
        "encoder.pos_embed",
        "encoder.blocks.0.attn.qkv.weight",
        "encoder.blocks.0.mlp.fc2.weight",
        "encoder.norm.weight",
        "hash_layer.weight",
        "classifier.weight",
        "decoder_embed.weight",
        "mask_token",
        "decoder_pos_embed",
        "decoder_blocks.0.attn.qkv.weight",
        "decoder_norm.weight",
        "decoder_pred.weight",
        "aem.to_attribute_space.weight",  # F_m
        "aem.to_attribute_space.bias",
        "aem.embed_attributes.weight",  # F_a
        "aem.to_visual_space.weight",  # F_i
    ]
    assert set(expected) <= set(parameters)
    without = [
        name
        for name, p in parameters.items()
        if p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0
    ]
    assert without == [], f"no gradient reached {without}"


def test_f_m_learns_only_through_the_straight_through_estimator():
    """argmax has no gradient: without the ST, F_m (which only feeds the similarity) gets none;
    F_a and F_i still learn (they produce the chosen attribute patch itself)."""
    _, parameters = objective_gradients(straight_through=False)
    for name in ("aem.to_attribute_space.weight", "aem.to_attribute_space.bias"):
        grad = parameters[name].grad
        assert grad is None or torch.count_nonzero(grad) == 0, name
    for name in ("aem.embed_attributes.weight", "aem.to_visual_space.weight"):
        assert parameters[name].grad is not None and parameters[name].grad.abs().sum() > 0


# --------------------------------------------------------------------------- AEM


def test_straight_through_forward_is_the_hard_choice_and_backward_is_the_softmax():
    aem = tiny_aem(straight_through=True).train()
    centres = torch.randn(5, CLUSTERS, DIM, generator=gen(1))
    labels = torch.tensor([0, 1, 2, 0, 1])
    patches, best, similarity = aem(centres, labels)
    attributes = aem.embed_attributes(aem.word_vectors)  # A = F_a(w2v(T))
    hard = aem.to_visual_space(attributes[best])  # F_i(A[argmax])
    assert torch.equal(patches, hard)
    with torch.no_grad():  # eval mode (plain argmax) chooses and returns the same
        eval_patches, eval_best, _ = aem.eval()(centres, labels)
    aem.train()
    assert torch.equal(eval_best, best) and torch.equal(eval_patches, patches.detach())
    # backward: the gradient of the soft choice softmax(sim / T) over the allowed attributes
    patches.square().sum().backward()
    st_grad = aem.to_attribute_space.weight.grad.clone()
    aem.zero_grad()
    mapped = torch.nn.functional.normalize(aem.to_attribute_space(centres), dim=-1)
    unit_attributes = torch.nn.functional.normalize(aem.embed_attributes(aem.word_vectors), dim=-1)
    sim = (mapped @ unit_attributes.T).masked_fill(~SETS[labels][:, None, :], float("-inf"))
    soft = torch.softmax(sim / aem.temperature, dim=-1)
    one_hot = torch.nn.functional.one_hot(best, ATTRIBUTES).float()
    choice = one_hot + (soft - soft.detach())
    aem.to_visual_space(choice @ aem.embed_attributes(aem.word_vectors)).square().sum().backward()
    torch.testing.assert_close(st_grad, aem.to_attribute_space.weight.grad)
    assert st_grad.abs().sum() > 0


def identity_aem(sets: torch.Tensor) -> AttributeEmbedding:
    """An AEM whose F_m, F_a, F_i are identities and whose attributes are the unit vectors."""
    count = sets.shape[1]
    aem = AttributeEmbedding(torch.eye(count), sets, visual_dim=count, attribute_dim=count)
    with torch.no_grad():
        for layer in (aem.to_attribute_space, aem.embed_attributes, aem.to_visual_space):
            layer.weight.copy_(torch.eye(count))
            layer.bias.zero_()
    return aem


def test_argmax_is_restricted_to_the_class_attributes_by_hand():
    sets = torch.tensor([[0, 1, 1], [1, 1, 1], [0, 0, 1]], dtype=torch.bool)
    aem = identity_aem(sets).train()
    # one centre per image, globally closest to attribute 0 (cos 0.894), then 1 (0.447), 2 (0)
    centre = torch.tensor([1.0, 0.5, 0.0])
    centres = centre.expand(3, 1, 3)
    patches, best, similarity = aem(centres, torch.tensor([0, 1, 2]))
    # class 0 lacks attribute 0 → 1; class 1 has all → 0; class 2 has only 2 → 2
    assert best[:, 0].tolist() == [1, 0, 2]
    expected = [0.5 / 1.25**0.5, 1.0 / 1.25**0.5, 0.0]
    torch.testing.assert_close(similarity[:, 0], torch.tensor(expected))
    torch.testing.assert_close(patches[:, 0], torch.eye(3)[[1, 0, 2]])


def test_argmax_never_leaves_the_class_set_on_random_data():
    g = gen(7)
    sets = torch.rand(5, 12, generator=g) < 0.3
    sets[torch.arange(5), torch.randint(0, 12, (5,), generator=g)] = True  # none empty
    aem = AttributeEmbedding(torch.randn(12, WORD_DIM, generator=g), sets, DIM, 8).train()
    centres = torch.randn(40, 6, DIM, generator=g)
    labels = torch.randint(0, 5, (40,), generator=g)
    with torch.no_grad():
        _, best, similarity = aem(centres, labels)
        mapped = aem.to_attribute_space(centres)
        attributes = aem.embed_attributes(aem.word_vectors)
    chose_outside_global_best = 0
    for b in range(40):
        allowed = sets[labels[b]].nonzero().flatten().tolist()
        for k in range(6):
            cos = torch.nn.functional.cosine_similarity(mapped[b, k][None], attributes, dim=-1)
            own = max(allowed, key=lambda a: float(cos[a]))
            assert int(best[b, k]) == own
            assert float(similarity[b, k]) == pytest.approx(float(cos[own]), abs=1e-5)
            chose_outside_global_best += int(cos.argmax()) not in allowed
    assert chose_outside_global_best > 20  # the restriction mattered in many cases


# --------------------------------------------------------------------------- Eq. 3


def test_threshold_above_one_replaces_nothing():
    net = tiny_net("aem", threshold=1.5)
    images, labels = batch(4)
    tokens = net.patch_tokens(images)
    mixing = net.mix(tokens, labels, gen())
    assert torch.equal(mixing.tokens, tokens)  # Z == P
    assert not mixing.replaced.any() and not mixing.passed.any()


def expected_attribute_patches(net: RAZHNet, attribute: torch.Tensor) -> torch.Tensor:
    """F_i(A[index]) for an (B, K') attribute index, computed outside the AEM's forward."""
    attributes = net.aem.embed_attributes(net.aem.word_vectors)
    return net.aem.to_visual_space(attributes[attribute])


def test_threshold_minus_one_replaces_every_patch_by_its_clusters_attribute():
    net = tiny_net("aem", threshold=-1.0)
    images, labels = batch(4)
    tokens = net.patch_tokens(images)
    mixing = net.mix(tokens, labels, gen(2))
    assert mixing.replaced.all() and mixing.passed.all()
    per_cluster = expected_attribute_patches(net, mixing.attribute)  # (B, K', d_v)
    for b in range(4):
        for m in range(M):
            k = int(mixing.assignment[b, m])
            torch.testing.assert_close(mixing.tokens[b, m], per_cluster[b, k])
    # the matched attribute is the AEM's choice for the Eq. 1 centres of that assignment
    centres = cluster_means(tokens, mixing.assignment, CLUSTERS)
    _, attribute, similarity = net.aem(centres, labels)
    assert torch.equal(attribute, mixing.attribute)
    torch.testing.assert_close(similarity, mixing.similarity)
    # each image's matches are its own class's attributes
    assert (
        SETS[labels][:, None, :]
        .expand(-1, CLUSTERS, -1)
        .gather(2, mixing.attribute[..., None])
        .all()
    )


def test_intermediate_threshold_replaces_exactly_the_passing_clusters():
    net = tiny_net("aem")
    images, labels = batch(8)
    tokens = net.patch_tokens(images)
    probe = net.mix(tokens, labels, gen(4))
    net.threshold = float(probe.similarity.detach().median())  # about half the clusters pass
    mixing = net.mix(tokens, labels, gen(4))
    assert torch.equal(mixing.passed, mixing.similarity >= net.threshold)
    assert 0 < mixing.passed.float().mean() < 1
    assert torch.equal(mixing.replaced, torch.gather(mixing.passed, 1, mixing.assignment))
    kept = ~mixing.replaced
    assert torch.equal(mixing.tokens[kept], tokens[kept])
    per_cluster = expected_attribute_patches(net, mixing.attribute)
    per_patch = torch.gather(per_cluster, 1, mixing.assignment[..., None].expand(-1, -1, DIM))
    torch.testing.assert_close(mixing.tokens[~kept], per_patch[~kept])


@pytest.mark.parametrize("ratio", [0.25, 0.5, 0.75])
def test_replace_ratio_replaces_that_share_of_the_patches(ratio):
    """RAZH-C (one patch a cluster): exactly ``ratio`` of the batch's 8 × 16 patches, the ones
    with the highest best-attribute similarity (a brute-force sort is the reference)."""
    net = tiny_net("aem", clustering=False, threshold=None, replace_ratio=ratio)
    images, labels = batch(8)
    mixing = net.mix(net.patch_tokens(images), labels, gen(4))
    similarity = mixing.similarity.detach().flatten()
    order = similarity.argsort(descending=True)
    expected = torch.zeros_like(similarity, dtype=torch.bool)
    expected[order[: round(ratio * len(similarity))]] = True
    assert torch.equal(mixing.replaced.flatten(), expected)


def test_replace_ratio_with_clusters_replaces_whole_clusters_about_that_share():
    net = tiny_net("aem", threshold=None, replace_ratio=0.5)
    images, labels = batch(8)
    mixing = net.mix(net.patch_tokens(images), labels, gen(4))
    assert torch.equal(mixing.replaced, torch.gather(mixing.passed, 1, mixing.assignment))
    share = mixing.replaced.float().mean().item()
    assert 0.5 <= share <= 0.5 + 16 / 128  # at most one cluster's patches above the quantile
    nothing = tiny_net("aem", threshold=None, replace_ratio=0.0)
    assert not nothing.mix(net.patch_tokens(images), labels, gen(4)).replaced.any()
    with pytest.raises(ValueError, match="exactly one"):
        tiny_net("aem", threshold=0.1, replace_ratio=0.5)


def test_attribute_choice_is_fp32_under_bf16_autocast():
    """The cosine similarities, their argmax and the threshold test do not see bf16 rounding."""
    net = tiny_net("aem", threshold=None, replace_ratio=0.5)
    images, labels = batch(8)
    tokens = net.patch_tokens(images).detach()
    reference = net.mix(tokens, labels, gen(4))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under = net.mix(tokens, labels, gen(4))
    assert under.similarity.dtype == torch.float32
    torch.testing.assert_close(under.similarity, reference.similarity)
    assert torch.equal(under.attribute, reference.attribute)
    assert torch.equal(under.replaced, reference.replaced)


def test_razh_c_gives_every_patch_its_own_cluster():
    net = tiny_net("aem", clustering=False, threshold=-1.0)
    images, labels = batch(3)
    tokens = net.patch_tokens(images)
    mixing = net.mix(tokens, labels, gen())
    assert torch.equal(mixing.assignment, torch.arange(M).expand(3, -1))
    assert mixing.attribute.shape == (3, M) and mixing.replaced.all()
    # each patch matched on its own embedding: the AEM on P itself gives the same choice
    _, attribute, _ = net.aem(tokens, labels)
    assert torch.equal(attribute, mixing.attribute)
    torch.testing.assert_close(mixing.tokens, expected_attribute_patches(net, attribute))


# --------------------------------------------------------------------------- reconstruction


@pytest.mark.parametrize("ratio", [0.0, 0.25, 0.5, 0.75, 0.9])
def test_random_keep_keeps_round_one_minus_ratio_patches(ratio):
    net = tiny_net(None, mask_ratio=ratio)
    keep, dropped = net.random_keep(5, gen(1), torch.device("cpu"))
    count = max(1, round((1 - ratio) * M))
    assert keep.shape == (5, count)
    assert dropped.shape == (5, M) and dropped.sum(dim=1).tolist() == [M - count] * 5
    for b in range(5):
        assert keep[b].tolist() == sorted(set(keep[b].tolist()))  # sorted, distinct
        assert (~dropped[b]).nonzero().flatten().tolist() == keep[b].tolist()


def test_masks_depend_on_the_generator_state():
    net = tiny_net(None)
    _, first = net.random_keep(4, gen(0), torch.device("cpu"))
    _, again = net.random_keep(4, gen(0), torch.device("cpu"))
    _, other = net.random_keep(4, gen(1), torch.device("cpu"))
    assert torch.equal(first, again) and not torch.equal(first, other)
    g = gen(0)  # successive draws from one generator differ too
    _, a = net.random_keep(4, g, torch.device("cpu"))
    _, b = net.random_keep(4, g, torch.device("cpu"))
    assert not torch.equal(a, b)


def patch_pixels(b: int, m: int) -> tuple[int, slice, slice]:
    row, col = divmod(m, IMG // PATCH)
    return b, slice(row * PATCH, (row + 1) * PATCH), slice(col * PATCH, (col + 1) * PATCH)


def test_decoder_sees_only_the_mask_token_at_dropped_patches():
    net = tiny_net(None).eval()
    with torch.no_grad():
        net.mask_token.fill_(3.0)  # distinctive
    images, _ = batch(3)
    tokens = net.patch_tokens(images)
    seen = {}
    hook = net.decoder_blocks[0].register_forward_pre_hook(
        lambda module, args: seen.__setitem__("x", args[0].detach().clone())
    )
    try:
        _, reconstruction, dropped = net.reconstruction_branch(tokens, gen(5))
    finally:
        hook.remove()
    decoder_input = seen["x"]  # (B, M, decoder_dim): embedded tokens + decoder positions
    expected = (net.mask_token[0, 0] + net.decoder_pos_embed[0]).detach()
    for b in range(3):
        for m in range(M):
            if dropped[b, m]:
                torch.testing.assert_close(decoder_input[b, m], expected[m])
            else:
                assert not torch.allclose(decoder_input[b, m], expected[m])

    # What lies under a dropped patch cannot change g_x (same generator seed, same mask) ...
    changed = images.clone()
    noise = torch.randn(images.shape, generator=gen(9)) * 10
    for b, m in dropped.nonzero().tolist():
        index = patch_pixels(b, m)
        changed[index[0], :, index[1], index[2]] = noise[index[0], :, index[1], index[2]]
    assert not torch.equal(changed, images)
    _, again, dropped_again = net.reconstruction_branch(net.patch_tokens(changed), gen(5))
    assert torch.equal(dropped_again, dropped)
    torch.testing.assert_close(again, reconstruction, rtol=0, atol=1e-6)
    # ... while a kept patch does.
    b, m = (~dropped).nonzero()[0].tolist()
    index = patch_pixels(b, m)
    changed[index[0], :, index[1], index[2]] += 5.0
    _, moved, _ = net.reconstruction_branch(net.patch_tokens(changed), gen(5))
    assert not torch.allclose(moved[b], reconstruction[b], atol=1e-4)


def test_training_reconstruction_target_and_mask_come_from_the_same_draw():
    """forward's ``masked`` is the reconstruction branch's dropped mask for that generator."""
    net = tiny_net("random")
    images, labels = batch(4)
    out = net(images, labels, gen(11))
    g = gen(11)
    _, first = net.random_keep(4, g, torch.device("cpu"))
    assert torch.equal(out.masked, first)
    torch.testing.assert_close(out.target, net.patchify(images))


# --------------------------------------------------------------------------- test-time hashing


@pytest.mark.parametrize("pool", ["mean", "cls"])
def test_hash_images_matches_timms_forward_features(pool):
    net = tiny_net("aem", pool=pool, hash_input="full")
    images, labels = batch(5)
    rng_before = torch.get_rng_state()
    first = net.hash_images(images)
    assert torch.equal(torch.get_rng_state(), rng_before)  # no randomness drawn
    torch.manual_seed(1234)
    second = net.hash_images(images)
    net.eval()
    third = net.hash_images(images)
    assert torch.equal(first, second) and torch.equal(first, third)
    with torch.no_grad():
        sequence = net.encoder.forward_features(images)  # (B, 1 + M, d_v), timm's own plumbing
        feature = sequence.mean(1) if pool == "mean" else sequence[:, 0]
        reference = torch.tanh(net.hash_layer(feature))
    torch.testing.assert_close(first, reference, rtol=0, atol=1e-6)
    # training computes h (hash_input="full") from the whole image, as at test time
    net.train()
    out = net(images, labels, gen(1))
    torch.testing.assert_close(out.h.detach(), first, rtol=0, atol=1e-6)


def test_hash_input_masked_uses_the_reconstruction_branch():
    net = tiny_net(None)  # the default: h from f_x, the masked branch (Eq. 5, 7)
    assert net.hash_input == "masked"
    images, labels = batch(3)
    out = net(images, labels, gen(2))
    keep, _ = net.random_keep(3, gen(2), torch.device("cpu"))
    tokens = net.patch_tokens(images)
    kept = torch.gather(tokens, 1, keep[..., None].expand(-1, -1, DIM))
    expected = net.hash_from_sequence(net.encode_tokens(kept, keep))
    torch.testing.assert_close(out.h, expected)
    assert not torch.allclose(out.h, net.hash_images(images), atol=1e-4)


# --------------------------------------------------------------------------- patchify


def test_patchify_one_channel_by_hand():
    encoder = tiny_encoder(in_chans=1, img_size=4)
    net = RAZHNet(encoder, BITS, CLASSES, mixing=None, decoder_dim=8, decoder_depth=1,
                  decoder_heads=2)  # fmt: skip
    image = torch.arange(16.0).reshape(1, 1, 4, 4)
    # 0  1 |  2  3
    # 4  5 |  6  7
    # -----+------
    # 8  9 | 10 11
    # 12 13| 14 15
    expected = torch.tensor(
        [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]], dtype=torch.float32
    )
    assert torch.equal(net.patchify(image)[0], expected)


def test_patchify_three_channels_is_row_major_patches_with_channel_last_pixels():
    net = tiny_net(None)
    images = torch.arange(2 * 3 * IMG * IMG, dtype=torch.float32).reshape(2, 3, IMG, IMG)
    patches = net.patchify(images)
    grid = IMG // PATCH
    expected = torch.empty(2, M, PIXELS)
    for b in range(2):
        for gy in range(grid):
            for gx in range(grid):
                values = []
                for py in range(PATCH):
                    for px in range(PATCH):
                        for c in range(3):
                            values.append(images[b, c, gy * PATCH + py, gx * PATCH + px])
                expected[b, gy * grid + gx] = torch.stack(values)
    assert torch.equal(patches, expected)
    # by hand for the first patch: pixel (0,0) RGB, (0,1) RGB, (1,0) RGB, (1,1) RGB
    plane = IMG * IMG
    first = [0, plane, 2 * plane, 1, plane + 1, 2 * plane + 1]
    first += [IMG, plane + IMG, 2 * plane + IMG, IMG + 1, plane + IMG + 1, 2 * plane + IMG + 1]
    assert patches[0, 0].tolist() == [float(v) for v in first]


def test_patchify_order_is_the_patch_embeddings_order():
    """Token m of the patch embedding is the conv of patchify's patch m (same grid order)."""
    net = tiny_net(None)
    images, _ = batch(2)
    proj = net.encoder.patch_embed.proj  # Conv2d (d_v, C, p, p)
    weight = proj.weight.permute(0, 2, 3, 1).reshape(DIM, -1)  # to (p, p, C) order
    by_hand = net.patchify(images) @ weight.T + proj.bias
    torch.testing.assert_close(net.patch_tokens(images), by_hand, rtol=1e-5, atol=1e-5)


def test_norm_pix_loss_normalises_each_patch():
    net = tiny_net(None, norm_pix_loss=True)
    images, _ = batch(2)
    target = net.patchify(images)
    torch.testing.assert_close(target.mean(-1), torch.zeros(2, M), atol=1e-5, rtol=0)
    torch.testing.assert_close(target.var(-1), torch.ones(2, M), atol=1e-3, rtol=0)


def test_without_reconstruction_the_decoder_and_mixing_are_skipped_and_h_is_the_same():
    net = tiny_net("aem")
    images, labels = batch(4)
    full = net(images, labels, gen(7))
    lean = net(images, labels, gen(7), reconstruct=False)
    assert lean.reconstruction is None and lean.h_aux is None and lean.mixing is None
    torch.testing.assert_close(lean.h, full.h)
    torch.testing.assert_close(lean.logits, full.logits)


def test_sincos_decoder_positions_are_maes_fixed_formula():
    from plugins.razh.model import sincos_2d

    table = sincos_2d((3, 4), 8)  # quarter = 2 frequencies: 1 and 1/100
    row, col = 1, 2
    expected = [math.sin(row), math.sin(row / 100), math.cos(row), math.cos(row / 100),
                math.sin(col), math.sin(col / 100), math.cos(col), math.cos(col / 100)]  # fmt: skip
    assert table.shape == (12, 8)
    assert table[row * 4 + col].tolist() == pytest.approx(expected, abs=1e-6)
