"""The deep-hashing engine (plugins/deep): epoch selection, augmentation, the conv stem, the
training loop's guard and accuracy, against brute force and hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from plugins.deep.backbones import ConvStem, build_backbone  # noqa: E402
from plugins.deep.engine import (  # noqa: E402
    Batch,
    Objective,
    Session,
    TrainSettings,
    torch_threads,
    train,
    training_accuracy,
)
from plugins.deep.images import Normalizer, build_augmentation  # noqa: E402
from plugins.deep.selection import EpochSelector  # noqa: E402
from zshbench.errors import TrainingError, ZshbenchError  # noqa: E402
from zshbench.method import RunContext  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Marker(nn.Module):
    """A network whose single parameter says which epoch's state it is."""

    def __init__(self):
        super().__init__()
        self.epoch = nn.Parameter(torch.zeros(()))


def brute_force_choice(
    scores: list[float], window: int, eligible: list[bool] | None = None
) -> tuple[int, float]:
    """(1-based index, smoothed score) by the rule written out: among the eligible indices
    whose centred window of ``window`` evaluations is complete, the first maximum of its mean;
    with none, the last eligible index (its own score); with no eligible index, the last one."""
    half, n = window // 2, len(scores)
    eligible = eligible or [True] * n
    full = [i for i in range(half, n - half) if eligible[i]]
    if full:
        means = {i: sum(scores[i - half : i + half + 1]) / window for i in full}
        best = max(full, key=lambda i: (means[i], -i))
        return best + 1, means[best]
    allowed = [i for i in range(n) if eligible[i]] or [n - 1]
    return allowed[-1] + 1, scores[allowed[-1]]


@pytest.mark.parametrize("window", [1, 3, 5])
@pytest.mark.parametrize("seed", range(6))
def test_epoch_selector_matches_brute_force_and_keeps_that_epochs_state(window, seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 6, size=9).astype(float).tolist()  # integer scores: many ties
    # eligibility as the training accuracy gives it: from some epoch on (never, in one case)
    first = [0, 3, 5, 8, 9, 2][seed]
    eligible = [i >= first for i in range(9)]
    selector, network = EpochSelector(window), Marker()
    for epoch, score in enumerate(scores, start=1):
        with torch.no_grad():
            network.epoch.fill_(epoch)
        selector.add(epoch, score, network, eligible[epoch - 1])
    selector.finish()
    expected_epoch, expected_score = brute_force_choice(scores, window, eligible)
    assert selector.best_epoch == expected_epoch
    assert selector.best_score == pytest.approx(expected_score)
    assert float(selector.best_state["epoch"]) == expected_epoch
    assert selector.fell_back is (not any(eligible))
    assert len(selector.states) <= window // 2 + 1  # only what may still be chosen is kept


def test_a_truncated_window_never_beats_a_full_one():
    """CIFAR-10 at 24 bits (validated every 2 epochs): the first evaluation's two-point average
    (0.1927) beat the peak's three-point one (0.1916) and an untrained network was kept."""
    scores = [0.19, 0.1954, 0.1894, 0.180, 0.175]  # epochs 2, 4, 6, 8, 10; the peak is epoch 4
    selector, network = EpochSelector(3), Marker()
    for epoch, score in zip(range(2, 12, 2), scores, strict=True):
        with torch.no_grad():
            network.epoch.fill_(epoch)
        selector.add(epoch, score, network)
    selector.finish()
    assert selector.best_epoch == 4 and float(selector.best_state["epoch"]) == 4
    assert selector.best_score == pytest.approx((0.19 + 0.1954 + 0.1894) / 3)


def test_with_no_eligible_epoch_the_most_trained_network_is_kept():
    """Training accuracy still rising below the bar: not the noisy early peak, the last."""
    scores = [0.30, 0.12, 0.14, 0.16, 0.18, 0.20]
    selector, network = EpochSelector(3), Marker()
    for epoch, score in enumerate(scores, start=1):
        with torch.no_grad():
            network.epoch.fill_(epoch)
        selector.add(epoch, score, network, eligible=False)
    selector.finish()
    assert selector.fell_back and selector.best_epoch == 6
    assert float(selector.best_state["epoch"]) == 6


