"""Feature extractors: raw pixels, and a frozen timm backbone loaded from a real weights file.

The timm tests build a tiny ViT (2 blocks, 32-d) so that saving and loading a real checkpoint
through the ``weights`` option takes well under a second.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from plugins.features.image_extractors import PixelExtractor
from zshbench.datasets.base import ArrayImageSource, ImageSource
from zshbench.errors import ZshbenchError
from zshbench.features import make_extractor
from zshbench.method import ImageView, RunContext
from zshbench.plugin_manager import load_plugins

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

TINY_VIT = "vit_tiny_patch16_224"
TINY_KWARGS = {"img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 2, "num_heads": 2}


class ListSource(ImageSource):
    """Images of different sizes, as a file-backed data set would give them."""

    def __init__(self, images: list[np.ndarray]):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def load(self, index: int) -> np.ndarray:
        return self.images[index]


def view_of(array: np.ndarray) -> ImageView:
    return ImageView(ArrayImageSource(array), np.arange(len(array)))


def random_images(n: int, size: int = 32, channels: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, size, size, channels), dtype=np.uint8)


def test_extractors_registered_through_entry_points():
    plugins = load_plugins()
    assert {"pixels", "timm"} <= set(plugins.extractors.names())
    assert isinstance(make_extractor("pixels"), PixelExtractor)


# --------------------------------------------------------------------------- pixels


def test_pixels_flatten_and_scale():
    images = random_images(5, size=8, channels=1)
    features = make_extractor("pixels").transform(view_of(images), RunContext())
    assert features.dtype == np.float32
    assert features.shape == (5, 64)
    assert np.allclose(features, images.reshape(5, -1) / 255.0, atol=1e-7)


def test_pixels_grayscale_uses_luma_weights():
    images = random_images(4, size=6, channels=3)
    features = PixelExtractor(grayscale=True).transform(view_of(images), RunContext())
    r, g, b = (images[..., c].astype(np.float64) for c in range(3))
    expected = (0.299 * r + 0.587 * g + 0.114 * b) / 255.0
    assert features.shape == (4, 36)
    assert np.allclose(features, expected.reshape(4, -1), atol=1e-6)


def test_pixels_size_resizes_with_pillow():
    from PIL import Image

    images = [random_images(1, size=s, seed=s)[0] for s in (10, 17, 24)]
    view = ImageView(ListSource(images), [0, 1, 2])
    features = PixelExtractor(size=8).transform(view, RunContext())
    assert features.shape == (3, 8 * 8 * 3)
    expected = np.asarray(Image.fromarray(images[1]).resize((8, 8), Image.Resampling.BILINEAR))
    assert np.allclose(features[1], expected.reshape(-1) / 255.0, atol=1e-7)


def test_pixels_different_sizes_without_size_is_a_clear_error():
    images = [random_images(1, size=s)[0] for s in (8, 9)]
    with pytest.raises(ZshbenchError, match="differ in size"):
        PixelExtractor().transform(ImageView(ListSource(images), [0, 1]), RunContext())


def test_pixels_unknown_option():
    with pytest.raises(ZshbenchError, match="grayscale"):
        PixelExtractor(greyscale=True)


# --------------------------------------------------------------------------- timm


def tiny_vit(seed: int, num_classes: int = 0):
    torch.manual_seed(seed)
    return timm.create_model(TINY_VIT, pretrained=False, num_classes=num_classes, **TINY_KWARGS)


def reference_features(model, images: np.ndarray) -> np.ndarray:
    """Forward pass done by hand: images already 32×32, mean = std = 0.5 for this ViT."""
    x = torch.from_numpy(images.astype(np.float32) / 255.0).permute(0, 3, 1, 2)
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    x = (x - 0.5) / 0.5
    model.eval()
    with torch.no_grad():
        return model(x).numpy()


def timm_extractor(**options):
    return make_extractor(
        "timm", model=TINY_VIT, model_kwargs=dict(TINY_KWARGS), batch_size=3, **options
    )


def test_timm_weights_file_gives_the_saved_models_features(tmp_path):
    original = tiny_vit(seed=123)
    path = tmp_path / "tiny.pth"
    torch.save(original.state_dict(), path)
    images = random_images(7)
    features = timm_extractor(weights=str(path)).transform(view_of(images), RunContext(seed=0))
    expected = reference_features(original, images)
    assert features.dtype == np.float32
    assert features.shape == (7, 32)
    assert np.allclose(features, expected, atol=1e-5)
    # The weights mattered: a randomly initialised backbone gives other features.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        untrained = timm_extractor().transform(view_of(images), RunContext(seed=0))
    assert not np.allclose(untrained, expected, atol=1e-3)


def test_timm_classifier_checkpoint_in_a_wrapper(tmp_path):
    """A classification checkpoint saved by DDP inside {'model': ...} loads; the head is dropped."""
    original = tiny_vit(seed=5, num_classes=10)
    state = {"module." + k: v for k, v in original.state_dict().items()}
    path = tmp_path / "checkpoint.pth"
    torch.save({"model": state, "epoch": 3}, path)
    images = random_images(4, seed=1)
    features = timm_extractor(weights=str(path)).transform(view_of(images), RunContext())
    original.reset_classifier(0)
    assert np.allclose(features, reference_features(original, images), atol=1e-5)


def test_timm_safetensors_weights(tmp_path):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    original = tiny_vit(seed=9)
    path = tmp_path / "tiny.safetensors"
    safetensors_torch.save_file(original.state_dict(), str(path))
    images = random_images(3, seed=2)
    features = timm_extractor(weights=str(path)).transform(view_of(images), RunContext())
    assert np.allclose(features, reference_features(original, images), atol=1e-5)


def test_timm_checkpoint_with_wrong_keys_is_a_clear_error(tmp_path):
    state = {k.replace("blocks.", "layers."): v for k, v in tiny_vit(seed=1).state_dict().items()}
    path = tmp_path / "wrong.pth"
    torch.save(state, path)
    with pytest.raises(ZshbenchError) as info:
        timm_extractor(weights=str(path)).transform(view_of(random_images(1)), RunContext())
    message = info.value.one_line()
    assert "does not fit" in message
    assert "missing keys" in message and "blocks.0" in message
    assert "unexpected keys" in message and "layers.0" in message


def test_timm_checkpoint_of_another_shape_is_a_clear_error(tmp_path):
    torch.manual_seed(0)
    wider = timm.create_model(TINY_VIT, num_classes=0, **{**TINY_KWARGS, "embed_dim": 64})
    path = tmp_path / "wider.pth"
    torch.save(wider.state_dict(), path)
    with pytest.raises(ZshbenchError, match="another shape"):
        timm_extractor(weights=str(path)).transform(view_of(random_images(1)), RunContext())


def test_timm_refuses_pickled_objects(tmp_path):
    path = tmp_path / "pickled.pth"
    torch.save({"model": tiny_vit(seed=0)}, path)  # a whole module, not a state dict
    with pytest.raises(ZshbenchError, match="weights_only"):
        timm_extractor(weights=str(path)).transform(view_of(random_images(1)), RunContext())


def test_timm_missing_weights_file(tmp_path):
    with pytest.raises(ZshbenchError, match="not found"):
        timm_extractor(weights=str(tmp_path / "nope.pth")).transform(
            view_of(random_images(1)), RunContext()
        )


def test_timm_untrained_warns_and_is_seeded():
    images = random_images(3)
    with pytest.warns(UserWarning, match="untrained"):
        import plugins.features.image_extractors as module

        module._WARNED_UNTRAINED.discard(TINY_VIT)
        first = timm_extractor().transform(view_of(images), RunContext(seed=4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per model, not again
        second = timm_extractor().transform(view_of(images), RunContext(seed=4))
    assert np.array_equal(first, second)


def test_timm_resizes_and_handles_grayscale(tmp_path):
    original = tiny_vit(seed=2)
    path = tmp_path / "tiny.pth"
    torch.save(original.state_dict(), path)
    gray = random_images(2, size=32, channels=1)
    features = timm_extractor(weights=str(path)).transform(view_of(gray), RunContext())
    assert np.allclose(features, reference_features(original, gray), atol=1e-5)
    # Different sizes are resized to the model's 32×32 input.
    images = [random_images(1, size=s, seed=s)[0] for s in (20, 48)]
    view = ImageView(ListSource(images), [0, 1])
    assert timm_extractor(weights=str(path)).transform(view, RunContext()).shape == (2, 32)


def test_timm_image_size_mismatch_is_a_clear_error(tmp_path):
    with pytest.raises(ZshbenchError, match="img_size"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            timm_extractor(image_size=64).transform(view_of(random_images(1)), RunContext())


def test_timm_unknown_model_is_a_clear_error():
    with pytest.raises(ZshbenchError, match="no model"):
        make_extractor("timm", model="no_such_model_xyz").transform(
            view_of(random_images(1)), RunContext()
        )


def test_linear_method_on_timm_features(tmp_path):
    """ITQ hashes timm features end to end through the extractor options."""
    from plugins.linear.itq import ITQ
    from zshbench.method import TrainData

    original = tiny_vit(seed=3)
    path = tmp_path / "tiny.pth"
    torch.save(original.state_dict(), path)
    images = random_images(40, seed=4)
    source = ArrayImageSource(images)
    labels = np.arange(40) % 4
    data = TrainData(
        ImageView(source, np.arange(30), labels[:30]), labels[:30], list("abcd"), [],
        None, None, None, "random",
    )  # fmt: skip
    options = {"model": TINY_VIT, "model_kwargs": TINY_KWARGS, "weights": str(path)}
    method = ITQ(16, extractor="timm", extractor_options=options)
    method.fit(data, RunContext())
    codes = method.encode(ImageView(source, np.arange(30, 40)), RunContext())
    assert codes.shape == (10, 16) and codes.dtype == np.int8


def test_timm_pretrained_from_cache_never_downloads(tmp_path, monkeypatch):
    """With an empty cache the hub is not contacted: a clear error comes at once."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    flag = constants.HF_HUB_OFFLINE
    extractor = make_extractor("timm", model=TINY_VIT, pretrained_from_cache=True)
    with pytest.raises(ZshbenchError, match="not in the local cache"):
        extractor.transform(view_of(random_images(1)), RunContext())
    assert constants.HF_HUB_OFFLINE == flag  # restored afterwards