def test_an_epoch_before_the_training_classes_are_learnt_is_not_chosen():
    """The noisy peak of an untrained network (epoch 1) loses to the best eligible epoch."""
    scores = [0.30, 0.16, 0.25, 0.24, 0.26, 0.22]
    accuracy = [0.15, 0.41, 0.85, 0.95, 0.98, 0.99]
    selector, network = EpochSelector(1), Marker()
    for epoch, (score, acc) in enumerate(zip(scores, accuracy, strict=True), start=1):
        selector.add(epoch, score, network, eligible=acc >= 0.95)
    selector.finish()
    assert selector.best_epoch == 5 and not selector.fell_back


def test_epoch_selector_ignores_a_single_lucky_evaluation():
    # raw argmax is the spike at epoch 3; averaged over 3, epoch 6 (in a plateau) wins:
    # epoch 4 (0.9, 0.2, 0.6) → 0.567, epoch 6 (0.6, 0.65, 0.6) → 0.617
    scores = [0.2, 0.2, 0.9, 0.2, 0.6, 0.65, 0.6, 0.3]
    selector, network = EpochSelector(3), Marker()
    for epoch, score in enumerate(scores, start=1):
        selector.add(epoch, score, network)
    selector.finish()
    assert selector.best_epoch == 6 and selector.best_score == pytest.approx(0.6166667, rel=1e-5)
    with pytest.raises(ValueError, match="odd"):
        EpochSelector(2)


def test_augmentations_are_per_image_and_keep_uint8_geometry():
    torch.manual_seed(0)
    batch = torch.arange(8 * 3 * 8 * 8, dtype=torch.int64).reshape(8, 3, 8, 8) % 251
    batch = batch.to(torch.uint8)
    assert build_augmentation("none", 8) is None
    for name in ("crop", "crop+flip", "rrc+flip", "flip"):
        out = build_augmentation(name, 8)(batch)
        assert out.shape == batch.shape and out.dtype == torch.uint8
    # the same image repeated gets different crops: parameters are drawn per image
    same = batch[:1].repeat(16, 1, 1, 1)
    cropped = build_augmentation("crop", 8)(same)
    assert len({bytes(image.numpy().tobytes()) for image in cropped}) > 1
    flipped = build_augmentation("flip", 8)(same)
    kinds = {bytes(image.numpy().tobytes()) for image in flipped}
    assert kinds <= {bytes(same[0].numpy().tobytes()), bytes(same[0].flip(-1).numpy().tobytes())}
    with pytest.raises(ZshbenchError, match="unknown augmentation"):
        build_augmentation("warp", 8)


@pytest.mark.parametrize(
    "side, patch, strides",
    [(8, 2, [1, 1, 1]), (32, 8, [2, 2, 1]), (64, 16, [2, 2, 2]), (64, 8, [2, 2, 1])],
)
def test_conv_stem_downsamples_to_twice_the_grid_then_cuts_the_grid(side, patch, strides):
    stem = ConvStem(img_size=side, patch_size=patch, embed_dim=16)
    convs = [m for m in stem.proj if isinstance(m, nn.Conv2d)]
    assert [c.stride[0] for c in convs[:-1]] == strides
    grid = side // patch
    assert stem.grid_size == (grid, grid) and stem.num_patches == grid * grid
    tokens = stem(torch.zeros(2, 3, side, side))
    assert tokens.shape == (2, grid * grid, 16)