def test_timm_two_weight_sources_is_an_error(tmp_path):
    extractor = timm_extractor(weights=str(tmp_path / "w.pth"), pretrained_from_cache=True)
    with pytest.raises(ZshbenchError, match="Choose one"):
        extractor.transform(view_of(random_images(1)), RunContext())


def test_timm_crop_pct_is_timms_resize_then_centre_crop(tmp_path):
    original = tiny_vit(seed=6)
    path = tmp_path / "tiny.pth"
    torch.save(original.state_dict(), path)
    wide = random_images(2, size=64, seed=3)[:, :32, :, :]  # 32 × 64: no resize needed
    features = timm_extractor(weights=str(path), crop_pct=1.0).transform(
        view_of(np.ascontiguousarray(wide)), RunContext()
    )
    centre = np.ascontiguousarray(wide[:, :, 16:48, :])
    assert np.allclose(features, reference_features(original, centre), atol=1e-5)


@pytest.mark.parametrize(
    "content",
    [
        b"\x10\x00\x00\x00\x00\x00\x00\x00{not json" + b"\0" * 50,  # header is not JSON
        b"",  # empty
        b"\xff" * 7,  # shorter than the header length itself
        (2**40).to_bytes(8, "little") + b"{}",  # a header length far past the end
    ],
)
def test_a_corrupt_safetensors_file_is_one_line(tmp_path, content):
    """Issue 10, item 7: a SafetensorError traceback, where torch.load was already wrapped."""
    from plugins.features.timm_models import read_state_dict

    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(ZshbenchError) as caught:
        read_state_dict(path)
    line = caught.value.one_line()
    assert "bad.safetensors" in line and "safetensors file" in line and "\n" not in line