def test_conv_stem_backbone_is_a_timm_vit_and_refuses_pretrained_weights():
    settings = {
        "model": "vit_tiny_patch16_224", "stem": "conv", "img_size": 8, "patch_size": 2,
        "embed_dim": 16, "depth": 1, "num_heads": 2,
    }  # fmt: skip
    encoder, mean, std = build_backbone(settings)
    assert isinstance(encoder.patch_embed, ConvStem)
    assert encoder.forward_features(torch.zeros(1, 3, 8, 8)).shape == (1, 17, 16)
    with pytest.raises(ZshbenchError, match="conv stem"):
        build_backbone({**settings, "pretrained": True})


class ToyHashNet(nn.Module):
    """Linear hash of flattened pixels; no classifier (accuracy by class-centre codes)."""

    def __init__(self, bits: int = 8):
        super().__init__()
        self.bits = bits
        self.linear = nn.Linear(3 * 4 * 4, bits)

    def hash_images(self, x):
        return torch.tanh(self.linear(x.flatten(1)))


class PullToClassCode(Objective):
    """Pulls h towards a fixed ±1 code per class (a loss that is easy to learn)."""

    def __init__(self, network, codes, poison: bool = False):
        super().__init__(network)
        self.register_buffer("codes", codes)
        self.poison = poison

    def forward(self, batch: Batch):
        h = self.network.hash_images(batch.images)
        loss = (h - self.codes[batch.labels]).pow(2).mean()
        if self.poison and batch.epoch == 2:
            loss = loss * float("nan")
        return {"loss": loss, "distance": loss.detach()}


def toy_data(per_class: int = 12, classes: int = 3):
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(classes).repeat_interleave(per_class)
    images = (torch.rand(len(labels), 3, 4, 4, generator=g) * 60).to(torch.uint8)
    images[torch.arange(len(labels)), labels % 3, :2, :] += 180  # a bright band per class
    codes = torch.tensor([[1.0] * 8, [-1.0] * 8, [1.0, -1.0] * 4])
    return images, labels, codes


def test_engine_trains_a_toy_objective_and_measures_accuracy_by_class_centres():
    images, labels, codes = toy_data()
    torch.manual_seed(0)
    network = ToyHashNet()
    settings = TrainSettings(epochs=30, batch_size=12, lr=0.05, weight_decay=0.0)
    context = RunContext()
    normalizer = Normalizer((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    session = Session(network, images, labels, normalizer, context, settings)
    before, how = training_accuracy(session)
    result = train(PullToClassCode(network, codes), images, labels, normalizer, settings, context)
    assert len(result.history) == 30 and result.best_epoch == 30
    assert result.history[-1].losses["distance"] < 0.5 * result.history[0].losses["distance"]
    after, how = training_accuracy(session)
    assert how == "nearest class-centre code" and after == 1.0 and after >= before


def test_engine_stops_a_diverging_run_with_one_line():
    images, labels, codes = toy_data()
    network = ToyHashNet()
    settings = TrainSettings(epochs=3, batch_size=12, lr=0.01, weight_decay=0.0)
    normalizer = Normalizer((0.5,) * 3, (0.5,) * 3)
    with pytest.raises(TrainingError) as info:
        train(
            PullToClassCode(network, codes, poison=True), images, labels, normalizer, settings,
            RunContext(), method="toy",
        )  # fmt: skip
    message = str(info.value)
    assert "\n" not in message and "toy: the loss became nan at epoch 2, step 1" in message
    assert "distance=" in message


def test_learning_rate_follows_warm_up_then_the_cosine_of_the_schedule_horizon(monkeypatch):
    """A retrain that stops at epoch 3 of a 4-epoch horizon follows that horizon's cosine."""
    images, labels, codes = toy_data(per_class=4)  # 12 images, batch 12: one step per epoch
    seen = []
    original = torch.optim.AdamW.step

    def spy_step(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", spy_step)
    normalizer = Normalizer((0.5,) * 3, (0.5,) * 3)
    for horizon, expected in ((4, [1.0, 1.0, 0.75]), (None, [1.0, 1.0, 0.5])):
        seen.clear()
        settings = TrainSettings(
            epochs=3, batch_size=12, lr=1.0, weight_decay=0.0, warmup_epochs=1.0,
            schedule_epochs=horizon,
        )  # fmt: skip
        train(PullToClassCode(ToyHashNet(), codes), images, labels, normalizer, settings,
              RunContext())  # fmt: skip
        # step 0: warm-up (0 + 1)/1; step k ≥ 1: ½(1 + cos(π (k - 1)/(horizon - 1)))
        assert seen == pytest.approx(expected)


class ScriptedAccuracy(PullToClassCode):
    """Reports a training accuracy scripted per epoch (1-based; the last value repeats)."""

    def __init__(self, network, codes, accuracy_by_epoch):
        super().__init__(network, codes)
        self.accuracy_by_epoch = accuracy_by_epoch

    def forward(self, batch: Batch):
        parts = super().forward(batch)
        index = min(batch.epoch, len(self.accuracy_by_epoch)) - 1
        parts["acc"] = torch.tensor(self.accuracy_by_epoch[index])
        return parts


@pytest.mark.parametrize(
    "bar, accuracy_by_epoch, expected_epochs",
    [
        (None, [0.2, 0.5, 0.9, 0.97], 2),  # no bar: exactly the chosen epochs
        (0.95, [0.2, 0.99], 2),  # already fit at the chosen epoch: no extension
        (0.95, [0.2, 0.5, 0.9, 0.97, 0.99], 4),  # goes on until the bar is reached
        (0.95, [0.2, 0.5], 6),  # never reached: stops at the schedule's horizon
    ],
)
def test_a_retrain_goes_on_until_its_training_accuracy_reaches_the_bar(
    bar, accuracy_by_epoch, expected_epochs
):
    images, labels, codes = toy_data(per_class=4)
    settings = TrainSettings(
        epochs=2, batch_size=12, lr=0.01, weight_decay=0.0, schedule_epochs=6,
        extend_until_accuracy=bar,
    )  # fmt: skip
    normalizer = Normalizer((0.5,) * 3, (0.5,) * 3)
    objective = ScriptedAccuracy(ToyHashNet(), codes, accuracy_by_epoch)
    result = train(objective, images, labels, normalizer, settings, RunContext())
    assert [s.epoch for s in result.history] == list(range(1, expected_epochs + 1))


def test_torch_threads_sets_and_restores_the_cpu_thread_count():
    before = torch.get_num_threads()
    with torch_threads(1, "cpu"):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads(None, "cpu"):
        assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), torch_threads(1, "cpu"):
        raise RuntimeError("restored even on error")
    assert torch.get_num_threads() == before


def test_cpu_scale_trains_on_one_thread_and_drmh_on_torchs_default():
    from plugins.deep.scales import resolve
    from plugins.deephash.drmh import DRMH

    options = {"scale": "cpu", "threads": None}
    assert resolve(options, {}, "digits", 8)["threads"] == 1
    assert resolve(options, DRMH.scale_defaults["cpu"], "digits", 8)["threads"] is None
    assert resolve({"scale": "cpu", "threads": 2}, {}, "digits", 8)["threads"] == 2
    assert resolve({"scale": "paper", "threads": None}, {}, "cub", 224)["threads"] is None


def test_an_objective_without_acc_is_gated_by_the_measured_training_accuracy(monkeypatch):
    """No "acc" from the objective: the engine measures the training accuracy at each
    evaluation, and the untrained epoch-1 network cannot win on its lucky validation score."""
    import plugins.deep.engine as engine

    measured = iter([0.40, 0.97, 0.99, 0.99])
    monkeypatch.setattr(engine, "training_accuracy", lambda session: (next(measured), "scripted"))
    scores = iter([0.9, 0.3, 0.5, 0.4])  # epoch 1 scores best, but is not eligible
    images, labels, codes = toy_data(per_class=4)
    settings = TrainSettings(
        epochs=4, batch_size=12, lr=0.01, weight_decay=0.0, selection_min_accuracy=0.95
    )
    normalizer = Normalizer((0.5,) * 3, (0.5,) * 3)
    result = train(
        PullToClassCode(ToyHashNet(), codes), images, labels, normalizer, settings, RunContext(),
        validate=lambda network: next(scores),
    )  # fmt: skip
    assert result.best_epoch == 3 and not result.no_epoch_eligible
    assert [s.train_accuracy for s in result.history] == [0.40, 0.97, 0.99, 0.99]
    assert result.history[0].to_record()["train_accuracy"] == 0.4


def test_an_untrained_classifier_is_not_used_to_measure_training_accuracy():
    """The classifier says "class 0" for every image; the codes separate the classes."""
    images, labels, codes = toy_data(per_class=4)

    class CodesPlusConstantClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.classifier = nn.Linear(8, 3)
            with torch.no_grad():
                self.classifier.weight.zero_()
                self.classifier.bias.copy_(torch.tensor([1.0, 0.0, 0.0]))

        def hash_images(self, x):  # the class's code, read off the bright band
            band = x[:, :, :2, :].mean((2, 3))
            return codes[band.argmax(1)]

    settings = TrainSettings(epochs=1, batch_size=12, lr=0.0, weight_decay=0.0)
    normalizer = Normalizer((0.5,) * 3, (0.5,) * 3)
    network = CodesPlusConstantClassifier()
    trained = Session(network, images, labels, normalizer, RunContext(), settings)
    assert training_accuracy(trained) == (pytest.approx(1 / 3), "classifier on h")
    untrained = Session(
        network, images, labels, normalizer, RunContext(), settings, classifier_trained=False
    )
    assert training_accuracy(untrained) == (1.0, "nearest class-centre code")


def test_the_cpu_scale_image_side_is_stated_once_and_agrees_everywhere():
    """scales.py's code, its comments and the README name one CPU-scale image side."""
    from pathlib import Path

    from plugins.deep import scales

    side = scales.CPU_MAX_SIDE
    assert scales.cpu_geometry(2 * side)[0] == side
    source = Path(scales.__file__).read_text()
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert f"up to {side} px" in readme and f"at most {side}" in source
    for other in (16, 48, 64, 128):  # no stale figure left in either
        assert f"up to {other} px" not in readme and f"at most {other}" not in source


def test_loader_and_step_rates_are_timed_apart(monkeypatch):
    """3 batches of 4 images: loading takes 0.5 s, the step 2 s → 8 and 2 img/s, ratio 4."""
    from plugins.deep import loader

    ticks = iter([t for i in range(3) for t in (10 * i, 10 * i + 0.5, 10 * i + 1, 10 * i + 3)])
    monkeypatch.setattr(loader.time, "perf_counter", lambda: next(ticks))
    images = torch.zeros((12, 3, 4, 4), dtype=torch.uint8)
    pipeline = loader.InputPipeline(
        images, Normalizer((0.5,) * 3, (0.5,) * 3), None, torch.device("cpu")
    )
    for _batch in range(3):
        with pipeline.timed("loader", 4):
            pass
        with pipeline.timed("step", 4):
            pass
    record = pipeline.meter.to_record()
    assert record["loader_img_s"] == 8.0 and record["step_img_s"] == 2.0
    assert record["loader_to_step"] == 4.0 and record["timed_batches"] == 3


def test_a_training_run_reports_its_loader_and_step_rates():
    images, labels, codes = toy_data()
    torch.manual_seed(0)
    settings = TrainSettings(epochs=2, batch_size=12, lr=0.05, weight_decay=0.0, augment="crop")
    normalizer = Normalizer((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    objective = PullToClassCode(ToyHashNet(), codes)
    rates = train(objective, images, labels, normalizer, settings, RunContext()).input_pipeline
    assert rates["timed_batches"] == 2 * 3  # every step of both epochs, on a CPU
    assert rates["loader_img_s"] > 0 and rates["step_img_s"] > 0
    assert rates["loader_to_step"] == pytest.approx(
        rates["loader_img_s"] / rates["step_img_s"], rel=0.01
    )
